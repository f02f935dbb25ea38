"""What every service's `create_app` starts from: the edge, health, metrics, OpenAPI."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from aiohttp import web

from latchkey.common.edge import Wrapper, setup_edge
from latchkey.common.health import setup_health
from latchkey.common.metrics import METRICS, Metrics
from latchkey.common.openapi import ENDPOINTS, setup_openapi

MAX_BODY_BYTES = 64 * 1024
"""API bodies are small JSON objects; anything bigger is refused with 413 before parsing."""

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def base_app(
    *,
    service: str,
    title: str,
    version: str = "1.0.0",
    wrappers: Sequence[Wrapper] = (),
) -> web.Application:
    """An app with the error envelope, metrics, health routes and `/openapi.json`. Routes
    are added with `latchkey.common.edge.add_route` (or `add_endpoints`); `wrappers` go
    around every handler, inside the edge (their errors get the envelope)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[METRICS] = Metrics()
    app[ENDPOINTS] = []
    setup_edge(app, wrappers)
    setup_health(app)
    setup_openapi(app, title=title, version=version)
    return app


@contextlib.asynccontextmanager
async def background(coroutine: Coroutine[Any, Any, None], *, name: str) -> AsyncIterator[None]:
    """Run `coroutine` as a task for the duration of the block; cancel and await it on exit."""
    task = asyncio.create_task(coroutine, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` at most `timeout` seconds; True if it was set.

    Not `asyncio.wait_for`: on Python 3.11 it can swallow a cancellation that arrives as the
    event fires, and a loop built on it then never stops.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
