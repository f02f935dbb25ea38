"""The response envelope, errors as the envelope, body and query parsing, and the access log."""

import json
import logging
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from pydantic import BaseModel, ValidationError

from latchkey.common import errors
from latchkey.common.domains import origin_host_port
from latchkey.common.outages import is_database_outage

log = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def envelope(
    data: Any = None,
    *,
    message: str = "OK",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A success answer: `{"message", "code", "data"}` with `code` equal to the HTTP status."""
    body = {"message": message, "code": status, "data": data}
    return web.Response(
        body=_dumps(body).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_body(error: errors.ApiError) -> dict[str, Any]:
    return {
        "message": error.detail,
        "code": error.status,
        "reason": error.reason,
        "data": error.data,
    }


def error_response(error: errors.ApiError) -> web.Response:
    """An error answer: the envelope with the stable `reason` beside it."""
    headers = dict(error.headers)
    if error.status == 401 and "WWW-Authenticate" not in headers:
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{error.reason}"'
        )
    return web.Response(
        body=_dumps(error_body(error)).encode(),
        status=error.status,
        content_type="application/json",
        headers=headers,
    )


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """The offending fields, never the offending values (they may be passwords)."""
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "body",
            "message": item["msg"].removeprefix("Value error, "),
            "type": item["type"],
        }
        for item in exc.errors(include_url=False, include_input=False)
    ]


def as_api_error(exc: BaseException) -> errors.ApiError | None:
    """Map a known exception to its wire error; None for the unexpected."""
    if isinstance(exc, errors.ApiError):
        return exc
    if isinstance(exc, ValidationError):
        if any(item["type"] == "json_invalid" for item in exc.errors()):
            return errors.MalformedJson()
        return errors.ValidationFailed(data=validation_details(exc))
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        error_class = errors.error_for_status(exc.status)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_class(headers=headers)
    if is_database_outage(exc):
        return errors.DatabaseUnavailable()
    return None


async def read_json(request: web.Request, model: type[Model]) -> Model:
    """Parse and validate the JSON body in one step (pydantic's parser is the fast one).

    The Content-Type is not enforced: existing clients send JSON under several types.
    """
    body = await request.read()
    if not body.strip():
        raise errors.MalformedJson("The request body is empty; a JSON object is expected.")
    return model.model_validate_json(body, strict=True)


def read_query(request: web.Request, model: type[Model]) -> Model:
    """Validate the query string (a repeated parameter keeps its last value)."""
    return model.model_validate(dict(request.query))


QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/internal/v1/instances/report"})
"""Probes and receipts, each several times a second: logged at DEBUG (their failures too show
in the status), so the lines a person wants to read are not buried."""


class AccessLogger(AbstractAccessLogger):
    """One cheap line a request, with the path only: query strings can carry tokens."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = request.path
        level = logging.DEBUG if path in QUIET_PATHS and response.status < 500 else logging.INFO
        self.logger.log(
            level, "%s %s %s %.1fms", request.method, path, response.status, time * 1000
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def sent_by_own_page(request: web.BaseRequest, own: tuple[str, int] | None) -> bool:
    """Whether a state-changing request comes from our own pages (CSRF defence in depth).

    Browsers say so in `Sec-Fetch-Site`, which no page can set; without it, the Origin (or,
    when the Origin is absent or "null", the Referer) must be `own`.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("Origin")
    sender = origin if origin not in (None, "null") else request.headers.get("Referer")
    return sender is not None and origin_host_port(sender) == own
