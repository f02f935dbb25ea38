"""The HTTP server every service runs on: aiohttp's, except that a request its parser
refuses (a request line or header over the limits, broken syntax) is answered with the
envelope and one log line, not a plain-text page and an ERROR with a stack trace."""

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from latchkey.common import errors
from latchkey.common.web import error_response

log = logging.getLogger(__name__)

MAX_LINE_SIZE = 16384
"""Longest request line (method, path with query, version) in bytes; longer is a 414. Room
for a deep link's token beside a long query."""
MAX_FIELD_SIZE = 8190
"""Longest header line in bytes (aiohttp's and Apache's default); longer is a 431."""


class RequestLineTooLong(errors.ApiError):
    status = 414
    reason = "request_line_too_long"
    message = f"The address is too long (at most {MAX_LINE_SIZE} bytes)."


class HeaderTooLarge(errors.ApiError):
    status = 431
    reason = "header_too_large"
    message = f"A request header is too long (at most {MAX_FIELD_SIZE} bytes)."


class MalformedRequest(errors.BadRequest):
    reason = "malformed_request"
    message = "The request is not well-formed HTTP."


def refusal_of(exc: HttpProcessingError) -> errors.ApiError:
    """What the parser's refusal means for the client."""
    if isinstance(exc, LineTooLong):
        # aiohttp says which limit was passed, not which line passed it: the limits differ.
        return RequestLineTooLong() if exc.args[1] == MAX_LINE_SIZE else HeaderTooLarge()
    return MalformedRequest()


class EnvelopeRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering the parser's refusals as every other
    refusal is answered, and knowing the local port its connection came in on (each
    `get_extra_info("sockname")` asks the kernel again)."""

    __slots__ = ("local_port",)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sockname = transport.get_extra_info("sockname")
        self.local_port: int | None = (
            sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None
        )
        super().connection_made(transport)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError) or status >= 500:
            return super().handle_error(request, status, exc, message)
        error = refusal_of(exc)
        # The client's mistake, not ours: a line to count them by, no stack trace.
        log.info("refused a malformed request from %s: %s", request.remote, error.reason)
        response = error_response(error)
        response.force_close()
        return response


class EnvelopeServer(web.Server):
    """The protocol factory: each connection gets an EnvelopeRequestHandler."""

    def __call__(self) -> RequestHandler:
        return EnvelopeRequestHandler(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """An AppRunner whose connections are EnvelopeRequestHandlers, with the request-line
    and header limits stated here (they are aiohttp's defaults, now documented)."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, max_line_size=MAX_LINE_SIZE, max_field_size=MAX_FIELD_SIZE, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The application built its server (startup, freeze, handler arguments); only the
        # class of its connections changes.
        server.__class__ = EnvelopeServer
        return server
