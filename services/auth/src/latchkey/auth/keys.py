"""Every typed key the auth service stores on its application."""

import aiohttp
import asyncpg
from aiohttp import web

from latchkey.auth.issuing import Issuer
from latchkey.auth.login import Login
from latchkey.auth.passwords import Passwords
from latchkey.auth.settings import AuthSettings
from latchkey.auth.signing import KeyStore
from latchkey.common.amqp import Broker
from latchkey.common.gate import Authenticator
from latchkey.common.registry_client import RegistryClient
from latchkey.common.tokens import TokenVerifier
from latchkey.common.tokenstate.runtime import TokenState

SETTINGS = web.AppKey("settings", AuthSettings)
POOL = web.AppKey("pool", asyncpg.Pool)
HTTP = web.AppKey("http_client", aiohttp.ClientSession)
PASSWORDS = web.AppKey("passwords", Passwords)
KEYSTORE = web.AppKey("keystore", KeyStore)
REGISTRY = web.AppKey("registry_client", RegistryClient)
ISSUER = web.AppKey("issuer", Issuer)
LOGIN = web.AppKey("login", Login)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
BROKER = web.AppKey("broker", Broker)
VERIFIER = web.AppKey("verifier", TokenVerifier)
TOKEN_STATE = web.AppKey("token_state", TokenState)
