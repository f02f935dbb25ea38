"""Every typed key the router stores on its application."""

import aiohttp
from aiohttp import web

from latchkey.common.amqp import Broker
from latchkey.common.gate import Authenticator
from latchkey.common.registry_client import RegistryClient
from latchkey.common.tokens import TokenVerifier
from latchkey.common.tokenstate.runtime import TokenState
from latchkey.portal.connections import LiveConnections
from latchkey.portal.entry import Entry
from latchkey.portal.gatekeeper import Gatekeeper
from latchkey.portal.proxy import Proxy, RouteTable
from latchkey.portal.settings import RouterSettings

SETTINGS = web.AppKey("settings", RouterSettings)
BROKER = web.AppKey("broker", Broker)
VERIFIER = web.AppKey("verifier", TokenVerifier)
TOKEN_STATE = web.AppKey("token_state", TokenState)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
GATEKEEPER = web.AppKey("gatekeeper", Gatekeeper)
REGISTRY = web.AppKey("registry_client", RegistryClient)
HTTP = web.AppKey("http_client", aiohttp.ClientSession)
UPSTREAM_HTTP = web.AppKey("upstream_client", aiohttp.ClientSession)
PROXY = web.AppKey("proxy", Proxy)
CONNECTIONS = web.AppKey("connections", LiveConnections)
ENTRY = web.AppKey("entry", Entry)
ROUTES = web.AppKey("routes", RouteTable)
