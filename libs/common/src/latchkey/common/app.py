"""What every service's `create_app` starts from: the edge, health, metrics, OpenAPI."""

from collections.abc import Collection, Sequence

from aiohttp import web

from latchkey.common.credentials import ServiceCredentials
from latchkey.common.edge import Wrapper, setup_edge
from latchkey.common.guard import CREDENTIALS
from latchkey.common.health import setup_health
from latchkey.common.metrics import METRICS, Metrics
from latchkey.common.openapi import ENDPOINTS, setup_openapi
from latchkey.common.settings import CommonSettings

MAX_BODY_BYTES = 64 * 1024
"""API bodies are small JSON objects; anything bigger is refused with 413 before parsing."""


def base_app(
    settings: CommonSettings,
    *,
    title: str,
    version: str = "1.0.0",
    wrappers: Sequence[Wrapper] = (),
    ready_when: Collection[str] = (),
) -> web.Application:
    """An app with the error envelope, metrics, health routes, `/openapi.json` and the
    service credentials its endpoints check. Routes are added with
    `latchkey.common.edge.add_route` (or `add_endpoints`); `wrappers` go around every
    handler, inside the edge (their errors get the envelope). `ready_when` names the
    readiness checks that decide `/readyz` (none: all of them); the others are reported."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[CREDENTIALS] = ServiceCredentials(settings.SERVICE, settings.credentials())
    app[METRICS] = Metrics()
    app[ENDPOINTS] = []
    setup_edge(app, wrappers)
    setup_health(app, ready_when=ready_when)
    setup_openapi(app, title=title, version=version)
    return app
