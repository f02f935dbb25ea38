"""The snapshot's packed token references: round trips, bounds, and malformed input refused
with a message that says what is wrong (never a crash)."""

import base64
import struct
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from latchkey.common.events import TokenDomains, TokenStateSnapshot
from latchkey.common.packed import EMPTY_REFS, MAX_EXPIRY, PackedRefs
from latchkey.common.tokenstate.view import BUCKET_SECONDS, TokenStateView, entry_hash

NOW = datetime.now(UTC).replace(microsecond=0)


def packed(*pairs: tuple[uuid.UUID, int]) -> bytes:
    jtis = b"".join(jti.bytes for jti, _ in pairs)
    return jtis + struct.pack(f">{len(pairs)}q", *(expiry for _, expiry in pairs))


def snapshot(**fields: object) -> TokenStateSnapshot:
    values: dict[str, object] = {
        "seq": 3, "at": NOW, "revoked": EMPTY_REFS, "disabled": EMPTY_REFS, "domains": [],
        "subjects": [], "policy_domains": [],
    }  # fmt: skip
    values.update(fields)
    return TokenStateSnapshot.model_validate(values)


def test_references_round_trip_in_order_of_expiry_rounded_up_to_the_second() -> None:
    early, late = uuid.uuid4(), uuid.uuid4()
    refs = PackedRefs.of([(late, NOW + timedelta(hours=2)), (early, NOW + timedelta(seconds=1.2))])
    assert list(refs) == [(early, NOW + timedelta(seconds=2)), (late, NOW + timedelta(hours=2))]
    assert refs.keys() == [early.int, late.int]
    assert len(refs) == 2
    assert PackedRefs.decode(refs.encode()) == refs


def test_a_snapshot_round_trips_through_its_wire_form() -> None:
    refs = PackedRefs.of((uuid.uuid4(), NOW + timedelta(minutes=i)) for i in range(500))
    domains = [TokenDomains(jti=uuid.uuid4(), domains=["a.example"], expires_at=NOW)]
    original = snapshot(revoked=refs, disabled=PackedRefs.of([]), domains=domains)
    wire = original.wire()
    assert isinstance(wire["revoked"], str)
    assert wire["disabled"] == ""
    assert wire["v"] == 2
    assert TokenStateSnapshot.model_validate(wire) == original
    assert TokenStateSnapshot.model_validate_json(original.model_dump_json(by_alias=True)) == original


def test_runs_give_each_expiry_bucket_its_slice() -> None:
    base = 1_800_000_000 - 1_800_000_000 % BUCKET_SECONDS  # a bucket boundary
    expiries = [base, base + 1, base + 60, base + 61, base + 3600]
    refs = PackedRefs(packed(*((uuid.uuid4(), e) for e in expiries)))
    runs = list(refs.runs(BUCKET_SECONDS))
    first = base // BUCKET_SECONDS
    assert runs == [(first, 0, 1), (first + 1, 1, 3), (first + 2, 3, 4), (first + 60, 4, 5)]


def test_the_extremes_of_the_format_are_accepted() -> None:
    refs = PackedRefs(packed((uuid.UUID(int=0), 0), (uuid.UUID(int=2**128 - 1), MAX_EXPIRY)))
    assert refs.keys() == [0, 2**128 - 1]
    assert [at for _, at in refs] == [datetime(1970, 1, 1, tzinfo=UTC),
                                      datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]  # fmt: skip
    assert len(EMPTY_REFS) == 0 and list(EMPTY_REFS) == []


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\x00" * 23, "not a whole number"),
        (b"\x00" * 25, "not a whole number"),
        (packed((uuid.uuid4(), 2_000_000_000), (uuid.uuid4(), 1_900_000_000)), "order of expiry"),
        (packed((uuid.uuid4(), -1)), "outside years 1970-9999"),
        (packed((uuid.uuid4(), MAX_EXPIRY + 1)), "outside years 1970-9999"),
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
        ("QUFB\nQUFB", "not base64"),  # line breaks are not part of the format
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


def test_a_loaded_view_holds_exactly_what_events_would_have_given_it() -> None:
    """Filing packed references a bucket at a time, with their hashes added later, gives the
    same view and the same digest as applying them one by one."""
    revoked = [(uuid.uuid4(), NOW + timedelta(minutes=i % 97, seconds=i % 13)) for i in range(3000)]
    disabled = [(uuid.uuid4(), NOW + timedelta(minutes=i % 89)) for i in range(700)]
    loaded = TokenStateView()
    loaded.load(snapshot(revoked=PackedRefs.of(revoked), disabled=PackedRefs.of(disabled)))
    assert not loaded.settled
    slow = TokenStateView()
    slow.load(snapshot())
    slow.seq = 3
    for jti, at in revoked:
        slow._revoke(jti.int, -(-int(at.timestamp() + 0.999999) // BUCKET_SECONDS))
    for jti, at in disabled:
        slow._disable(jti.int, -(-int(at.timestamp() + 0.999999) // BUCKET_SECONDS))
    assert loaded.restricted() == slow.restricted()
    assert loaded.digest() == slow.digest()
    assert loaded.settled
    assert {b: sorted(k) for b, k in loaded._wheel.items()} == {
        b: sorted(k) for b, k in slow._wheel.items()
    }


def test_the_fast_hash_is_the_digest_hash() -> None:
    from latchkey.common.tokenstate.view import _HASHES

    for key in (0, 1, 2**128 - 1, uuid.uuid4().int):
        assert _HASHES["revoked"](key) == entry_hash(("revoked", key))
        assert _HASHES["disabled"](key) == entry_hash(("disabled", key))


def test_settling_a_little_at_a_time_gives_the_same_digest() -> None:
    refs = PackedRefs.of((uuid.uuid4(), NOW + timedelta(minutes=i)) for i in range(5, 400))
    whole, bit_by_bit = TokenStateView(), TokenStateView()
    whole.load(snapshot(revoked=refs))
    bit_by_bit.load(snapshot(revoked=refs))
    while not bit_by_bit.settle(7):
        pass
    assert whole.digest() == bit_by_bit.digest()


def test_a_jti_twice_in_a_snapshot_is_held_once() -> None:
    jti = uuid.uuid4()
    twice = PackedRefs(packed((jti, 1_900_000_000), (jti, 1_900_000_100)))
    view, once = TokenStateView(), TokenStateView()
    view.load(snapshot(revoked=twice, disabled=PackedRefs.of([(jti, NOW)])))
    once.load(snapshot(revoked=PackedRefs(packed((jti, 1_900_000_000)))))
    assert view.restricted() == ({jti.int}, set(), {})
    assert view.digest() == once.digest()
