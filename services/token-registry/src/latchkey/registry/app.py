"""Assembly of the registry application: resources as cleanup contexts, then the routes."""

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from latchkey.common.amqp import broker_context
from latchkey.common.app import background, base_app
from latchkey.common.auth_client import AuthClient
from latchkey.common.db import pool_context
from latchkey.common.gate import Authenticator
from latchkey.common.migrations import Migrations
from latchkey.common.tokens import verifier_context
from latchkey.common.tokenstate.runtime import setup_token_state_routes, token_state_context
from latchkey.registry.console import setup_console
from latchkey.registry.console.csrf import CsrfGuard
from latchkey.registry.keys import (
    AUTH,
    AUTHENTICATOR,
    BROKER,
    CSRF,
    POOL,
    RELAY,
    SETTINGS,
    TOKEN_STATE,
    VERIFIER,
)
from latchkey.registry.local_source import LocalStateSource
from latchkey.registry.relay import OutboxRelay
from latchkey.registry.routes import setup_routes
from latchkey.registry.settings import RegistrySettings

SERVICE = "token-registry"
MIGRATIONS = Migrations.from_package("registry", "latchkey.registry")


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    relay = OutboxRelay(settings=app[SETTINGS], broker=app[BROKER])
    app[RELAY] = relay
    async with background(relay.run(), name="outbox-relay"):
        yield


async def auth_client_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        app[AUTH] = AuthClient(settings.auth_url, settings.internal_token, session)
        yield


def local_source(app: web.Application) -> LocalStateSource:
    return LocalStateSource(app[POOL], app[VERIFIER])


async def authenticator_ctx(app: web.Application) -> AsyncIterator[None]:
    """Tokens checked against this instance's view (the admin API checks the database)."""
    app[AUTHENTICATOR] = Authenticator(app[VERIFIER], app[TOKEN_STATE])
    yield


def create_app(settings: RegistrySettings) -> web.Application:
    app = base_app(service=SERVICE, title="Latchkey token registry")
    app[SETTINGS] = settings
    app[CSRF] = CsrfGuard(settings.internal_token)
    app.cleanup_ctx.extend(
        [
            pool_context(settings, POOL, migrations=MIGRATIONS),
            verifier_context(settings, VERIFIER),
            auth_client_ctx,
            broker_context(settings, BROKER, name=SERVICE),
            relay_ctx,
            token_state_context(
                settings, TOKEN_STATE, service=SERVICE, broker=BROKER, source=local_source
            ),
            authenticator_ctx,
        ]
    )
    setup_routes(app)
    setup_console(app)
    setup_token_state_routes(app, TOKEN_STATE, AUTHENTICATOR)
    return app
