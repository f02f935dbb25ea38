"""Reading credentials off a request: bearer tokens (RFC 6750 §2.1) and service credentials.

Each service has a credential of its own (`LATCHKEY_AUTH_CREDENTIAL`, ...). It presents its own
when it calls another service, and recognises a caller by the credential it presents: a
service holds only its own and those of the services allowed to call it, so the router, which
faces the internet, holds nothing that would let it call what only the registry may.
"""

import hmac
import re

from aiohttp import web
from pydantic import SecretStr

from latchkey.common import errors

AUTHORIZATION = "Authorization"
_BEARER = re.compile(r"Bearer ([A-Za-z0-9._~+/-]+=*)")
"""RFC 6750 §2.1 `b64token`, after exactly one space, with nothing before or after it."""


class ServiceNotAllowed(errors.Forbidden):
    reason = "service_not_allowed"
    message = "This service may not call this endpoint."


def bearer_token(request: web.BaseRequest) -> str:
    """The token of `Authorization: Bearer <token>`, taken exactly as RFC 6750 writes it
    (the scheme's case aside); 401 when absent or malformed."""
    return bearer_of(request.headers.get(AUTHORIZATION))


def bearer_of(header: str | None) -> str:
    """The token of an Authorization header's value (see `bearer_token`)."""
    if not header:
        raise errors.TokenMissing()
    match = _BEARER.fullmatch("Bearer " + header[7:]) if header[:7].lower() == "bearer " else None
    if match is None:
        raise errors.TokenInvalid("The Authorization header must be `Bearer <token>`.")
    return match[1]


class ServiceCredentials:
    """The credentials one service holds: its own, and its callers' (to recognise them)."""

    def __init__(self, own: str, known: dict[str, SecretStr]) -> None:
        self.own = own
        self._known = {
            name: secret.get_secret_value().encode()
            for name, secret in known.items()
            if secret.get_secret_value()
        }
        if len(set(self._known.values())) != len(self._known):
            raise ValueError(
                "two services are given the same credential: each needs one of its own ("
                "LATCHKEY_AUTH_CREDENTIAL, LATCHKEY_REGISTRY_CREDENTIAL, "
                "LATCHKEY_ROUTER_CREDENTIAL)"
            )

    def holds(self, service: str) -> bool:
        """Whether this service can recognise `service` (holds its credential)."""
        return service in self._known

    def headers(self) -> dict[str, str]:
        """What this service presents when it calls another (nothing, when unset)."""
        secret = self._known.get(self.own)
        return {AUTHORIZATION: f"Bearer {secret.decode()}"} if secret else {}

    def caller(self, request: web.BaseRequest) -> str | None:
        """The service whose credential the request presents; None for anyone else. Every
        known credential is compared, in constant time, so the answer's timing says nothing."""
        header = request.headers.get(AUTHORIZATION, "")
        given = header[7:].encode() if header[:7].lower() == "bearer " else b""
        found = None
        for name, secret in self._known.items():
            if hmac.compare_digest(given, secret) and given:
                found = name
        return found

    def require(self, request: web.BaseRequest, allowed: tuple[str, ...]) -> str:
        """The calling service, which must be one of `allowed`: 401 without a credential we
        know, 403 for a service that may not call here."""
        caller = self.caller(request)
        if caller is None:
            raise errors.InvalidServiceCredential()
        if caller not in allowed:
            raise ServiceNotAllowed()
        return caller
