"""Reading credentials off a request: bearer tokens (RFC 6750 §2.1) and the service credential."""

import hmac

from aiohttp import web
from pydantic import SecretStr

from latchkey.common import errors

INTERNAL_HEADER = "Authorization"


def bearer_token(request: web.Request) -> str:
    """The token of `Authorization: Bearer <token>`; 401 when absent or malformed."""
    header = request.headers.get("Authorization")
    if not header:
        raise errors.TokenMissing()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise errors.TokenInvalid("The Authorization header must be `Bearer <token>`.")
    return token


def require_service_credential(request: web.Request, expected: SecretStr) -> None:
    """Check the service credential in constant time; an unset credential opens nothing."""
    secret = expected.get_secret_value()
    header = request.headers.get(INTERNAL_HEADER, "")
    scheme, _, given = header.partition(" ")
    valid = scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), secret.encode()
    )
    if not secret or not valid:
        raise errors.InvalidServiceCredential()


def service_headers(credential: SecretStr) -> dict[str, str]:
    """Headers that present the service credential to another service."""
    return {INTERNAL_HEADER: f"Bearer {credential.get_secret_value()}"}
