"""One instance's token state, assembled: the view, its sync, the facts it gives admission
(`latchkey.common.admission`), receipts, metrics, readiness, the now-and-then comparison with
the registry's records, and log lines when it goes stale or comes back."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import Gauge

from latchkey.common import errors
from latchkey.common.admission import CLEAR, TokenFacts
from latchkey.common.amqp import BROKER, Broker
from latchkey.common.bounded import BoundedDict
from latchkey.common.contracts import Introspection
from latchkey.common.events import Mode
from latchkey.common.health import add_readiness_check
from latchkey.common.lifecycle import CleanupContext, background
from latchkey.common.metrics import METRICS
from latchkey.common.settings import CommonSettings
from latchkey.common.tokenstate.receipts import Receipts
from latchkey.common.tokenstate.sequencer import Sequencer
from latchkey.common.tokenstate.source import StateSource
from latchkey.common.tokenstate.sync import SOURCE_ERRORS, TokenStateSync
from latchkey.common.tokenstate.view import TokenStateView
from latchkey.common.verification import Claims
from latchkey.common.workers import default_instance_id

log = logging.getLogger(__name__)

PRUNE_INTERVAL = 30.0
SETTLE_INTERVAL = 0.5
SETTLE_SLICE = 5_000
"""Loaded entries hashed for the digest at a time: a few milliseconds of the event loop."""
SETTLE_PAUSE = 0.001
"""Between slices, long enough for the loop to poll for requests."""
WATCH_INTERVAL = 0.25
DIGEST_WAIT = 5.0
"""How long a digest check waits for the view to reach the registry's sequence number."""
MODES = ("starting", "live", "introspect", "deny")
INTROSPECTION_TTL = 1.0
"""While stale, the registry's answer about a token is reused this long (a busy site would
otherwise ask about every request)."""
INTROSPECTION_CACHE = 10_000
INTROSPECTION_REASONS = {
    "token_revoked": TokenFacts(revoked=True),
    "token_disabled": TokenFacts(disabled=True),
}
"""What the registry's refusal says of the token, as facts the one rule decides on."""


class TokenStateStale(errors.ServiceUnavailable):
    reason = "token_state_stale"
    message = "This service cannot confirm tokens right now; try again shortly."


