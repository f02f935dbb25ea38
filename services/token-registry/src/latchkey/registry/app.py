"""Assembly of the registry application: resources as cleanup contexts, then the routes."""

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from latchkey.common.admission import Admission
from latchkey.common.amqp import broker_context
from latchkey.common.app import base_app
from latchkey.common.appkeys import ADMISSION, BROKER, CREDENTIALS, POOL, VERIFIER
from latchkey.common.auth_client import AuthClient
from latchkey.common.db import pool_context
from latchkey.common.edge import OUTAGES
from latchkey.common.lifecycle import background
from latchkey.common.migrations import Migrations
from latchkey.common.sealing import Sealer
from latchkey.common.tokenstate.endpoints import setup_token_state_routes
from latchkey.common.tokenstate.runtime import token_state_context
from latchkey.common.verification import verifier_context
from latchkey.registry.appkeys import (
    AUTH,
    CSRF,
    EVENT_KEYS,
    EVENT_SIGNER,
    RECORDS_DIGEST,
    RELAY,
    SEALER,
    SETTINGS,
)
from latchkey.registry.console.csrf import CsrfGuard
from latchkey.registry.console.routes import setup_console
from latchkey.registry.event_keys import load_signer
from latchkey.registry.local_source import LocalStateSource
from latchkey.registry.relay import OutboxRelay
from latchkey.registry.relay_health import report_relay_health
from latchkey.registry.routes import setup_routes
from latchkey.registry.settings import RegistrySettings
from latchkey.registry.state import RecordFacts, RecordsDigest

SERVICE = "token-registry"
MIGRATIONS = Migrations.from_package("registry", "latchkey.registry")


async def event_keys_ctx(app: web.Application) -> AsyncIterator[None]:
    signer, published = await load_signer(app[POOL], app[SEALER])
    app[EVENT_SIGNER] = signer
    app[EVENT_KEYS] = published
    yield


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    relay = OutboxRelay(
        settings=app[SETTINGS],
        broker=app[BROKER],
        signer=app[EVENT_SIGNER],
        outage=app[OUTAGES].of("database"),
    )
    app[RELAY] = relay
    settings = app[SETTINGS]
    # A heartbeat goes out every heartbeat_interval: a few missed, or the staleness bound
    # passed, and the relay is not doing its part.
    bound = max(3 * settings.heartbeat_interval, settings.max_staleness)
    report_relay_health(app, relay, publish_bound=bound)
    async with background(relay.run(), name="outbox-relay"):
        yield


async def auth_client_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        app[AUTH] = AuthClient(settings.auth_url, app[CREDENTIALS], session)
        yield


def local_source(app: web.Application) -> LocalStateSource:
    return LocalStateSource(
        app[POOL], app[VERIFIER], app[EVENT_KEYS], app[RECORDS_DIGEST], app[OUTAGES].of("database")
    )


async def admission_ctx(app: web.Application) -> AsyncIterator[None]:
    """The admin API admits tokens on the registry's own records (the authority)."""
    app[ADMISSION] = Admission(app[VERIFIER], RecordFacts(app[POOL]))
    yield


def create_app(settings: RegistrySettings) -> web.Application:
    # Ready with its database: it serves introspection and the admin API whether or not it
    # relays (its relay, broker and own token state are reported beside, in /readyz).
    app = base_app(settings, title="Latchkey token registry", ready_when=("database",))
    app[SETTINGS] = settings
    app[SEALER] = Sealer(settings.key_encryption_key)  # refuses at once without a key
    app[CSRF] = CsrfGuard(settings.registry_credential)
    app[RECORDS_DIGEST] = RecordsDigest()
    app.cleanup_ctx.extend(
        [
            pool_context(settings, startup_timeout=settings.startup_timeout, migrations=MIGRATIONS),
            event_keys_ctx,
            verifier_context(settings, settings.auth_url),
            auth_client_ctx,
            broker_context(settings, name=SERVICE),
            relay_ctx,
            token_state_context(settings, service=SERVICE, source=local_source, owns_exchange=True),
            admission_ctx,
        ]
    )
    setup_routes(app)
    setup_console(app)
    setup_token_state_routes(app)
    return app
