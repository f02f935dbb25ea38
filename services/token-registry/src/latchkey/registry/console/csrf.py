"""CSRF protection for every state change: a token bound to the admin's own access token
(HMAC of its jti), checked on each form, plus a same-origin check when the browser says where
the request came from. Stateless, so every registry instance agrees."""

import base64
import hashlib
import hmac
import secrets
from uuid import UUID

from aiohttp import web
from pydantic import SecretStr

from latchkey.common import errors
from latchkey.common.domains import origin_host_port
from latchkey.common.web import sent_by_own_page


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
        if not sent_by_own_page(request, _own(request)):
            raise CsrfFailed()


def _own(request: web.BaseRequest) -> tuple[str, int] | None:
    proto = request.headers.get("X-Forwarded-Proto", request.scheme)
    host = request.headers.get("X-Forwarded-Host", request.host)
    return origin_host_port(f"{proto}://{host}")
