"""The token-state view: every restriction on an unexpired token, held in memory.

Checking a token is a few set and dictionary look-ups: no database, no network. Entries are
keyed by the jti's 128-bit integer (smaller and faster to hash than its text) and dropped once
the token they restrict has expired, so memory follows the number of live restrictions; an
expiry wheel of one-minute buckets finds them without scanning.

The view also keeps a digest of itself, updated with every change: per expiry bucket, the sum
of a hash of each entry. Two views (or a view and the registry's records) agree on the entries
of tokens expiring after a cutoff exactly when their digests for that cutoff agree, and a short
history of changes gives the digest as of any recent sequence number, so an instance can be
compared with the registry while events keep flowing.
"""

import hashlib
import math
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import cast
from uuid import UUID

from latchkey.common.admission import CLEAR, TokenFacts, refusal
from latchkey.common.events import (
    DomainPolicyChanged,
    TokenDisabled,
    TokenDomainsChanged,
    TokenEnabled,
    TokenEvent,
    TokenRevoked,
    TokenStateSnapshot,
    UserRevoked,
)
from latchkey.common.packed import PackedRefs
from latchkey.common.verification import Claims

BUCKET_SECONDS = 60
"""A minute: packed snapshot references come grouped by it (`latchkey.common.packed`)."""
HISTORY = 20_000
"""Changes remembered for digests as of an earlier sequence number."""
_MODULUS = 1 << 128

Listener = Callable[[TokenEvent | TokenStateSnapshot], None]
"""Told of every change: an applied event, or a whole snapshot loaded in place of the state."""
Entry = tuple[str, int] | tuple[str, int, tuple[str, ...]] | tuple[str, str, int]


def entry_hash(entry: Entry) -> int:
    """The digest's hash of one restriction: ("revoked", jti), ("disabled", jti),
    ("domains", jti, domains) or ("subject", user id, not-before)."""
    return int.from_bytes(hashlib.blake2b(repr(entry).encode(), digest_size=16).digest(), "big")


def _hash_of(kind: str) -> Callable[[int], int]:
    """`entry_hash((kind, key))`, three times faster, for a million loaded entries."""
    blake2b, prefix = hashlib.blake2b, f"({kind!r}, "

    def hashed(key: int) -> int:
        return int.from_bytes(blake2b(f"{prefix}{key})".encode(), digest_size=16).digest(), "big")

    return hashed


_HASHES = {kind: _hash_of(kind) for kind in ("revoked", "disabled")}


def bucket_of(expires_at: datetime) -> int:
    """The bucket after the one holding the expiry: an entry never leaves early."""
    return math.ceil(expires_at.timestamp() / BUCKET_SECONDS)


def state_digest(total: int, policy: tuple[str, ...]) -> str:
    return hashlib.sha256(f"{total % _MODULUS:032x}|{','.join(policy)}".encode()).hexdigest()[:32]


