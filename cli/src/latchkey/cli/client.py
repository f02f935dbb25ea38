"""A small synchronous JSON client for one service, speaking the envelope."""

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from latchkey.cli import __version__
from latchkey.cli.errors import UNAVAILABLE, UNEXPECTED, CliError, ServiceError, usage

USER_AGENT = f"latchkey-cli/{__version__}"
Query = Mapping[str, str | int | None]


@dataclass(frozen=True)
class Answer:
    """A success envelope: `message` for people, `data` for the command."""

    message: str
    data: Any


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bearer token to wherever it points: refuse it instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def quote(segment: str) -> str:
    """One path segment, so a value like `../keys` cannot change which URL is called."""
    return urllib.parse.quote(segment, safe="")


@dataclass
class Service:
    """One service at `base_url`; `token` is asked for only by calls that need it."""

    name: str
    base_url: str
    token: Callable[[], str]
    timeout: float = 30.0

    def __post_init__(self) -> None:
        # urllib would open file: and ftp: URLs too; only http(s) may carry a bearer token.
        if urllib.parse.urlsplit(self.base_url).scheme not in ("http", "https"):
            raise usage("bad_url", f"the {self.name} URL must be http(s), not {self.base_url!r}")

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Query | None = None,
        signed: bool = True,
    ) -> Answer:
        request = self._request(method, path, body=body, query=query, signed=signed)
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                return self._answer(response.status, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                raise self._error(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise self._unreachable(exc) from None

    def _request(
        self, method: str, path: str, *, body: Any, query: Query | None, signed: bool
    ) -> urllib.request.Request:
        url = self.base_url + path
        if query:
            pairs = {key: str(value) for key, value in query.items() if value is not None}
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if signed:
            headers["Authorization"] = f"Bearer {self.token()}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return urllib.request.Request(  # noqa: S310 (http and https only: see __post_init__)
            url, data=payload, headers=headers, method=method
        )

    def _answer(self, status: int, raw: bytes) -> Answer:
        envelope = _envelope(raw)
        if envelope is None:
            raise CliError(UNEXPECTED, "unexpected_answer", self._not_envelope(status))
        return Answer(str(envelope.get("message", "")), envelope.get("data"))

    def _error(self, status: int, raw: bytes) -> CliError:
        envelope = _envelope(raw)
        if envelope is None:
            # A proxy in front of a service that is down answers 502-504 with a page of its own.
            code = UNAVAILABLE if status in (502, 503, 504) else UNEXPECTED
            return CliError(code, "unexpected_answer", self._not_envelope(status))
        reason = str(envelope.get("reason") or f"http_{status}")
        message = str(envelope.get("message") or f"HTTP {status}")
        return ServiceError(status, reason, message, envelope.get("data"))

    def _not_envelope(self, status: int) -> str:
        return (
            f"the {self.name} at {self.base_url} answered {status} without a Latchkey "
            "envelope; is the URL right?"
        )

    def _unreachable(self, exc: BaseException) -> CliError:
        cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(cause, TimeoutError):
            detail = f"no answer within {self.timeout:g} s"
            return CliError(UNAVAILABLE, "timeout", f"the {self.name} at {self.base_url}: {detail}")
        detail = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        return CliError(
            UNAVAILABLE,
            "unreachable",
            f"cannot reach the {self.name} at {self.base_url}: {detail}",
        )


def _envelope(raw: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    if isinstance(parsed, dict) and "code" in parsed and "message" in parsed:
        return parsed
    return None
