"""Property-based tests of the view's ordering: any interleaving of snapshot, duplicated,
reordered and missing events ends in the registry's state (after a catch-up at worst), with
every event applied once and in order."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from latchkey.common.events import (
    DomainPolicyChanged,
    InstanceReport,
    TokenDisabled,
    TokenDomainsChanged,
    TokenEnabled,
    TokenEvent,
    TokenRef,
    TokenRevoked,
    TokenStateSnapshot,
    UnknownEvent,
    UserRevoked,
)
from latchkey.common.packed import PackedRefs
from latchkey.common.tokenstate.sequencer import Sequencer
from latchkey.common.tokenstate.source import Events, SnapshotNeeded
from latchkey.common.tokenstate.view import TokenStateView

NOW = datetime.now(UTC)
LATER = NOW + timedelta(hours=1)
JTIS = [uuid.UUID(int=index + 1) for index in range(6)]
USERS = ["u1", "u2"]


def build_event(seq: int, choice: tuple[str, int, int]) -> TokenEvent | UnknownEvent:
    kind, token, extra = choice
    jti = JTIS[token % len(JTIS)]
    common: dict[str, Any] = {"seq": seq, "at": NOW}
    if kind == "revoke":
        return TokenRevoked(jti=jti, expires_at=LATER, **common)
    if kind == "disable":
        return TokenDisabled(jti=jti, expires_at=LATER, **common)
    if kind == "enable":
        return TokenEnabled(jti=jti, expires_at=LATER, **common)
    if kind == "domains":
        domains = [f"d{extra}.example.com"] if extra % 3 else []
        return TokenDomainsChanged(jti=jti, domains=domains, expires_at=LATER, **common)
    if kind == "user":
        tokens = [TokenRef(jti=JTIS[(token + i) % len(JTIS)], expires_at=LATER) for i in range(2)]
        return UserRevoked(
            user_id=USERS[extra % 2], not_before=NOW, expires_at=LATER, tokens=tokens, **common
        )
    if kind == "policy":
        return DomainPolicyChanged(domains=[f"p{extra}.example.com"], **common)
    return UnknownEvent(seq=seq, type="token.something_new")


operations = st.lists(
    st.tuples(
        st.sampled_from(["revoke", "disable", "enable", "domains", "user", "policy", "unknown"]),
        st.integers(0, 5),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=40,
)


def state_after(events: list[TokenEvent | UnknownEvent], upto: int) -> TokenStateView:
    view = TokenStateView()
    view.loaded = True
    for event in events[:upto]:
        if isinstance(event, UnknownEvent):
            view.seq = event.seq  # a newer type: what it means is in the registry's snapshot
        else:
            view.apply(event)
    return view


def snapshot_of(view: TokenStateView) -> TokenStateSnapshot:
    revoked, disabled, domains = view.restricted()
    return TokenStateSnapshot(
        seq=view.seq,
        revoked=PackedRefs.of((uuid.UUID(int=key), LATER) for key in revoked),
        disabled=PackedRefs.of((uuid.UUID(int=key), LATER) for key in disabled),
        domains=[
            {"jti": uuid.UUID(int=key), "domains": list(value), "expires_at": LATER}
            for key, value in domains.items()
        ],
        subjects=[
            {"user_id": user, "not_before": NOW, "expires_at": LATER} for user in view.subjects()
        ],
        policy_domains=list(view.policy_domains),
    )


class RegistryStandIn:
    """The registry's answers for a fixed history: a snapshot at `snapshot_at`, events by
    page, and everything before `pruned_before` gone (which forces a snapshot reload)."""

    def __init__(self, events: list[Any], snapshot_at: int, page: int, pruned_before: int) -> None:
        self.events = events
        self.snapshot_at = snapshot_at
        self.page = page
        self.pruned_before = pruned_before
        self.snapshots = 0

    async def snapshot(self) -> TokenStateSnapshot:
        # The first snapshot is taken mid-stream; a reload sees everything committed.
        upto = self.snapshot_at if self.snapshots == 0 else len(self.events)
        self.snapshots += 1
        return snapshot_of(state_after(self.events, upto))

    async def events_after(self, seq: int) -> Events:
        if seq + 1 < self.pruned_before:
            raise SnapshotNeeded()
        return Events(self.events[seq : seq + self.page], len(self.events))

    async def introspect(self, token: str) -> dict[str, Any]:
        raise AssertionError("not used")

    async def report(self, report: InstanceReport) -> None:
        raise AssertionError("not used")


@settings(max_examples=300, deadline=None)
@given(
    ops=operations,
    data=st.data(),
    page=st.integers(1, 5),
)
def test_any_delivery_order_ends_in_the_registrys_state(
    ops: list[tuple[str, int, int]], data: st.DataObject, page: int
) -> None:
    events = [build_event(seq, op) for seq, op in enumerate(ops, start=1)]
    total = len(events)
    snapshot_at = data.draw(st.integers(0, total), label="snapshot_at")
    pruned_before = data.draw(st.integers(1, total + 1), label="pruned_before")
    deliveries = data.draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("event"), st.integers(1, total)),
                st.tuples(st.just("heartbeat"), st.integers(0, total)),
            ),
            max_size=3 * total,
        ),
        label="deliveries",
    )
    buffered = data.draw(st.integers(0, len(deliveries)), label="buffered_before_snapshot")
    eager = data.draw(st.lists(st.booleans(), min_size=len(deliveries), max_size=len(deliveries)))

    asyncio.run(
        run_interleaving(events, snapshot_at, pruned_before, page, deliveries, buffered, eager)
    )


async def run_interleaving(
    events: list[Any],
    snapshot_at: int,
    pruned_before: int,
    page: int,
    deliveries: list[tuple[str, int]],
    buffered: int,
    eager: list[bool],
) -> None:
    view = TokenStateView()
    applied: list[int] = []
    source = RegistryStandIn(events, snapshot_at, page, pruned_before)
    sequencer = Sequencer(view, source)
    sequencer.on_applied(applied.append)

    async def deliver(kind: str, seq: int, catch_up_now: bool) -> None:
        if kind == "event":
            behind = sequencer.offer(events[seq - 1])
        else:
            behind = sequencer.heard(seq, datetime.now(UTC))
        if behind and catch_up_now:
            await sequencer.catch_up()

    # Messages that reach the bound queue before the snapshot is loaded wait in the buffer.
    early = deliveries[:buffered]
    await sequencer.load_snapshot()
    for (kind, seq), now in zip(early + deliveries[buffered:], eager, strict=True):
        await deliver(kind, seq, now)
        # Invariant: applied sequence numbers only ever step by one, or jump at a snapshot.
        assert applied == sorted(applied) or source.snapshots > 1
    # Whatever went missing, the next heartbeat announces the latest, and a catch-up ends it.
    await deliver("heartbeat", len(events), True)

    expected = state_after(events, len(events))
    assert view.seq == len(events)
    assert view.restricted() == expected.restricted()
    assert view.policy_domains == expected.policy_domains
    assert view.subjects() == expected.subjects()
    assert not sequencer.behind


def test_an_event_offered_twice_is_applied_once() -> None:
    view = TokenStateView()
    events = [build_event(1, ("revoke", 0, 0)), build_event(2, ("disable", 1, 0))]
    source = RegistryStandIn(events, 0, 10, 1)
    sequencer = Sequencer(view, source)
    applied: list[int] = []
    sequencer.on_applied(applied.append)
    asyncio.run(sequencer.load_snapshot())
    for event in events + events:
        sequencer.offer(event)
    assert applied == [0, 1, 2]


@settings(max_examples=100, deadline=None)
@given(ops=operations, data=st.data())
def test_complete_in_order_delivery_never_asks_the_registry(
    ops: list[tuple[str, int, int]], data: st.DataObject
) -> None:
    """Duplicates of what the snapshot covers are skipped, the rest applies directly."""
    known = [op for op in ops if op[0] != "unknown"] or [("revoke", 0, 0)]
    events = [build_event(seq, op) for seq, op in enumerate(known, start=1)]
    snapshot_at = data.draw(st.integers(0, len(events)))
    replayed = data.draw(st.integers(0, snapshot_at))
    source = RegistryStandIn(events, snapshot_at, 10, 1)
    fetches: list[int] = []
    original = source.events_after

    async def counting(seq: int) -> Events:
        fetches.append(seq)
        return await original(seq)

    source.events_after = counting  # type: ignore[method-assign]

    async def run() -> None:
        view = TokenStateView()
        sequencer = Sequencer(view, source)
        await sequencer.load_snapshot()
        for event in events[replayed:]:
            assert not sequencer.offer(event)
        assert not sequencer.heard(len(events), datetime.now(UTC))
        assert view.seq == len(events)

    asyncio.run(run())
    assert fetches == []


def test_an_event_type_this_version_cannot_read_is_asked_about_never_skipped() -> None:
    """A signed message of a newer type (or a forged one naming the next number) is no reason
    to move on: the registry is asked, and its snapshot states what the event did."""
    events = [
        build_event(1, ("revoke", 0, 0)),
        UnknownEvent(seq=2, type="token.something_new"),
        build_event(3, ("disable", 1, 0)),
    ]
    source = RegistryStandIn(events, 1, 10, 1)

    async def run() -> TokenStateView:
        view = TokenStateView()
        sequencer = Sequencer(view, source)
        await sequencer.load_snapshot()
        assert sequencer.offer(events[1]), "an unknown type is a gap to fill"
        assert view.seq == 1
        assert sequencer.offer(events[2]), "held until the gap is filled"
        await sequencer.catch_up()
        return view

    view = asyncio.run(run())
    assert view.seq == 3
    assert source.snapshots == 2, "the registry's snapshot said what event 2 meant"
    assert view.restricted() == state_after(events, 3).restricted()