class TokenStateView:
    """State as of sequence number `seq`; `apply` must be given events in sequence order."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.seq = 0
        self.loaded = False
        self.version = 0
        """Bumped by every change: a decision cached at one version holds until the next."""
        self._revoked: set[int] = set()
        self._disabled: set[int] = set()
        self._domains: dict[int, tuple[str, ...]] = {}
        self._subjects: dict[str, int] = {}
        self._subject_buckets: dict[str, int] = {}
        self.policy_domains: tuple[str, ...] = ()
        self._wheel: dict[int, list[int | str]] = {}
        self._listeners: list[Listener] = []
        self._sums: dict[int, int] = {}
        """Per expiry bucket, the sum of the entry hashes in it (modulo 2**128)."""
        self._history: deque[tuple[int, int, int]] = deque(maxlen=HISTORY)
        """(seq, bucket, change to that bucket's sum) for recent events."""
        self._history_from = 0
        """The digest is known as of every sequence number from this one on."""
        self._recording = False
        self._policy_history: deque[tuple[int, tuple[str, ...]]] = deque(maxlen=HISTORY)
        """(seq, the policy before that event changed it) for recent policy changes."""
        self._unsettled: list[tuple[str, int, list[int], int, int]] = []
        """(kind, bucket, jtis, start, end): loaded entries (`jtis[start:end]`) whose hashes
        are not in `_sums` yet."""

    # --- reading (the hot path) ------------------------------------------------------------

    def facts(self, claims: Claims) -> TokenFacts:
        """What the view knows of this token (`latchkey.common.admission` decides)."""
        key = claims.jti.int
        revoked = key in self._revoked
        disabled = key in self._disabled
        not_before = self._subjects.get(claims.sub)
        if not revoked and not disabled and not_before is None:
            return CLEAR
        return TokenFacts(revoked=revoked, disabled=disabled, subject_not_before=not_before)

    def check(self, claims: Claims) -> None:
        """Raise why this (signature-verified, unexpired) token may not be used; else return."""
        error = refusal(claims, self.facts(claims))
        if error is not None:
            raise error

    def domains_for(self, claims: Claims) -> tuple[str, ...]:
        """The token's allowed domains: changed by an admin, else its own, else the policy."""
        override = self._domains.get(claims.jti.int)
        if override is not None:
            return override or self.policy_domains
        return claims.domains or self.policy_domains

    def is_revoked(self, jti: UUID) -> bool:
        return jti.int in self._revoked

    @property
    def entries(self) -> int:
        return len(self._revoked) + len(self._disabled) + len(self._domains) + len(self._subjects)

    # --- writing -------------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` after each applied event and each loaded snapshot (e.g. to close
        connections at once: a revocation may arrive in either)."""
        self._listeners.append(listener)

    def load(self, snapshot: TokenStateSnapshot) -> None:
        """Replace everything with a snapshot. The packed references are in force at once
        (one set update each kind); their places in the expiry wheel and the digest's sums of
        their hashes (a microsecond or two each) are left for `settle`, which `digest_at` and
        `prune` call first, so a million entries are in force in well under a second."""
        self._recording = False
        for entries in (self._revoked, self._disabled, self._domains, self._subjects):
            entries.clear()
        self._subject_buckets.clear()
        self._wheel.clear()
        self._sums.clear()
        self._history.clear()
        self._policy_history.clear()
        self._unsettled.clear()
        self.seq = snapshot.seq
        self._history_from = snapshot.seq
        self._file(snapshot.revoked, self._revoked, "revoked")
        disabled = snapshot.disabled
        if self._revoked.isdisjoint(disabled.keys()):
            self._file(disabled, self._disabled, "disabled")
        else:  # never from the registry; then one at a time, as events would do
            keys = disabled.keys()
            for bucket, start, end in self._buckets(disabled):
                for key in keys[start:end]:
                    if key not in self._revoked:
                        self._disable(key, bucket)
        for item in snapshot.domains:
            self._set_domains(item.jti.int, tuple(item.domains), bucket_of(item.expires_at))
        for subject in snapshot.subjects:
            self._revoke_subject(
                subject.user_id,
                math.floor(subject.not_before.timestamp()),
                bucket_of(subject.expires_at),
            )
        self.policy_domains = tuple(snapshot.policy_domains)
        self.loaded = True
        self._recording = True
        self.version += 1
        for listener in self._listeners:
            listener(snapshot)

    def _file(self, refs: PackedRefs, into: set[int], kind: str) -> None:
        """Put packed references in `into` (empty: `load` cleared it); their places in the
        wheel and their hashes in the digest are owed (`_unsettled`, see `settle`)."""
        keys = refs.keys()
        before = len(into)
        into.update(keys)
        if len(into) - before != len(keys):  # a jti twice: never from the registry
            into.difference_update(keys)
            for bucket, start, end in self._buckets(refs):
                for key in keys[start:end]:
                    if key not in into:
                        into.add(key)
                        self._expire_at(key, bucket)
                        self._count((kind, key), bucket, 1)
            return
        self._unsettled += [(kind, bucket, keys, a, b) for bucket, a, b in self._buckets(refs)]

    @staticmethod
    def _buckets(refs: PackedRefs) -> list[tuple[int, int, int]]:
        """(bucket, start, end) of packed references: the packed format groups them by the
        minute they expire in, rounded up, which is `bucket_of` with minute-long buckets."""
        return refs.runs()

    @property
    def settled(self) -> bool:
        """Whether the digest's sums include every entry (see `load`)."""
        return not self._unsettled

    def settle(self, budget: int | None = None) -> bool:
        """File about `budget` loaded entries (all, with None) in the expiry wheel and add
        their hashes to the digest's sums; True once none are left. Their effect is as of
        the snapshot, so it adds to whatever events did since (`prune` settles first)."""
        left = math.inf if budget is None else budget
        wheel = self._wheel
        while self._unsettled and left > 0:
            kind, bucket, keys, start, end = self._unsettled.pop()
            left -= end - start
            run = keys[start:end]
            filed = wheel.get(bucket)
            if filed is None:
                wheel[bucket] = cast("list[int | str]", run)  # (its own list: no copy)
            else:
                filed += run
            total = sum(map(_HASHES[kind], run))
            self._sums[bucket] = (self._sums.get(bucket, 0) + total) % _MODULUS
        return not self._unsettled

    def apply(self, event: TokenEvent) -> None:
        if event.seq != self.seq + 1:
            raise ValueError(f"event {event.seq} applied at {self.seq}")
        self.seq = event.seq
        if isinstance(event, TokenRevoked):
            self._revoke(event.jti.int, bucket_of(event.expires_at))
        elif isinstance(event, TokenDisabled):
            if event.jti.int not in self._revoked:
                self._disable(event.jti.int, bucket_of(event.expires_at))
        elif isinstance(event, TokenEnabled):
            if event.jti.int in self._disabled:
                self._disabled.discard(event.jti.int)
                self._count(("disabled", event.jti.int), bucket_of(event.expires_at), -1)
        elif isinstance(event, TokenDomainsChanged):
            if event.jti.int not in self._revoked:
                self._set_domains(event.jti.int, tuple(event.domains), bucket_of(event.expires_at))
        elif isinstance(event, UserRevoked):
            for ref in event.tokens:
                self._revoke(ref.jti.int, bucket_of(ref.expires_at))
            self._revoke_subject(
                event.user_id,
                math.floor(event.not_before.timestamp()),
                bucket_of(event.expires_at),
            )
        elif isinstance(event, DomainPolicyChanged):
            if len(self._policy_history) == self._policy_history.maxlen:
                self._history_from = max(self._history_from, self._policy_history[0][0])
            self._policy_history.append((event.seq, self.policy_domains))
            self.policy_domains = tuple(event.domains)
        self.version += 1
        for listener in self._listeners:
            listener(event)

    def prune(self) -> int:
        """Drop entries whose tokens have expired; returns how many buckets were emptied."""
        self.settle()  # a loaded entry is in the wheel once settled
        now_bucket = int(self._clock()) // BUCKET_SECONDS
        due = [bucket for bucket in self._wheel if bucket < now_bucket]
        if due:
            self.version += 1
        for bucket in due:
            self._sums.pop(bucket, None)
            for key in self._wheel.pop(bucket):
                if isinstance(key, str):
                    # A later revocation of the same user may have pushed its expiry out.
                    if self._subject_buckets.get(key, bucket) <= bucket:
                        self._subjects.pop(key, None)
                        self._subject_buckets.pop(key, None)
                else:
                    self._revoked.discard(key)
                    self._disabled.discard(key)
                    self._domains.pop(key, None)
        return len(due)

    def _revoke(self, key: int, bucket: int) -> None:
        if key in self._disabled:
            self._disabled.discard(key)
            self._count(("disabled", key), bucket, -1)
        old = self._domains.pop(key, None)
        if old is not None:
            self._count(("domains", key, old), bucket, -1)
        if key not in self._revoked:
            self._revoked.add(key)
            self._expire_at(key, bucket)
            self._count(("revoked", key), bucket, 1)

    def _disable(self, key: int, bucket: int) -> None:
        if key not in self._disabled:
            self._disabled.add(key)
            self._expire_at(key, bucket)
            self._count(("disabled", key), bucket, 1)

    def _set_domains(self, key: int, domains: tuple[str, ...], bucket: int) -> None:
        old = self._domains.get(key)
        if old == domains:
            return
        if old is not None:
            self._count(("domains", key, old), bucket, -1)
        else:
            self._expire_at(key, bucket)
        self._domains[key] = domains
        self._count(("domains", key, domains), bucket, 1)

    def _revoke_subject(self, user_id: str, not_before: int, bucket: int) -> None:
        old = self._subjects.get(user_id)
        old_bucket = self._subject_buckets.get(user_id)
        if old is not None and old_bucket is not None:
            not_before, bucket = max(old, not_before), max(old_bucket, bucket)
            if (not_before, bucket) == (old, old_bucket):
                return
            self._count(("subject", user_id, old), old_bucket, -1)
        self._subjects[user_id] = not_before
        self._subject_buckets[user_id] = bucket
        self._wheel.setdefault(bucket, []).append(user_id)
        self._count(("subject", user_id, not_before), bucket, 1)

    def _expire_at(self, key: int, bucket: int) -> None:
        self._wheel.setdefault(bucket, []).append(key)

    def _count(self, entry: Entry, bucket: int, sign: int) -> None:
        delta = (sign * entry_hash(entry)) % _MODULUS
        self._sums[bucket] = (self._sums.get(bucket, 0) + delta) % _MODULUS
        if self._recording:
            if len(self._history) == self._history.maxlen:
                self._history_from = self._history[0][0]
            self._history.append((self.seq, bucket, delta))

    # --- comparing -----------------------------------------------------------------------------

    def digest_at(self, seq: int, cutoff: int) -> str | None:
        """The digest as of `seq` of the entries of tokens expiring after `cutoff` (a multiple
        of BUCKET_SECONDS, in the future) and of the policy; None when `seq` is older than what
        the view remembers or newer than it has applied. Equal states give equal digests,
        whatever order their changes came in."""
        if not self._history_from <= seq <= self.seq:
            return None
        self.settle()
        first = cutoff // BUCKET_SECONDS + 1
        total = sum(value for bucket, value in self._sums.items() if bucket >= first)
        for changed_at, bucket, delta in reversed(self._history):
            if changed_at <= seq:
                break
            if bucket >= first:
                total -= delta
        policy = self.policy_domains
        for changed_at, before in reversed(self._policy_history):
            if changed_at <= seq:
                break
            policy = before
        return state_digest(total, policy)

    def digest(self) -> str:
        """A fingerprint of the restrictions in force now, equal for equal states (two
        instances, or an instance and the registry's snapshot, can be compared)."""
        now_bucket = int(self._clock()) // BUCKET_SECONDS
        found = self.digest_at(self.seq, (now_bucket - 1) * BUCKET_SECONDS)
        assert found is not None
        return found

    def restricted(self) -> tuple[set[int], set[int], dict[int, tuple[str, ...]]]:
        """Copies of the revoked, disabled and domain-changed entries (for tests and audits)."""
        return set(self._revoked), set(self._disabled), dict(self._domains)

    def subjects(self) -> dict[str, int]:
        """A copy of the users' not-before times (whole seconds)."""
        return dict(self._subjects)
