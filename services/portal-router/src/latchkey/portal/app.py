"""Assembly of the router application: resources as cleanup contexts, then the routes."""

import functools
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from latchkey.common.admission import Admission
from latchkey.common.amqp import broker_context
from latchkey.common.app import base_app
from latchkey.common.appkeys import CREDENTIALS, TOKEN_STATE, VERIFIER
from latchkey.common.auth_client import AuthClient
from latchkey.common.edge import Handler, Wrapper
from latchkey.common.network import TrustedProxies
from latchkey.common.portals import PortalOrigins
from latchkey.common.registry_client import RegistryClient
from latchkey.common.tokenstate.endpoints import setup_token_state_routes
from latchkey.common.tokenstate.runtime import token_state_context
from latchkey.common.verification import verifier_context
from latchkey.portal.appkeys import (
    ANSWERS,
    AUTH,
    CODEC,
    CONNECTIONS,
    GATEKEEPER,
    IDENTITY_HEADERS,
    NETWORK,
    ORIGINS,
    PROXY,
    REGISTRY,
    ROUTES,
    SETTINGS,
    SIGN_IN,
)
from latchkey.portal.connections import LiveConnections
from latchkey.portal.gatekeeper import Gatekeeper, IdentityHeaders
from latchkey.portal.proxy import Proxy, RouteTable
from latchkey.portal.responses import Answers
from latchkey.portal.routes import setup_routes
from latchkey.portal.sessions import SessionCodec
from latchkey.portal.settings import RouterSettings
from latchkey.portal.signin import SignIn

SERVICE = "portal-router"


async def clients_ctx(app: web.Application) -> AsyncIterator[None]:
    """One client for calls to auth and the registry, one for upstreams (no cookie jar: the
    router must never mix users' cookies; bodies pass through still compressed)."""
    settings = app[SETTINGS]
    async with (
        aiohttp.ClientSession() as services,
        aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=settings.upstream_timeouts(),
        ) as upstreams,
    ):
        app[REGISTRY] = RegistryClient(settings.registry_url, app[CREDENTIALS], services)
        app[CONNECTIONS] = LiveConnections()
        app[PROXY] = Proxy(upstreams, app[CONNECTIONS], app[IDENTITY_HEADERS])
        app[AUTH] = AuthClient(settings.auth_url, app[CREDENTIALS], services)
        yield


async def gatekeeper_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    state = app[TOKEN_STATE]
    app[CONNECTIONS].follow(state.view)
    codec = app[CODEC]
    gatekeeper = Gatekeeper(codec=codec, admission=Admission(app[VERIFIER], state), state=state)
    app[GATEKEEPER] = gatekeeper
    app[ANSWERS] = Answers(settings, codec)
    app[SIGN_IN] = SignIn(
        settings=settings, gatekeeper=gatekeeper, registry=app[REGISTRY], auth=app[AUTH]
    )
    yield


def as_browser_saw_it(proxies: TrustedProxies) -> Wrapper:
    """A wrapper for every handler that takes the scheme and host from trusted proxies."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            return await handler(proxies.as_browser_saw_it(request))

        return wrapped

    return wrap


def create_app(settings: RouterSettings) -> web.Application:
    proxies = TrustedProxies(settings.trusted_proxies)
    # Behind a trusted proxy only: every wrapper is paid by every forward-auth request.
    wrappers = [as_browser_saw_it(proxies)] if proxies else []
    # Ready while its token state can decide (live, or asking the registry); the broker is
    # reported beside: its outage shows in the token state.
    app = base_app(
        settings,
        title="Latchkey portal router",
        wrappers=wrappers,
        ready_when=("token_state",),
    )
    app[SETTINGS] = settings
    app[NETWORK] = proxies
    app[ROUTES] = RouteTable(settings.all_routes())
    app[ORIGINS] = PortalOrigins(settings)
    app[IDENTITY_HEADERS] = IdentityHeaders()
    # Made before anything starts: a missing or malformed session key stops the start here.
    app[CODEC] = SessionCodec(settings.session_keys, cache_size=settings.token_cache_size)
    app.cleanup_ctx.extend(
        [
            clients_ctx,
            verifier_context(settings, settings.auth_url),
            broker_context(settings, name=SERVICE),
            token_state_context(settings, service=SERVICE, source=lambda a: a[REGISTRY]),
            gatekeeper_ctx,
        ]
    )
    setup_routes(app, settings)
    setup_token_state_routes(app)
    return app
