"""Every typed key the registry stores on its application (the shared ones are in
`latchkey.common.appkeys`)."""

from aiohttp import web

from latchkey.common.auth_client import AuthClient
from latchkey.common.contracts import EventKeys
from latchkey.common.event_signing import EventSigner
from latchkey.common.sealing import Sealer
from latchkey.registry.console.csrf import CsrfGuard
from latchkey.registry.relay import OutboxRelay
from latchkey.registry.settings import RegistrySettings
from latchkey.registry.state import RecordsDigest

SETTINGS = web.AppKey("settings", RegistrySettings)
RELAY = web.AppKey("relay", OutboxRelay)
AUTH = web.AppKey("auth_client", AuthClient)
CSRF = web.AppKey("csrf", CsrfGuard)
EVENT_SIGNER = web.AppKey("event_signer", EventSigner)
EVENT_KEYS = web.AppKey("event_keys", EventKeys)
RECORDS_DIGEST = web.AppKey("records_digest", RecordsDigest)
SEALER = web.AppKey("sealer", Sealer)
