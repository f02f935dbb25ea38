"""The view's rules: what each event restricts, domain fallbacks, expiry, and memory."""

import gc
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from latchkey.common import errors
from latchkey.common.events import (
    DomainPolicyChanged,
    TokenDisabled,
    TokenDomainsChanged,
    TokenEnabled,
    TokenRef,
    TokenRevoked,
    UserRevoked,
)
from latchkey.common.tokenstate.view import TokenStateView
from tests.support.state import EMPTY, NOW, claims


def loaded_view() -> TokenStateView:
    view = TokenStateView()
    view.load(EMPTY.model_copy(update={"policy_domains": ["p.example"]}))
    return view


def test_each_event_restricts_what_it_says() -> None:
    view = loaded_view()
    later = NOW + timedelta(hours=1)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    view.apply(TokenDisabled(seq=1, at=NOW, jti=a, expires_at=later))
    with pytest.raises(errors.TokenDisabled):
        view.check(claims(a))
    view.apply(TokenEnabled(seq=2, at=NOW, jti=a, expires_at=later))
    view.check(claims(a))
    view.apply(TokenRevoked(seq=3, at=NOW, jti=a, expires_at=later))
    with pytest.raises(errors.TokenRevoked):
        view.check(claims(a))
    view.apply(TokenDisabled(seq=4, at=NOW, jti=a, expires_at=later))
    with pytest.raises(errors.TokenRevoked):  # revoked stays revoked
        view.check(claims(a))
    view.apply(
        UserRevoked(
            seq=5,
            at=NOW,
            user_id="alice",
            not_before=NOW,
            expires_at=later,
            tokens=[TokenRef(jti=b, expires_at=later)],
        )
    )
    with pytest.raises(errors.TokenRevoked):
        view.check(claims(b, sub="alice"))
    with pytest.raises(errors.TokenRevoked):  # signed earlier, not yet recorded
        view.check(claims(c, sub="alice", iat=NOW.timestamp() - 5))
    view.check(claims(c, sub="alice", iat=NOW.timestamp() + 2))
    view.check(claims(c, sub="bob", iat=NOW.timestamp() - 5))


def test_domains_come_from_the_change_then_the_token_then_the_policy() -> None:
    view = loaded_view()
    later = NOW + timedelta(hours=1)
    jti = uuid.uuid4()
    own = claims(jti, domains=["own.example"])
    assert view.domains_for(claims(uuid.uuid4())) == ("p.example",)
    assert view.domains_for(own) == ("own.example",)
    view.apply(
        TokenDomainsChanged(seq=1, at=NOW, jti=jti, domains=["new.example"], expires_at=later)
    )
    assert view.domains_for(own) == ("new.example",)
    view.apply(TokenDomainsChanged(seq=2, at=NOW, jti=jti, domains=[], expires_at=later))
    assert view.domains_for(own) == ("p.example",)
    view.apply(DomainPolicyChanged(seq=3, at=NOW, domains=["q.example"]))
    assert view.domains_for(own) == ("q.example",)


def test_events_out_of_order_are_refused() -> None:
    view = loaded_view()
    with pytest.raises(ValueError, match="applied at"):
        view.apply(DomainPolicyChanged(seq=2, at=NOW, domains=[]))


def test_entries_drop_out_once_their_tokens_have_expired() -> None:
    now = [time.time()]
    view = TokenStateView(clock=lambda: now[0])
    view.load(EMPTY)
    soon = datetime.fromtimestamp(now[0] + 30, UTC)
    later = datetime.fromtimestamp(now[0] + 3600, UTC)
    short, long = uuid.uuid4(), uuid.uuid4()
    view.apply(TokenRevoked(seq=1, at=NOW, jti=short, expires_at=soon))
    view.apply(TokenRevoked(seq=2, at=NOW, jti=long, expires_at=later))
    view.apply(UserRevoked(seq=3, at=NOW, user_id="u", not_before=NOW, expires_at=soon, tokens=[]))
    view.apply(UserRevoked(seq=4, at=NOW, user_id="u", not_before=NOW, expires_at=later, tokens=[]))
    assert view.entries == 3
    now[0] += 200
    view.prune()
    assert not view.is_revoked(short)
    assert view.is_revoked(long)
    assert view.subjects() == {"u": int(NOW.timestamp())}  # extended by the later revocation
    now[0] += 4000
    view.prune()
    assert view.entries == 0


def test_a_revoked_token_costs_under_150_bytes() -> None:
    """Memory follows live restrictions: measured with 200,000 of them (bench: a million)."""
    view = loaded_view()
    later = datetime.now(UTC) + timedelta(hours=1)
    events = [
        TokenRevoked(seq=index, at=NOW, jti=uuid.uuid4(), expires_at=later)
        for index in range(1, 200_001)
    ]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for event in events:
        view.apply(event)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert view.entries == 200_000
    assert used / 200_000 < 150, used / 200_000
