"""The snapshot's packed token references: round trips, bounds, and malformed input refused
with a message that says what is wrong (never a crash)."""

import asyncio
import base64
import struct
import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from pydantic import ValidationError

from latchkey.common.events import TokenDomains, TokenEnabled, TokenRevoked, TokenStateSnapshot
from latchkey.common.packed import EMPTY_REFS, MAX_MINUTE, PackedRefs
from latchkey.common.settings import CommonSettings
from latchkey.common.tokenstate import runtime
from latchkey.common.tokenstate.view import _HASHES, TokenStateView, bucket_of, entry_hash

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def packed(runs: list[tuple[int, int]], jtis: int | None = None) -> bytes:
    """Runs of (minute, count), followed by `jtis` jtis (the counts' sum unless said); the
    same bytes every time, as they name the tests (pytest-xdist compares the names)."""
    total = sum(count for _, count in runs) if jtis is None else jtis
    head = struct.pack(">I", len(runs)) + b"".join(struct.pack(">qI", *run) for run in runs)
    return head + b"".join(uuid.UUID(int=index + 1).bytes for index in range(total))


def snapshot(**fields: object) -> TokenStateSnapshot:
    values: dict[str, object] = {
        "seq": 3, "at": NOW, "revoked": EMPTY_REFS, "disabled": EMPTY_REFS, "domains": [],
        "subjects": [], "policy_domains": [],
    }  # fmt: skip
    values.update(fields)
    return TokenStateSnapshot.model_validate(values)


def test_references_round_trip_grouped_by_the_minute_they_expire_in() -> None:
    early, late, same = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    refs = PackedRefs.of(
        [
            (late, NOW + timedelta(hours=2)),
            (early, NOW + timedelta(seconds=1.2)),
            (same, NOW + timedelta(seconds=59)),
        ]
    )
    minute = NOW + timedelta(minutes=1)  # rounded up: an entry never leaves early
    assert list(refs) == [(early, minute), (same, minute), (late, NOW + timedelta(hours=2))]
    assert refs.keys() == [early.int, same.int, late.int]
    first = int(minute.timestamp()) // 60
    assert refs.runs() == [(first, 0, 2), (first + 119, 2, 3)]
    assert len(refs) == 3
    assert PackedRefs.decode(refs.encode()) == refs
    assert first == bucket_of(NOW + timedelta(seconds=1.2))  # the view's own bucket


def test_a_snapshot_round_trips_through_its_wire_form() -> None:
    refs = PackedRefs.of((uuid.uuid4(), NOW + timedelta(minutes=i % 50)) for i in range(500))
    domains = [TokenDomains(jti=uuid.uuid4(), domains=["a.example"], expires_at=NOW)]
    original = snapshot(revoked=refs, disabled=PackedRefs.of([]), domains=domains)
    wire = original.wire()
    assert isinstance(wire["revoked"], str)
    assert wire["disabled"] == "AAAAAA=="  # no runs
    assert wire["v"] == 2
    assert TokenStateSnapshot.model_validate(wire) == original
    assert (
        TokenStateSnapshot.model_validate_json(original.model_dump_json(by_alias=True)) == original
    )


def test_the_extremes_of_the_format_are_accepted() -> None:
    refs = PackedRefs(
        struct.pack(">IqIqI", 2, 0, 1, MAX_MINUTE, 1)
        + uuid.UUID(int=0).bytes
        + uuid.UUID(int=2**128 - 1).bytes
    )
    assert refs.keys() == [0, 2**128 - 1]
    assert len(EMPTY_REFS) == 0
    assert list(EMPTY_REFS) == []
    assert EMPTY_REFS.keys() == []


