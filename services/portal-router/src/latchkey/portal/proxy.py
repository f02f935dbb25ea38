"""Reverse proxying to the portals' upstreams: HTTP with bodies streamed both ways, and WebSocket.

Routes match by longest prefix. Hop-by-hop headers (RFC 9110 §7.6.1) stay on their hop;
identity headers are set by us and never taken from the client, under any spelling an upstream
might read as theirs (case, `_` for `-`: WSGI and CGI read `X_Latchkey_Roles` as
`HTTP_X_LATCHKEY_ROLES`), and like nginx we pass on no header whose name holds `_`; our session
cookie and, unless the route asks for it, the client's Authorization never reach the upstream.
An upstream that refuses or cannot be reached is a 502, one that does not answer in time a 504.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from latchkey.common import errors
from latchkey.portal.admission import Identity
from latchkey.portal.connections import LiveConnections
from latchkey.portal.gatekeeper import IdentityHeaders
from latchkey.portal.sessions import COOKIE_NAME
from latchkey.portal.settings import Route

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
CHUNK = 64 * 1024
NOT_INVENTED = ("Accept", "Accept-Encoding", "User-Agent")
"""Headers aiohttp's client adds when absent: a proxy passes on what the client sent and
nothing else. Above all Accept-Encoding: bodies pass through still compressed, so an
invented `gzip` would reach a client that never asked for it."""


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        ordered = sorted(routes, key=lambda route: len(route.prefix), reverse=True)
        self._routes = [(route, route.prefix, route.prefix.rstrip("/") + "/") for route in ordered]

    def match(self, path: str) -> Route | None:
        for route, prefix, under in self._routes:
            if path.startswith(under) or path == prefix:
                return route
        return None


def _named_in_connection(headers: Any) -> frozenset[str]:
    """The headers a `Connection` header names: hop-by-hop for this message only."""
    return frozenset(
        token.strip().lower()
        for value in headers.getall("Connection", [])
        for token in value.split(",")
    )


TO_UPSTREAM_DROPPED = HOP_BY_HOP | {
    "host",
    "authorization",
    "content-length",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-prefix",
    "x-forwarded-port",
    "forwarded",
    "x-real-ip",
}
"""Never passed on as the client sent them: set by us below, or not for the upstream."""
SET_BY_US = ("x-latchkey-", "sec-websocket")
"""Names (lower-cased, `_` read as `-`) the client's headers may not start with."""
FROM_UPSTREAM_DROPPED = HOP_BY_HOP | {"content-length"}


def _without_session_cookie(header: str) -> str:
    if COOKIE_NAME not in header:
        return header
    kept = [
        part.strip()
        for part in header.split(";")
        if part.strip() and not part.strip().startswith(COOKIE_NAME + "=")
    ]
    return "; ".join(kept)


