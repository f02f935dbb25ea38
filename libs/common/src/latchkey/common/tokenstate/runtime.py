"""One instance's token state, assembled: the view, its sync, the gate that consults it,
receipts, metrics, readiness, and two internal endpoints to ask an instance what it knows."""

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import Gauge
from pydantic import Field

from latchkey.common import errors
from latchkey.common.amqp import Broker
from latchkey.common.app import CleanupContext, background
from latchkey.common.credentials import require_service_credential
from latchkey.common.events import Mode
from latchkey.common.gate import Authenticator, IntrospectingGate
from latchkey.common.health import add_readiness_check
from latchkey.common.metrics import METRICS
from latchkey.common.models import ApiModel, RequestModel
from latchkey.common.openapi import Endpoint, add_endpoints
from latchkey.common.settings import CommonSettings
from latchkey.common.tokens import Claims
from latchkey.common.tokenstate.receipts import Receipts
from latchkey.common.tokenstate.sequencer import Sequencer
from latchkey.common.tokenstate.source import StateSource
from latchkey.common.tokenstate.sync import TokenStateSync
from latchkey.common.tokenstate.view import TokenStateView
from latchkey.common.web import envelope, read_json

log = logging.getLogger(__name__)

PRUNE_INTERVAL = 30.0
MODES = ("starting", "live", "introspect", "deny")


class TokenStateStale(errors.ServiceUnavailable):
    reason = "token_state_stale"
    message = "This service cannot confirm tokens right now; try again shortly."


class TokenState:
    """Everything an instance needs to decide, locally, whether a token is honoured."""

    def __init__(
        self, settings: CommonSettings, *, service: str, source: StateSource, broker: Broker
    ) -> None:
        self.settings = settings
        self.service = service
        self.instance_id = settings.instance_id or f"{service}@{socket.gethostname()}:{os.getpid()}"
        self.view = TokenStateView()
        self.sequencer = Sequencer(self.view, source)
        self.sync = TokenStateSync(self.sequencer, broker)
        self.receipts = Receipts(
            source, self.sequencer, instance_id=self.instance_id, service=service, mode=self.mode
        )
        self._fallback = IntrospectingGate(source)
        self._max_staleness = settings.max_staleness
        self._stale_mode = settings.stale_mode
        self._was_live = False

    def mode(self) -> Mode:
        """live: the view decides; introspect or deny: the view is stale; starting: not loaded."""
        if not self.view.loaded:
            return "starting"
        if self.sequencer.staleness() <= self._max_staleness:
            return "live"
        return self._stale_mode

    async def check(self, token: str, claims: Claims) -> None:
        """The gate: the view when it is fresh, else the configured stale mode."""
        if self.check_live(claims):
            return
        if self._stale_mode == "deny":
            raise TokenStateStale()
        await self._fallback.check(token, claims)
        self.receipts.used(claims.jti)

    def check_live(self, claims: Claims) -> bool:
        """The gate without a coroutine: raises why the view refuses the token, True when it
        honours it, False when the view is stale and `check` must decide."""
        if not self.live():
            return False
        self.view.check(claims)
        self.receipts.used(claims.jti)
        return True

    def live(self) -> bool:
        """The view alone decides (loaded, and heard from within the staleness bound)."""
        return self.view.loaded and self.sequencer.staleness() <= self._max_staleness

    def domains_for(self, claims: Claims) -> tuple[str, ...]:
        return self.view.domains_for(claims)

    async def ready(self) -> tuple[bool, str]:
        mode = self.mode()
        if mode == "live":
            return True, f"live at {self.view.seq}"
        staleness = self.sequencer.staleness()
        detail = "not loaded yet" if mode == "starting" else f"stale for {staleness:.1f}s"
        return False, f"{detail} ({self._stale_mode} mode)"

    async def _prune(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_INTERVAL)
            self.view.prune()

    def register_metrics(self, app: web.Application) -> None:
        registry = app[METRICS].registry
        gauges: list[tuple[str, str, Callable[[], float]]] = [
            ("latchkey_token_state_applied_seq", "Last applied event.", lambda: self.view.seq),
            (
                "latchkey_token_state_lag",
                "Events heard of but not applied yet.",
                lambda: max(0, self.sequencer.latest_known - self.view.seq),
            ),
            ("latchkey_token_state_entries", "Restrictions held.", lambda: self.view.entries),
            (
                "latchkey_token_state_staleness_seconds",
                "Seconds since the view was last known complete.",
                lambda: min(self.sequencer.staleness(), 1e9),
            ),
        ]
        for name, documentation, function in gauges:
            Gauge(name, documentation, registry=registry).set_function(function)
        mode = Gauge(
            "latchkey_token_state_mode", "1 for the current mode.", ["mode"], registry=registry
        )
        for name in MODES:
            mode.labels(name).set_function(lambda name=name: float(self.mode() == name))  # type: ignore[misc]


