"""Every typed key the auth service stores on its application (the shared ones are in
`latchkey.common.appkeys`)."""

from aiohttp import web

from latchkey.auth.issuing import Issuer
from latchkey.auth.login import Login
from latchkey.auth.passwords import Passwords
from latchkey.auth.revocations import Revocations
from latchkey.auth.settings import AuthSettings
from latchkey.auth.signing import KeyStore
from latchkey.common.network import TrustedProxies
from latchkey.common.registry_client import RegistryClient
from latchkey.common.sealing import Sealer

SETTINGS = web.AppKey("settings", AuthSettings)
PASSWORDS = web.AppKey("passwords", Passwords)
KEYSTORE = web.AppKey("keystore", KeyStore)
REGISTRY = web.AppKey("registry_client", RegistryClient)
ISSUER = web.AppKey("issuer", Issuer)
LOGIN = web.AppKey("login", Login)
REVOCATIONS = web.AppKey("revocations", Revocations)
NETWORK = web.AppKey("trusted_proxies", TrustedProxies)
SEALER = web.AppKey("sealer", Sealer)
