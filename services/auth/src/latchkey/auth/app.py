"""Assembly of the auth application: resources as cleanup contexts, then the routes."""

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from latchkey.auth import users
from latchkey.auth.issuing import Issuer
from latchkey.auth.keys import (
    AUTHENTICATOR,
    BROKER,
    HTTP,
    ISSUER,
    KEYSTORE,
    LOGIN,
    PASSWORDS,
    POOL,
    REGISTRY,
    SETTINGS,
    TOKEN_STATE,
    VERIFIER,
)
from latchkey.auth.login import Login
from latchkey.auth.passwords import Passwords
from latchkey.auth.routes import setup_routes
from latchkey.auth.settings import AuthSettings
from latchkey.auth.signing import KeyStore
from latchkey.auth.throttle import Throttle
from latchkey.common.amqp import broker_context
from latchkey.common.app import base_app
from latchkey.common.db import pool_context
from latchkey.common.gate import Authenticator
from latchkey.common.migrations import Migrations
from latchkey.common.registry_client import RegistryClient
from latchkey.common.tokens import TokenVerifier
from latchkey.common.tokenstate.runtime import setup_token_state_routes, token_state_context

SERVICE = "auth"
MIGRATIONS = Migrations.from_package("auth", "latchkey.auth")


async def passwords_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    passwords = Passwords(
        time_cost=settings.password_time_cost,
        memory_cost=settings.password_memory_cost,
        parallelism=settings.password_parallelism,
        workers=settings.password_hash_workers,
        queue=settings.password_hash_queue,
    )
    app[PASSWORDS] = passwords
    try:
        yield
    finally:
        passwords.close()


async def first_admin_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    await users.bootstrap_admin(
        app[POOL],
        app[PASSWORDS],
        username=settings.admin_username,
        password=settings.admin_password.get_secret_value(),
        min_length=settings.password_min_length,
    )
    yield


async def keys_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    keystore = KeyStore(
        app[POOL],
        algorithm=settings.signing_algorithm,
        publish_retired_for=settings.longest_token_lifetime,
        key_file=settings.signing_key_file,
        previous_key_files=settings.previous_signing_key_files,
    )
    await keystore.load()
    app[KEYSTORE] = keystore
    yield


async def clients_ctx(app: web.Application) -> AsyncIterator[None]:
    """The registry client, the issuer, login and the authenticator of incoming tokens."""
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        registry = RegistryClient(settings.registry_url, settings.internal_token, session)
        app[REGISTRY] = registry
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
            platforms=frozenset(settings.login_platforms),
        )
        app[VERIFIER] = TokenVerifier.configured(app[KEYSTORE], settings)
        yield


async def authenticator_ctx(app: web.Application) -> AsyncIterator[None]:
    app[AUTHENTICATOR] = Authenticator(app[VERIFIER], app[TOKEN_STATE])
    yield


def create_app(settings: AuthSettings) -> web.Application:
    app = base_app(service=SERVICE, title="Latchkey auth")
    app[SETTINGS] = settings
    app.cleanup_ctx.extend(
        [
            pool_context(settings, POOL, migrations=MIGRATIONS),
            passwords_ctx,
            first_admin_ctx,
            keys_ctx,
            clients_ctx,
            broker_context(settings, BROKER, name=SERVICE),
            token_state_context(
                settings, TOKEN_STATE, service=SERVICE, broker=BROKER, source=lambda a: a[REGISTRY]
            ),
            authenticator_ctx,
        ]
    )
    setup_routes(app)
    setup_token_state_routes(app, TOKEN_STATE, AUTHENTICATOR)
    return app
