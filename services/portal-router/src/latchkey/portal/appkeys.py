"""Every typed key the router stores on its application (the shared ones are in
`latchkey.common.appkeys`)."""

from aiohttp import web

from latchkey.common.auth_client import AuthClient
from latchkey.common.network import TrustedProxies
from latchkey.common.portals import PortalOrigins
from latchkey.common.registry_client import RegistryClient
from latchkey.portal.connections import LiveConnections
from latchkey.portal.gatekeeper import Gatekeeper, IdentityHeaders
from latchkey.portal.proxy import Proxy, RouteTable
from latchkey.portal.responses import Answers
from latchkey.portal.sessions import SessionCodec
from latchkey.portal.settings import RouterSettings
from latchkey.portal.signin import SignIn

SETTINGS = web.AppKey("settings", RouterSettings)
NETWORK = web.AppKey("trusted_proxies", TrustedProxies)
GATEKEEPER = web.AppKey("gatekeeper", Gatekeeper)
REGISTRY = web.AppKey("registry_client", RegistryClient)
PROXY = web.AppKey("proxy", Proxy)
CONNECTIONS = web.AppKey("connections", LiveConnections)
SIGN_IN = web.AppKey("sign_in", SignIn)
ANSWERS = web.AppKey("answers", Answers)
IDENTITY_HEADERS = web.AppKey("identity_headers", IdentityHeaders)
ROUTES = web.AppKey("routes", RouteTable)
AUTH = web.AppKey("auth_client", AuthClient)
CODEC = web.AppKey("session_codec", SessionCodec)
ORIGINS = web.AppKey("portal_origins", PortalOrigins)
