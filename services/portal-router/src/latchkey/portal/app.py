"""Assembly of the router application: resources as cleanup contexts, then the routes."""

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from latchkey.common.amqp import broker_context
from latchkey.common.app import base_app
from latchkey.common.gate import Authenticator
from latchkey.common.registry_client import RegistryClient
from latchkey.common.tokens import verifier_context
from latchkey.common.tokenstate.runtime import setup_token_state_routes, token_state_context
from latchkey.portal.connections import LiveConnections
from latchkey.portal.entry import Entry
from latchkey.portal.forwarded import trust_forwarded
from latchkey.portal.gatekeeper import Gatekeeper
from latchkey.portal.keys import (
    AUTHENTICATOR,
    BROKER,
    CONNECTIONS,
    ENTRY,
    GATEKEEPER,
    HTTP,
    PROXY,
    REGISTRY,
    ROUTES,
    SETTINGS,
    TOKEN_STATE,
    UPSTREAM_HTTP,
    VERIFIER,
)
from latchkey.portal.proxy import Proxy, RouteTable
from latchkey.portal.routes import setup_routes
from latchkey.portal.sessions import SessionCodec
from latchkey.portal.settings import RouterSettings

SERVICE = "portal-router"

UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5, sock_connect=5, sock_read=300)


async def clients_ctx(app: web.Application) -> AsyncIterator[None]:
    """One client for calls to auth and the registry, one for upstreams (no cookie jar: the
    router must never mix users' cookies; bodies pass through still compressed)."""
    settings = app[SETTINGS]
    async with (
        aiohttp.ClientSession() as services,
        aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=UPSTREAM_TIMEOUT,
        ) as upstreams,
    ):
        app[HTTP] = services
        app[REGISTRY] = RegistryClient(settings.registry_url, settings.internal_token, services)
        app[CONNECTIONS] = LiveConnections()
        app[UPSTREAM_HTTP] = upstreams
        yield


async def gatekeeper_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    state = app[TOKEN_STATE]
    app[CONNECTIONS].follow(state.view)
    gatekeeper = Gatekeeper(
        codec=SessionCodec(settings.session_keys, cache_size=settings.token_cache_size),
        verifier=app[VERIFIER],
        state=state,
    )
    app[GATEKEEPER] = gatekeeper
    app[PROXY] = Proxy(app[UPSTREAM_HTTP], app[CONNECTIONS], gatekeeper.identity_headers)
    app[AUTHENTICATOR] = Authenticator(app[VERIFIER], state)
    app[ENTRY] = Entry(
        settings=settings, gatekeeper=gatekeeper, registry=app[REGISTRY], http=app[HTTP]
    )
    yield


def create_app(settings: RouterSettings) -> web.Application:
    # Behind a trusted proxy only: every wrapper is paid by every forward-auth request.
    wrappers = [trust_forwarded(settings.trusted_proxies)] if settings.trusted_proxies else []
    app = base_app(service=SERVICE, title="Latchkey portal router", wrappers=wrappers)
    app[SETTINGS] = settings
    app[ROUTES] = RouteTable(settings.all_routes())
    app.cleanup_ctx.extend(
        [
            clients_ctx,
            verifier_context(settings, VERIFIER),
            broker_context(settings, BROKER, name=SERVICE),
            token_state_context(
                settings, TOKEN_STATE, service=SERVICE, broker=BROKER, source=lambda a: a[REGISTRY]
            ),
            gatekeeper_ctx,
        ]
    )
    setup_routes(app, settings)
    setup_token_state_routes(app, TOKEN_STATE, AUTHENTICATOR)
    return app
