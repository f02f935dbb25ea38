"""Every typed key the registry stores on its application."""

import asyncpg
from aiohttp import web

from latchkey.common.amqp import Broker
from latchkey.common.auth_client import AuthClient
from latchkey.common.gate import Authenticator
from latchkey.common.tokens import TokenVerifier
from latchkey.common.tokenstate.runtime import TokenState
from latchkey.registry.console.csrf import CsrfGuard
from latchkey.registry.relay import OutboxRelay
from latchkey.registry.settings import RegistrySettings

SETTINGS = web.AppKey("settings", RegistrySettings)
POOL = web.AppKey("pool", asyncpg.Pool)
BROKER = web.AppKey("broker", Broker)
VERIFIER = web.AppKey("verifier", TokenVerifier)
RELAY = web.AppKey("relay", OutboxRelay)
AUTH = web.AppKey("auth_client", AuthClient)
TOKEN_STATE = web.AppKey("token_state", TokenState)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
CSRF = web.AppKey("csrf", CsrfGuard)