def token_state_context(
    settings: CommonSettings,
    key: web.AppKey[TokenState],
    *,
    service: str,
    broker: web.AppKey[Broker],
    source: Callable[[web.Application], StateSource],
) -> CleanupContext:
    """Start the view (and keep it in sync) for the life of the app."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        state = TokenState(settings, service=service, source=source(app), broker=app[broker])
        app[key] = state
        add_readiness_check(app, "token_state", state.ready)
        state.register_metrics(app)
        async with (
            background(state.sync.run(), name="token-state-sync"),
            background(state.receipts.run(), name="token-state-receipts"),
            background(state._prune(), name="token-state-prune"),
        ):
            yield
        with contextlib.suppress(Exception):
            await state.receipts.send()

    return context


class TokenCheck(RequestModel):
    token: str = Field(min_length=1, max_length=8192)


class TokenCheckResult(ApiModel):
    honoured: bool
    reason: str | None
    seq: int
    mode: str
    instance_id: str


class TokenStateStatus(ApiModel):
    instance_id: str
    service: str
    seq: int
    latest_known: int
    mode: str
    staleness: float | None
    entries: int
    policy_domains: list[str]
    digest: str


def setup_token_state_routes(
    app: web.Application, state: web.AppKey[TokenState], authenticator: web.AppKey[Authenticator]
) -> None:
    """`/internal/v1/token-state/check` (is this token honoured here?) and `/status`."""

    async def check(request: web.Request) -> web.Response:
        require_service_credential(request, request.app[state].settings.internal_token)
        body = await read_json(request, TokenCheck)
        token_state = request.app[state]
        reason = None
        try:
            await request.app[authenticator].authenticate(body.token)
        except errors.ApiError as exc:
            if exc.status >= 500:
                raise
            reason = exc.reason
        result = TokenCheckResult(
            honoured=reason is None,
            reason=reason,
            seq=token_state.view.seq,
            mode=token_state.mode(),
            instance_id=token_state.instance_id,
        )
        return envelope(result.wire())

    async def status(request: web.Request) -> web.Response:
        token_state = request.app[state]
        require_service_credential(request, token_state.settings.internal_token)
        staleness = token_state.sequencer.staleness()
        result = TokenStateStatus(
            instance_id=token_state.instance_id,
            service=token_state.service,
            seq=token_state.view.seq,
            latest_known=token_state.sequencer.latest_known,
            mode=token_state.mode(),
            staleness=None if staleness == float("inf") else staleness,
            entries=token_state.view.entries,
            policy_domains=list(token_state.view.policy_domains),
            digest=token_state.view.digest(),
        )
        return envelope(result.wire())

    add_endpoints(
        app,
        [
            Endpoint("POST", "/internal/v1/token-state/check", check,
                     "Whether this instance honours a token, and why not",
                     body=TokenCheck, response=TokenCheckResult, security="service",
                     tags=("internal",)),
            Endpoint("GET", "/internal/v1/token-state/status", status,
                     "This instance's token state: sequence number, mode, staleness",
                     response=TokenStateStatus, security="service", tags=("internal",)),
        ],
    )  # fmt: skip
