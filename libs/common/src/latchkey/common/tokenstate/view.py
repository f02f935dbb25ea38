"""The token-state view: every restriction on an unexpired token, held in memory.

Checking a token is a few set and dictionary look-ups: no database, no network. Entries are
keyed by the jti's 128-bit integer (smaller and faster to hash than its text) and dropped once
the token they restrict has expired, so memory follows the number of live restrictions; an
expiry wheel of one-minute buckets finds them without scanning.
"""

import hashlib
import math
import time
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from latchkey.common import errors
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
from latchkey.common.tokens import Claims

BUCKET_SECONDS = 60

Listener = Callable[[TokenEvent | TokenStateSnapshot], None]
"""Told of every change: an applied event, or a whole snapshot loaded in place of the state."""


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

    # --- reading (the hot path) ------------------------------------------------------------

    def check(self, claims: Claims) -> None:
        """Raise why this (signature-verified, unexpired) token may not be used; else return."""
        key = claims.jti.int
        if key in self._revoked:
            raise errors.TokenRevoked()
        not_before = self._subjects.get(claims.sub)
        if not_before is not None and claims.iat < not_before:
            raise errors.TokenRevoked()
        if key in self._disabled:
            raise errors.TokenDisabled()

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
        """Replace everything with a snapshot."""
        self._revoked.clear()
        self._disabled.clear()
        self._domains.clear()
        self._subjects.clear()
        self._subject_buckets.clear()
        self._wheel.clear()
        for ref in snapshot.revoked:
            self._revoke(ref.jti, ref.expires_at)
        for ref in snapshot.disabled:
            self._remember(self._disabled, ref.jti.int, ref.expires_at)
        for item in snapshot.domains:
            self._domains[item.jti.int] = tuple(item.domains)
            self._expire_at(item.jti.int, item.expires_at)
        for subject in snapshot.subjects:
            self._subjects[subject.user_id] = math.floor(subject.not_before.timestamp())
            self._expire_at(subject.user_id, subject.expires_at)
        self.policy_domains = tuple(snapshot.policy_domains)
        self.seq = snapshot.seq
        self.loaded = True
        self.version += 1
        for listener in self._listeners:
            listener(snapshot)

    def apply(self, event: TokenEvent) -> None:
        if event.seq != self.seq + 1:
            raise ValueError(f"event {event.seq} applied at {self.seq}")
        if isinstance(event, TokenRevoked):
            self._revoke(event.jti, event.expires_at)
        elif isinstance(event, TokenDisabled):
            if event.jti.int not in self._revoked:
                self._remember(self._disabled, event.jti.int, event.expires_at)
        elif isinstance(event, TokenEnabled):
            self._disabled.discard(event.jti.int)
        elif isinstance(event, TokenDomainsChanged):
            if event.jti.int not in self._revoked:
                self._domains[event.jti.int] = tuple(event.domains)
                self._expire_at(event.jti.int, event.expires_at)
        elif isinstance(event, UserRevoked):
            for ref in event.tokens:
                self._revoke(ref.jti, ref.expires_at)
            self._subjects[event.user_id] = max(
                self._subjects.get(event.user_id, 0), math.floor(event.not_before.timestamp())
            )
            self._expire_at(event.user_id, event.expires_at)
        elif isinstance(event, DomainPolicyChanged):
            self.policy_domains = tuple(event.domains)
        self.seq = event.seq
        self.version += 1
        for listener in self._listeners:
            listener(event)

    def skip(self, seq: int) -> None:
        """Advance over an event this version cannot read (a newer type): nothing to apply."""
        if seq != self.seq + 1:
            raise ValueError(f"event {seq} skipped at {self.seq}")
        self.seq = seq
        self.version += 1

    def prune(self) -> int:
        """Drop entries whose tokens have expired; returns how many buckets were emptied."""
        now_bucket = int(self._clock()) // BUCKET_SECONDS
        due = [bucket for bucket in self._wheel if bucket < now_bucket]
        if due:
            self.version += 1
        for bucket in due:
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

    def _revoke(self, jti: UUID, expires_at: datetime) -> None:
        key = jti.int
        self._disabled.discard(key)
        self._domains.pop(key, None)
        self._remember(self._revoked, key, expires_at)

    def _remember(self, entries: set[int], key: int, expires_at: datetime) -> None:
        if key not in entries:
            entries.add(key)
            self._expire_at(key, expires_at)

    def _expire_at(self, key: int | str, expires_at: datetime) -> None:
        # The bucket after the one holding the expiry: an entry never leaves early.
        bucket = math.ceil(expires_at.timestamp() / BUCKET_SECONDS)
        self._wheel.setdefault(bucket, []).append(key)
        if isinstance(key, str):
            self._subject_buckets[key] = max(self._subject_buckets.get(key, bucket), bucket)

    def restricted(self) -> tuple[set[int], set[int], dict[int, tuple[str, ...]]]:
        """Copies of the revoked, disabled and domain-changed entries (for tests and audits)."""
        return set(self._revoked), set(self._disabled), dict(self._domains)

    def subjects(self) -> dict[str, int]:
        """A copy of the users' not-before times (whole seconds)."""
        return dict(self._subjects)

    def digest(self) -> str:
        """A fingerprint of the restrictions in force, equal for equal states (for audits:
        two instances, or an instance and the registry's snapshot, can be compared)."""
        now_bucket = int(self._clock()) // BUCKET_SECONDS
        live = {key for bucket, keys in self._wheel.items() if bucket >= now_bucket for key in keys}
        parts = [
            ("revoked", sorted(key for key in self._revoked if key in live)),
            ("disabled", sorted(key for key in self._disabled if key in live)),
            ("domains", sorted((k, v) for k, v in self._domains.items() if k in live)),
            ("subjects", sorted((k, v) for k, v in self._subjects.items() if k in live)),
            ("policy", list(self.policy_domains)),
        ]
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