def test_many_references_unpack_across_chunks() -> None:
    jtis = [uuid.uuid4() for _ in range(150_000)]
    refs = PackedRefs.of((jti, NOW + timedelta(minutes=i % 7)) for i, jti in enumerate(jtis))
    assert sorted(refs.keys()) == sorted(jti.int for jti in jtis)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "start with their number of runs"),
        (b"\x00\x00\x01", "start with their number of runs"),
        (packed([(29_000_000, 1)])[:15], "end before them"),
        (packed([(29_000_000, 2)], jtis=1), "not"),
        (packed([(29_000_000, 1)], jtis=2), "not"),
        (packed([(29_000_000, 1)]) + b"\x00", "not"),
        (packed([(29_000_001, 1), (29_000_000, 1)]), "order of expiry"),
        (packed([(29_000_000, 1), (29_000_000, 1)]), "order of expiry"),
        (packed([(29_000_000, 0)]), "empty"),
        (packed([(-1, 1)]), "outside years 1970-9999"),
        (packed([(MAX_MINUTE + 1, 1)]), "outside years 1970-9999"),
        (struct.pack(">I", 2**32 - 1), "end before them"),
    ],
)
def test_malformed_references_are_refused_with_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        PackedRefs(data)
    text = base64.b64encode(data).decode()
    with pytest.raises(ValidationError, match=says):
        snapshot(revoked=text)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("not base64!", "not base64"),
        ("AAA", "not base64"),  # wrong padding
        ("AAAA\nAAAA", "not base64"),  # line breaks are not part of the format
        ("ÀÀÀÀ", "not base64"),
        (12, "string"),
        ([{"jti": str(uuid.uuid4()), "expiresAt": NOW.isoformat()}], "string"),  # version 1
        (None, "string"),
    ],
)
def test_what_is_not_packed_references_is_refused(value: object, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        snapshot(disabled=value)


def test_a_snapshot_of_another_version_is_refused() -> None:
    with pytest.raises(ValidationError, match="v"):
        snapshot(v=1)


def applied_one_by_one(
    revoked: list[tuple[uuid.UUID, datetime]], disabled: list[tuple[uuid.UUID, datetime]]
) -> TokenStateView:
    view = TokenStateView()
    view.load(snapshot())
    for jti, at in revoked:
        view._revoke(jti.int, bucket_of(at))
    for jti, at in disabled:
        if jti.int not in view._revoked:
            view._disable(jti.int, bucket_of(at))
    return view


def test_a_loaded_view_holds_exactly_what_events_would_have_given_it() -> None:
    """Filing packed references a run at a time, with their hashes added later, gives the
    same view and the same digest as applying them one by one."""
    later = NOW + timedelta(minutes=5)
    revoked = [
        (uuid.uuid4(), later + timedelta(minutes=i % 97, seconds=i % 13)) for i in range(3000)
    ]
    disabled = [(uuid.uuid4(), later + timedelta(minutes=i % 89)) for i in range(700)]
    loaded = TokenStateView()
    loaded.load(snapshot(revoked=PackedRefs.of(revoked), disabled=PackedRefs.of(disabled)))
    assert not loaded.settled
    slow = applied_one_by_one(revoked, disabled)
    assert loaded.restricted() == slow.restricted()
    assert loaded.digest() == slow.digest()
    assert loaded.settled
    assert {b: sorted(k) for b, k in loaded._wheel.items()} == {
        b: sorted(k) for b, k in slow._wheel.items()
    }


def test_the_fast_hash_is_the_digest_hash() -> None:
    for key in (0, 1, 2**128 - 1, uuid.uuid4().int):
        assert _HASHES["revoked"](key) == entry_hash(("revoked", key))
        assert _HASHES["disabled"](key) == entry_hash(("disabled", key))


def test_settling_a_little_at_a_time_gives_the_same_digest() -> None:
    refs = PackedRefs.of((uuid.uuid4(), NOW + timedelta(minutes=5 + i % 40)) for i in range(400))
    whole, bit_by_bit = TokenStateView(), TokenStateView()
    whole.load(snapshot(revoked=refs))
    bit_by_bit.load(snapshot(revoked=refs))
    while not bit_by_bit.settle(7):
        pass
    assert whole.digest() == bit_by_bit.digest()


def test_events_applied_before_the_digest_settles_count_once() -> None:
    later = NOW + timedelta(minutes=10)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    view = TokenStateView()
    view.load(
        snapshot(revoked=PackedRefs.of([(first, later)]), disabled=PackedRefs.of([(second, later)]))
    )
    view.apply(TokenRevoked(seq=4, at=NOW, jti=third, expires_at=later))
    view.apply(TokenEnabled(seq=5, at=NOW, jti=second, expires_at=later))
    expected = applied_one_by_one([(first, later), (third, later)], [])
    expected.seq = 5
    assert view.digest() == expected.digest()


def test_a_jti_twice_in_a_snapshot_is_held_once() -> None:
    jti = uuid.uuid4()
    later = NOW + timedelta(minutes=10)
    twice = PackedRefs.of([(jti, later), (jti, later + timedelta(minutes=3))])
    view = TokenStateView()
    view.load(snapshot(revoked=twice, disabled=PackedRefs.of([(jti, later)])))
    once = applied_one_by_one([(jti, later)], [])
    assert view.restricted() == ({jti.int}, set(), {})
    assert view.digest() == once.digest()


async def test_an_instance_settles_the_digest_in_the_background_between_other_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    monkeypatch.setattr(runtime, "SETTLE_INTERVAL", 0.01)
    monkeypatch.setattr(runtime, "SETTLE_SLICE", 50)
    state = runtime.TokenState(
        CommonSettings(), service="portal-router", source=mock.Mock(), broker=mock.Mock()
    )
    refs = PackedRefs.of((uuid.uuid4(), NOW + timedelta(minutes=5 + i % 300)) for i in range(3000))
    state.view.load(snapshot(revoked=refs))
    expected = TokenStateView()
    expected.load(snapshot(revoked=refs))
    ticks = 0

    async def other_work() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    settling = asyncio.create_task(state._settle())
    working = asyncio.create_task(other_work())
    try:
        async with asyncio.timeout(10):
            while not state.view.settled:
                await asyncio.sleep(0.005)
    finally:
        settling.cancel()
        working.cancel()
    assert ticks > 3000 // 50  # the loop ran other work between the slices
    assert state.view.digest() == expected.digest()


def test_loaded_entries_are_dropped_once_expired_even_before_the_digest_settles() -> None:
    now = [NOW.timestamp()]
    view = TokenStateView(clock=lambda: now[0])
    soon, later = uuid.uuid4(), uuid.uuid4()
    refs = PackedRefs.of([(soon, NOW + timedelta(seconds=30)), (later, NOW + timedelta(hours=1))])
    view.load(snapshot(revoked=refs))
    assert not view.settled
    now[0] += 200
    view.prune()
    assert view.restricted() == ({later.int}, set(), {})
    assert view.digest() == applied_one_by_one([(later, NOW + timedelta(hours=1))], []).digest()
