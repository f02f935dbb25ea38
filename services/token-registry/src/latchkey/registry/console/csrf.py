"""CSRF protection for every state change: a token bound to the admin's own access token
(HMAC of its jti, keyed by the registry's credential, so every registry instance agrees),
checked on each form; the request must come from our origin and from a console page.

Where the console shares its origin with other pages, those pages could post the form with
the admin's cookie: only the console's own pages name a console URL as their Referer (they
send it: Referrer-Policy same-origin), fetch metadata refuses what is not a top-level form
submission (`metadata.py`), and the most powerful changes ask for the password (`confirm.py`)."""

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit
from uuid import UUID

from aiohttp import web
from pydantic import SecretStr

from latchkey.common import errors
from latchkey.common.domains import origin_host_port
from latchkey.common.web import sent_by_own_page
from latchkey.registry.console.render import browser_origin, prefix_of


class CsrfFailed(errors.Forbidden):
    reason = "csrf_failed"
    message = "This form has expired or was not sent from the console; reload and try again."


class CsrfGuard:
    def __init__(self, secret: SecretStr) -> None:
        material = secret.get_secret_value() or secrets.token_urlsafe(32)
        self._key = hashlib.sha256(b"latchkey console csrf\0" + material.encode()).digest()

    def token_for(self, jti: UUID) -> str:
        digest = hmac.new(self._key, jti.bytes, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def check(self, request: web.BaseRequest, jti: UUID, submitted: str) -> None:
        if not hmac.compare_digest(submitted.encode(), self.token_for(jti).encode()):
            raise CsrfFailed()
        scheme, host = browser_origin(request)
        own = origin_host_port(f"{scheme}://{host}")
        if not sent_by_own_page(request, own) or not _from_console_page(request, own):
            raise CsrfFailed()


def _from_console_page(request: web.BaseRequest, own: tuple[str, int] | None) -> bool:
    referer = request.headers.get("Referer", "")
    if own is None or origin_host_port(referer) != own:
        return False
    path, prefix = urlsplit(referer).path, prefix_of(request)
    return path == prefix or path.startswith(prefix + "/")