def upstream_headers(request: web.BaseRequest, ours: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    """The client's headers minus hop-by-hop ones, credentials and our cookie, plus ours (who
    the user is, the route's prefix, the token where the route passes it: made once per
    session, `IdentityHeaders.for_route`) and where the request came from. One pass: it runs
    on every proxied request."""
    client = request.headers
    dropped = TO_UPSTREAM_DROPPED
    if "Connection" in client:
        dropped = dropped | _named_in_connection(client)
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in client.items():
        lower = name.lower()
        if lower in dropped or "_" in lower or lower.startswith(SET_BY_US):
            continue
        if lower == "cookie":
            value = _without_session_cookie(value)
            if not value:
                continue
        headers.add(name, value)
    if "Content-Length" in client and not client.get("Transfer-Encoding"):
        headers.add("Content-Length", client["Content-Length"])
    headers.extend(ours)
    forwarded_for = client.get("X-Forwarded-For")
    peer = request.remote or ""
    headers.extend(
        (
            ("X-Forwarded-For", f"{forwarded_for}, {peer}" if forwarded_for else peer),
            ("X-Forwarded-Proto", request.scheme),
            ("X-Forwarded-Host", request.host),
        )
    )
    return headers


def answer_headers(upstream: Any, route: Route, extra: dict[str, str]) -> CIMultiDict[str]:
    """The upstream's headers for the client: hop-by-hop ones dropped, a `Location` into the
    upstream turned into one under the route, and ours (`extra`) added."""
    dropped = FROM_UPSTREAM_DROPPED
    if "Connection" in upstream:
        dropped = dropped | _named_in_connection(upstream)
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.items():
        if name.lower() not in dropped:
            headers.add(name, value)
    location = headers.get("Location")
    if location and location.startswith(route.upstream):
        headers["Location"] = route.prefix + location[len(route.upstream) :]
    for name, value in extra.items():
        headers.add(name, value)
    return headers


def _target(route: Route, path: str, request: web.BaseRequest, *, websocket: bool = False) -> URL:
    """The upstream URL: the cleaned path the route was chosen by (never the raw one: its dot
    segments could climb out of the route's prefix upstream) and the query exactly as sent
    (decoding it would turn an escaped `&` or `=` into a separator)."""
    tail = path[len(route.prefix.rstrip("/")) :]
    query = request.raw_path.partition("?")[2]
    base = route.upstream
    if websocket:
        base = "ws" + base.removeprefix("http")
    return URL(base + tail + ("?" + query if query else ""), encoded=True)


class Proxy:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        connections: LiveConnections,
        identity_headers: IdentityHeaders,
    ) -> None:
        self._session = session
        self.connections = connections
        self._identity = identity_headers

    def _ours(self, identity: Identity, route: Route) -> tuple[tuple[str, str], ...]:
        return self._identity.for_route(identity, route.prefix, pass_token=route.pass_token)

    async def http(
        self,
        request: web.Request,
        identity: Identity,
        route: Route,
        path: str,
        *,
        extra: dict[str, str],
    ) -> web.StreamResponse:
        body = request.content if request.body_exists else None
        try:
            upstream = await self._session.request(
                request.method,
                _target(route, path, request),
                headers=upstream_headers(request, self._ours(identity, route)),
                data=body,
                allow_redirects=False,
                skip_auto_headers=NOT_INVENTED,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _upstream_error(route, exc) from exc
        async with upstream:
            response = web.StreamResponse(
                status=upstream.status,
                reason=upstream.reason,
                headers=answer_headers(upstream.headers, route, extra),
            )
            if "Content-Length" in upstream.headers and "Transfer-Encoding" not in upstream.headers:
                response.content_length = int(upstream.headers["Content-Length"])
            try:
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await response.write(chunk)
                await response.write_eof()
            except ConnectionResetError:
                # The browser went away mid-answer (a closed tab, a new click): not an error.
                log.debug("client left during a proxied answer from %s", route.upstream)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # The upstream failed mid-answer. The status is sent: the one honest signal
                # left is to hang up, so the browser sees a cut answer, not a complete one.
                log.warning("upstream %s failed mid-answer: %s", route.upstream, type(exc).__name__)
                if request.transport is not None:
                    request.transport.close()
            return response

    async def websocket(
        self,
        request: web.Request,
        identity: Identity,
        route: Route,
        path: str,
        *,
        expires_at: float,
    ) -> web.WebSocketResponse:
        protocols = [
            item.strip()
            for item in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if item.strip()
        ]
        try:
            upstream = await self._session.ws_connect(
                _target(route, path, request, websocket=True),
                headers=upstream_headers(request, self._ours(identity, route)),
                protocols=protocols,
                autoping=True,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _upstream_error(route, exc) from exc
        client = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else ())
        await client.prepare(request)
        self.connections.add(client, identity.claims)
        expiry = asyncio.get_running_loop().call_at(
            asyncio.get_running_loop().time() + max(0.0, expires_at - time.time()),
            self.connections.close_expired,
            client,
        )
        try:
            await _pump_both_ways(client, upstream)
            await self.connections.closed(client)
        finally:
            expiry.cancel()
            self.connections.remove(client, identity.claims)
            with contextlib.suppress(Exception):
                await upstream.close()
        return client


def _upstream_error(route: Route, exc: BaseException) -> errors.ApiError:
    """502 for an upstream that refused or broke the connection, 504 for one that did not
    answer in time; one warning line, never a traceback."""
    timed_out = isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError)
    log.warning(
        "upstream %s %s: %s",
        route.upstream,
        "timed out" if timed_out else "unreachable",
        type(exc).__name__,
    )
    return errors.UpstreamTimeout() if timed_out else errors.UpstreamUnavailable()


async def _pump_both_ways(
    client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse
) -> None:
    async def client_to_upstream() -> None:
        async for message in client:
            if message.type == WSMsgType.TEXT:
                await upstream.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await upstream.send_bytes(message.data)
        await upstream.close()

    async def upstream_to_client() -> None:
        async for message in upstream:
            if message.type == WSMsgType.TEXT:
                await client.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await client.send_bytes(message.data)
        if not client.closed:
            await client.close(code=upstream.close_code or 1000)

    tasks = [asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
