"""Assembly of the auth application: resources as cleanup contexts, then the routes."""

from collections.abc import AsyncIterator

import aiohttp
import asyncpg
from aiohttp import web

from latchkey.auth import users
from latchkey.auth.appkeys import (
    ISSUER,
    KEYSTORE,
    LOGIN,
    NETWORK,
    PASSWORDS,
    REGISTRY,
    REVOCATIONS,
    SEALER,
    SETTINGS,
)
from latchkey.auth.issuing import Issuer
from latchkey.auth.login import Login
from latchkey.auth.passwords import Passwords
from latchkey.auth.revocations import Revocations
from latchkey.auth.routes import setup_routes
from latchkey.auth.settings import AuthSettings
from latchkey.auth.signing import KeyStore
from latchkey.auth.throttle import Throttle
from latchkey.common.admission import Admission
from latchkey.common.amqp import broker_context
from latchkey.common.app import base_app
from latchkey.common.appkeys import ADMISSION, CREDENTIALS, POOL, TOKEN_STATE, VERIFIER
from latchkey.common.db import pool_context
from latchkey.common.edge import OUTAGES
from latchkey.common.lifecycle import background
from latchkey.common.migrations import Migrations
from latchkey.common.network import TrustedProxies
from latchkey.common.registry_client import RegistryClient
from latchkey.common.sealing import Sealer
from latchkey.common.tokenstate.endpoints import setup_token_state_routes
from latchkey.common.tokenstate.runtime import token_state_context
from latchkey.common.verification import TokenVerifier

SERVICE = "auth"
MIGRATIONS = Migrations.from_package("auth", "latchkey.auth")


async def passwords_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    passwords = Passwords(
        time_cost=settings.password_time_cost,
        memory_cost=settings.password_memory_cost,
        parallelism=settings.password_parallelism,
        workers=settings.hash_processes,
        queue=settings.password_hash_queue,
        nice=settings.password_hash_nice,
    )
    try:
        await passwords.start()
        app[PASSWORDS] = passwords
        yield
    finally:
        await passwords.close()


async def first_admin_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    await users.bootstrap_admin(
        app[POOL],
        app[PASSWORDS],
        username=settings.admin_username,
        password=settings.admin_password.get_secret_value(),
        min_length=settings.password_min_length,
        portals=sorted(settings.portals),
    )
    yield


def keystore_for(pool: asyncpg.Pool, settings: AuthSettings, sealer: Sealer) -> KeyStore:
    return KeyStore(
        pool,
        sealer=sealer,
        algorithm=settings.signing_algorithm,
        publish_retired_for=settings.longest_token_lifetime,
        key_file=settings.signing_key_file,
        previous_key_files=settings.previous_signing_key_files,
    )


async def keys_ctx(app: web.Application) -> AsyncIterator[None]:
    keystore = keystore_for(app[POOL], app[SETTINGS], app[SEALER])
    await keystore.load()
    app[KEYSTORE] = keystore
    app[VERIFIER] = TokenVerifier.configured(keystore, app[SETTINGS])
    yield


async def clients_ctx(app: web.Application) -> AsyncIterator[None]:
    """The registry client, what is owed to it, the issuer and login."""
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        registry = RegistryClient(settings.registry_url, app[CREDENTIALS], session)
        app[REGISTRY] = registry
        revocations = Revocations(app[POOL], registry, app[OUTAGES].of("database"))
        app[REVOCATIONS] = revocations
        issuer = Issuer(
            keys=app[KEYSTORE],
            registry=registry,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            session_lifetime=settings.session_token_lifetime,
            access_lifetime=settings.access_token_lifetime,
            access_max_lifetime=settings.access_token_max_lifetime,
        )
        app[ISSUER] = issuer
        app[LOGIN] = Login(
            pool=app[POOL],
            passwords=app[PASSWORDS],
            throttle=Throttle(
                user_threshold=settings.lockout_user_threshold,
                address_threshold=settings.lockout_address_threshold,
                base_seconds=settings.lockout_base_seconds,
                max_seconds=settings.lockout_max_seconds,
                window_seconds=settings.lockout_window_seconds,
            ),
            issuer=issuer,
            revocations=revocations,
            platforms=frozenset(settings.login_platforms),
        )
        async with background(revocations.run(), name="pending-revocations"):
            yield


async def admission_ctx(app: web.Application) -> AsyncIterator[None]:
    app[ADMISSION] = Admission(app[VERIFIER], app[TOKEN_STATE])
    yield


def create_app(settings: AuthSettings) -> web.Application:
    # Ready with its database and a token state that can decide (live, or asking the
    # registry); the broker is reported beside: its outage shows in the token state.
    app = base_app(settings, title="Latchkey auth", ready_when=("database", "token_state"))
    app[SETTINGS] = settings
    app[NETWORK] = TrustedProxies(settings.trusted_proxies)
    app[SEALER] = Sealer(settings.key_encryption_key)  # refuses at once without a key
    app.cleanup_ctx.extend(
        [
            pool_context(settings, startup_timeout=settings.startup_timeout, migrations=MIGRATIONS),
            passwords_ctx,
            first_admin_ctx,
            keys_ctx,
            clients_ctx,
            broker_context(settings, name=SERVICE),
            token_state_context(settings, service=SERVICE, source=lambda a: a[REGISTRY]),
            admission_ctx,
        ]
    )
    setup_routes(app)
    setup_token_state_routes(app)
    return app