class TokenState:
    """Everything an instance needs to decide, locally, whether a token is honoured: a
    `FactSource` for admission."""

    def __init__(
        self,
        settings: CommonSettings,
        *,
        service: str,
        source: StateSource,
        broker: Broker,
        owns_exchange: bool = False,
    ) -> None:
        self.settings = settings
        self.service = service
        self.instance_id = settings.instance_id or default_instance_id(service)
        self.source = source
        self.view = TokenStateView()
        self.sequencer = Sequencer(self.view, source)
        self.sync = TokenStateSync(self.sequencer, broker, source, owns_exchange=owns_exchange)
        self.receipts = Receipts(
            source, self.sequencer, instance_id=self.instance_id, service=service, mode=self.mode
        )
        self._max_staleness = settings.max_staleness
        self._stale_mode = settings.stale_mode
        self.transitions = 0
        """Times the view went stale or came back."""
        self.resyncs = 0
        """Snapshots loaded because the view's digest differed from the registry's records."""
        self._answers: BoundedDict[str, tuple[float, Introspection]] = BoundedDict(
            INTROSPECTION_CACHE
        )

    def mode(self) -> Mode:
        """live: the view decides; introspect or deny: the view is stale; starting: not loaded."""
        if not self.view.loaded:
            return "starting"
        if self.sequencer.staleness() <= self._max_staleness:
            return "live"
        return self._stale_mode

    def live(self) -> bool:
        """The view alone decides (loaded, and complete up to recent news from the registry)."""
        return self.view.loaded and self.sequencer.staleness() <= self._max_staleness

    # --- the facts admission asks for ----------------------------------------------------------

    def facts_now(self, claims: Claims) -> TokenFacts | None:
        return self.view.facts(claims) if self.live() else None

    async def facts(self, token: str, claims: Claims) -> TokenFacts:
        """The view's facts when it is fresh; past the staleness bound, the registry's
        answer (introspect mode) or a refusal (deny mode)."""
        if self.live():
            return self.view.facts(claims)
        if self._stale_mode == "deny":
            raise TokenStateStale()
        now = asyncio.get_running_loop().time()
        cached = self._answers.get(token)
        if cached is not None and now - cached[0] < INTROSPECTION_TTL:
            answer = cached[1]
        else:
            answer = await self.source.introspect(token)
            self._answers.remember(token, (now, answer))
        if answer.active:
            return CLEAR
        found = INTROSPECTION_REASONS.get(answer.reason or "")
        if found is None:
            raise errors.TokenInvalid()
        return found

    def admitted(self, claims: Claims) -> None:
        self.receipts.used(claims.jti)

    def domains_for(self, claims: Claims) -> tuple[str, ...]:
        return self.view.domains_for(claims)

    # --- health ----------------------------------------------------------------------------

    async def ready(self) -> tuple[bool, str]:
        """Whether this instance can decide tokens: live, or stale and asking the registry
        about each (introspect mode). Stale in deny mode it refuses every token, and before
        its first snapshot it has nothing to decide with."""
        mode = self.mode()
        if mode == "live":
            return True, f"live at {self.view.seq}"
        if mode == "starting":
            return False, "not loaded yet"
        detail = f"stale for {self.sequencer.staleness():.1f}s at {self.view.seq}"
        if mode == "introspect":
            return True, f"{detail}: asking the registry about each token (introspect mode)"
        return False, f"{detail}: refusing tokens until back in step (deny mode)"

    async def watch(self) -> None:
        """Say when the view goes stale and when it is live again (one line each)."""
        was_live, stale_since = False, asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            live = self.live()
            now = asyncio.get_running_loop().time()
            if live and not was_live:
                if self.transitions:
                    log.info(
                        "token state live again at %d after %.1fs", self.view.seq, now - stale_since
                    )
                else:
                    log.info("token state live at %d", self.view.seq)
                self.transitions += 1
            elif was_live and not live:
                stale_since = now
                self.transitions += 1
                log.warning(
                    "token state stale: nothing complete from the registry for %.1fs (at %d, "
                    "%d heard of); %s mode until it is back",
                    self.sequencer.staleness(),
                    self.view.seq,
                    self.sequencer.latest_known,
                    self._stale_mode,
                )
            was_live = live

    async def compare_with_registry(self) -> bool | None:
        """Compare the view with the registry's records (as of the registry's sequence number)
        and reload the snapshot when they differ. None when it could not be compared now."""
        found = await self.source.digest()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DIGEST_WAIT
        while self.view.seq < found.seq and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # (the view applies events on its own; this only waits)
        ours = self.view.digest_at(found.seq, found.cutoff)
        if ours is None:
            return None
        if ours == found.digest:
            return True
        self.resyncs += 1
        log.warning(
            "token state differs from the registry's records at %d; reloading the snapshot",
            found.seq,
        )
        await self.sequencer.load_snapshot()
        return False

    async def _compare_now_and_then(self) -> None:
        interval = self.settings.digest_check_interval
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(*SOURCE_ERRORS):
                await self.compare_with_registry()

    async def _settle(self) -> None:
        """Finish a loaded snapshot's digest sums a slice at a time, between other work (the
        view is in force without them; see `TokenStateView.load`)."""
        while True:
            await asyncio.sleep(SETTLE_INTERVAL)
            if self.view.settled:
                continue
            started = asyncio.get_running_loop().time()
            while not self.view.settle(SETTLE_SLICE):  # noqa: ASYNC110 (work, a slice at a time)
                await asyncio.sleep(SETTLE_PAUSE)
            log.info(
                "token-state digest settled in %.1f s",
                asyncio.get_running_loop().time() - started,
            )

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
                "Seconds since the registry last said something the view is complete up to.",
                lambda: min(self.sequencer.staleness(), 1e9),
            ),
            (
                "latchkey_token_state_rejected_messages",
                "Messages on the events exchange dropped because the registry did not sign them.",
                lambda: self.sync.rejected,
            ),
            (
                "latchkey_token_state_transitions",
                "Times the view went stale or came back.",
                lambda: self.transitions,
            ),
            (
                "latchkey_token_state_resyncs",
                "Snapshots reloaded because the view differed from the registry's records.",
                lambda: self.resyncs,
            ),
        ]
        for name, documentation, function in gauges:
            Gauge(name, documentation, registry=registry).set_function(function)
        mode = Gauge(
            "latchkey_token_state_mode", "1 for the current mode.", ["mode"], registry=registry
        )
        for name in MODES:
            mode.labels(name).set_function(lambda name=name: float(self.mode() == name))  # type: ignore[misc]


TOKEN_STATE = web.AppKey("token_state", TokenState)


def token_state_context(
    settings: CommonSettings,
    *,
    service: str,
    source: Callable[[web.Application], StateSource],
    owns_exchange: bool = False,
) -> CleanupContext:
    """Start the view (and keep it in sync) for the life of the app. Only the registry
    `owns_exchange`: it may declare it; everyone else only finds it (least privilege)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        state = TokenState(
            settings,
            service=service,
            source=source(app),
            broker=app[BROKER],
            owns_exchange=owns_exchange,
        )
        app[TOKEN_STATE] = state
        add_readiness_check(app, "token_state", state.ready)
        state.register_metrics(app)
        async with (
            background(state.sync.run(), name="token-state-sync"),
            background(state.receipts.run(), name="token-state-receipts"),
            background(state.watch(), name="token-state-watch"),
            background(state._prune(), name="token-state-prune"),
            background(state._settle(), name="token-state-settle"),
            background(state._compare_now_and_then(), name="token-state-digest"),
        ):
            yield
        with contextlib.suppress(Exception):
            await state.receipts.send()

    return context
