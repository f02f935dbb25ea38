"""The error tree: each class carries its wire contract (HTTP status, stable reason, message).

Raise these anywhere; `latchkey.common.edge`, around every handler, renders each of them as the
envelope `{"message", "code", "reason", "data"}` with `code` equal to the HTTP status.

| status | reason | class |
|---|---|---|
| 400 | bad_request, malformed_json | BadRequest, MalformedJson |
| 401 | unauthorized, token_missing, token_invalid, token_expired, | Unauthorized |
|     | token_revoked, token_disabled, invalid_credentials, | and subclasses |
|     | invalid_service_credential | |
| 403 | forbidden, user_disabled, portal_not_allowed, domain_not_allowed | Forbidden, ... |
| 404 | not_found | NotFound |
| 405 | method_not_allowed | MethodNotAllowed |
| 409 | conflict | Conflict |
| 410 | gone | Gone |
| 413 | payload_too_large | PayloadTooLarge |
| 422 | validation_failed | ValidationFailed |
| 429 | too_many_attempts | TooManyAttempts |
| 500 | internal_error | InternalError |
| 502 | upstream_unavailable | UpstreamUnavailable |
| 503 | service_unavailable, database_unavailable | ServiceUnavailable, DatabaseUnavailable |
| 504 | upstream_timeout | UpstreamTimeout |
"""

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """Base of every error that reaches a client; subclasses set the three class attributes."""

    status: int = 500
    reason: str = "internal_error"
    message: str = "Something went wrong on our side."
    dependency: str | None = None
    """The dependency whose outage this answer reports (the edge logs one line per outage,
    not one per request)."""

    def __init__(
        self,
        message: str | None = None,
        *,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.detail = message or self.message
        self.data = data
        self.headers = dict(headers or {})
        self.frame_domains: tuple[str, ...] = ()
        """Sites that may frame a page showing this error (the portal router fills it in)."""
        super().__init__(self.detail)

    @classmethod
    def of(cls, status: int, reason: str, message: str, *, data: Any = None) -> "ApiError":
        """An error with this status and reason, e.g. relayed from another service."""
        error = error_for_status(status)(message or None, data=data)
        error.status = status
        error.reason = reason or error.reason
        return error


class InternalError(ApiError):
    pass


class BadRequest(ApiError):
    status = 400
    reason = "bad_request"
    message = "The request is not valid."


class MalformedJson(BadRequest):
    reason = "malformed_json"
    message = "The request body is not valid JSON."


class Unauthorized(ApiError):
    """401; RFC 6750 §3 asks for a `WWW-Authenticate` challenge, which the edge adds."""

    status = 401
    reason = "unauthorized"
    message = "Authentication is required."


class TokenMissing(Unauthorized):
    reason = "token_missing"
    message = "An access token is required."


class TokenInvalid(Unauthorized):
    reason = "token_invalid"
    message = "The access token is not valid."


class TokenExpired(Unauthorized):
    reason = "token_expired"
    message = "The access token has expired."


class TokenRevoked(Unauthorized):
    reason = "token_revoked"
    message = "The access token has been revoked."


class TokenDisabled(Unauthorized):
    reason = "token_disabled"
    message = "The access token has been disabled."


class InvalidCredentials(Unauthorized):
    reason = "invalid_credentials"
    message = "The username or password is wrong."


class InvalidServiceCredential(Unauthorized):
    reason = "invalid_service_credential"
    message = "This endpoint needs the service credential."


class Forbidden(ApiError):
    status = 403
    reason = "forbidden"
    message = "You are not allowed to do this."


class UserDisabled(Forbidden):
    reason = "user_disabled"
    message = "This user account is disabled."


class PortalNotAllowed(Forbidden):
    reason = "portal_not_allowed"
    message = "This access token does not open this portal."


class DomainNotAllowed(Forbidden):
    reason = "domain_not_allowed"
    message = "This site is not allowed to sign you in here."


class NotFound(ApiError):
    status = 404
    reason = "not_found"
    message = "Nothing is here."


class MethodNotAllowed(ApiError):
    status = 405
    reason = "method_not_allowed"
    message = "This method is not allowed here."


class Conflict(ApiError):
    status = 409
    reason = "conflict"
    message = "The request conflicts with the current state."


class Gone(ApiError):
    status = 410
    reason = "gone"
    message = "What was asked for is no longer kept."


class PayloadTooLarge(ApiError):
    status = 413
    reason = "payload_too_large"
    message = "The request body is too large."


class ValidationFailed(ApiError):
    status = 422
    reason = "validation_failed"
    message = "Some fields are not valid."


class TooManyAttempts(ApiError):
    status = 429
    reason = "too_many_attempts"
    message = "Too many failed attempts; try again later."


class UpstreamUnavailable(ApiError):
    status = 502
    reason = "upstream_unavailable"
    message = "The application behind this portal cannot be reached right now."


class ServiceUnavailable(ApiError):
    status = 503
    reason = "service_unavailable"
    message = "The service cannot answer right now; try again shortly."


class DatabaseUnavailable(ServiceUnavailable):
    reason = "database_unavailable"
    message = "The database cannot be reached right now; try again shortly."
    dependency = "database"


class UpstreamTimeout(ApiError):
    status = 504
    reason = "upstream_timeout"
    message = "The application behind this portal did not answer in time."


def error_for_status(status: int) -> type[ApiError]:
    """The error class that renders an aiohttp HTTP exception of this status."""
    return _BY_STATUS.get(status, BadRequest if 400 <= status < 500 else InternalError)


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: TooManyAttempts,
    502: UpstreamUnavailable,
    503: ServiceUnavailable,
    504: UpstreamTimeout,
}
