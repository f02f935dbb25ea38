"""Live WebSocket connections, by the token they rest on: closed the moment it is revoked."""

import asyncio
import contextlib
import logging
import math
from collections import defaultdict

from aiohttp import web

from latchkey.common import errors
from latchkey.common.admission import issued_before
from latchkey.common.events import (
    TokenDisabled,
    TokenEvent,
    TokenRevoked,
    TokenStateSnapshot,
    UserRevoked,
)
from latchkey.common.tokenstate.view import TokenStateView
from latchkey.common.verification import Claims

log = logging.getLogger(__name__)

# Close codes in the range RFC 6455 §7.4.2 leaves to applications; the reason says why.
CLOSE_REVOKED = 4401
CLOSE_DISABLED = 4403
CLOSE_EXPIRED = 4408


class LiveConnections:
    def __init__(self) -> None:
        self._claims: dict[web.WebSocketResponse, Claims] = {}
        self._by_jti: dict[int, set[web.WebSocketResponse]] = defaultdict(set)
        self._by_user: dict[str, dict[web.WebSocketResponse, float]] = defaultdict(dict)
        self._closing: dict[web.WebSocketResponse, asyncio.Task[bool]] = {}
        self._view: TokenStateView | None = None

    def follow(self, view: TokenStateView) -> None:
        """Close connections as `view` withdraws the tokens they rest on."""
        self._view = view
        view.subscribe(self.on_change)

    def add(self, ws: web.WebSocketResponse, claims: Claims) -> None:
        self._claims[ws] = claims
        self._by_jti[claims.jti.int].add(ws)
        self._by_user[claims.sub][ws] = claims.iat

    def remove(self, ws: web.WebSocketResponse, claims: Claims) -> None:
        self._claims.pop(ws, None)
        self._by_jti.get(claims.jti.int, set()).discard(ws)
        if not self._by_jti.get(claims.jti.int):
            self._by_jti.pop(claims.jti.int, None)
        self._by_user.get(claims.sub, {}).pop(ws, None)
        if not self._by_user.get(claims.sub):
            self._by_user.pop(claims.sub, None)

    def on_change(self, change: TokenEvent | TokenStateSnapshot) -> None:
        """A token-state listener: close what rests on what a change withdrew. An event names
        what it withdrew; a snapshot (after a reconnect or a long outage) may withdraw
        anything, so every connection is checked against the view again."""
        if isinstance(change, TokenStateSnapshot):
            self._check_all()
            return
        event = change
        if isinstance(event, TokenRevoked):
            self._close_token(event.jti.int, CLOSE_REVOKED, "token_revoked")
        elif isinstance(event, TokenDisabled):
            self._close_token(event.jti.int, CLOSE_DISABLED, "token_disabled")
        elif isinstance(event, UserRevoked):
            for ref in event.tokens:
                self._close_token(ref.jti.int, CLOSE_REVOKED, "token_revoked")
            not_before = math.floor(event.not_before.timestamp())
            for ws, issued_at in list(self._by_user.get(event.user_id, {}).items()):
                if issued_before(issued_at, not_before):
                    self._close(ws, CLOSE_REVOKED, "token_revoked")

    def _check_all(self) -> None:
        if self._view is None:
            return
        for ws, claims in list(self._claims.items()):
            try:
                self._view.check(claims)
            except errors.TokenDisabled:
                self._close(ws, CLOSE_DISABLED, "token_disabled")
            except errors.ApiError:
                self._close(ws, CLOSE_REVOKED, "token_revoked")

    def close_expired(self, ws: web.WebSocketResponse) -> None:
        self._close(ws, CLOSE_EXPIRED, "session_expired")

    def _close_token(self, key: int, code: int, reason: str) -> None:
        for ws in list(self._by_jti.get(key, ())):
            self._close(ws, code, reason)

    def _close(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        if ws.closed:
            return
        if ws in self._closing:
            return
        task = asyncio.get_running_loop().create_task(ws.close(code=code, message=reason.encode()))
        self._closing[ws] = task
        task.add_done_callback(lambda _: self._closing.pop(ws, None))
        log.info("closing a WebSocket: %s", reason)

    async def closed(self, ws: web.WebSocketResponse) -> None:
        """Until a close begun here is done: the client's Close answered ours (RFC 6455
        §7.1.1), so the connection is not dropped under the client while it replies, which
        it would see as an abnormal closure (1006) instead of the code we sent."""
        task = self._closing.get(ws)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
