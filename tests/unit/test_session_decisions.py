"""The router's cache of session decisions: reused only while nothing they rest on changed."""

import time
import uuid
from datetime import UTC, datetime
from unittest import mock

import pytest
from pydantic import SecretStr

from latchkey.common.events import DomainPolicyChanged
from latchkey.common.tokenstate.runtime import TokenState
from latchkey.common.verification import Claims, TokenVerifier
from latchkey.portal.admission import Identity
from latchkey.portal.gatekeeper import SessionDecisions
from latchkey.portal.sessions import Session
from latchkey.portal.settings import RouterSettings
from tests.support.state import EMPTY

HEADER = "latchkey_session=sealed"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state() -> TokenState:
    settings = RouterSettings(session_keys=[SecretStr("k" * 43 + "=")])
    # Source and broker are never reached here: the view is loaded by hand.
    state = TokenState(settings, service="portal-router", source=mock.Mock(), broker=mock.Mock())
    state.view.load(EMPTY)
    state.sequencer.heard(0, datetime.now(UTC))
    return state


def heard_long_ago(state: TokenState) -> None:
    """The view last heard from the registry an hour ago (its clocks moved on)."""
    state.sequencer._wall = lambda: time.time() + 3600  # type: ignore[method-assign]
    state.sequencer._monotonic = lambda: time.monotonic() + 3600  # type: ignore[method-assign]


def heard_just_now(state: TokenState) -> None:
    state.sequencer._wall = time.time  # type: ignore[method-assign]
    state.sequencer._monotonic = time.monotonic  # type: ignore[method-assign]
    state.sequencer.heard(0, datetime.now(UTC))


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(mock.Mock(), issuer="latchkey", audience="latchkey")


@pytest.fixture
def decisions(verifier: TokenVerifier, state: TokenState, clock: Clock) -> SessionDecisions:
    return SessionDecisions(verifier, state, clock, size=10)


def identity(
    clock: Clock, *, session_seconds: float = 600, token_seconds: float = 3600
) -> Identity:
    claims = Claims(
        iss="latchkey",
        aud="latchkey",
        sub="u",
        jti=uuid.uuid4(),
        iat=clock.now,
        nbf=clock.now,
        exp=clock.now + token_seconds,
        portals=("agent",),
    )
    session = Session("sid", "token", "agent", clock.now, clock.now + session_seconds)
    return Identity(claims, "token", "agent", (), session)


def test_a_decision_is_reused_for_the_same_header_and_portal(
    decisions: SessionDecisions, clock: Clock
) -> None:
    admitted = identity(clock)
    decisions.remember(HEADER, admitted, decisions.stamp())
    assert decisions.recall(HEADER, "agent") is admitted
    assert decisions.recall(HEADER, "admin") is None
    assert decisions.recall(HEADER + "; other=1", "agent") is None


def test_any_change_to_the_view_sends_the_next_request_through_the_full_check(
    decisions: SessionDecisions, state: TokenState, clock: Clock
) -> None:
    decisions.remember(HEADER, identity(clock), decisions.stamp())
    # Even a change that restricts some other token.
    state.view.apply(DomainPolicyChanged(seq=1, at=datetime.now(UTC), domains=[]))
    assert decisions.recall(HEADER, "agent") is None


def test_a_withdrawn_signing_key_does_too(
    decisions: SessionDecisions, verifier: TokenVerifier, clock: Clock
) -> None:
    decisions.remember(HEADER, identity(clock), decisions.stamp())
    verifier.forget_all()
    assert decisions.recall(HEADER, "agent") is None


def test_a_stale_view_decides_afresh_every_time(
    decisions: SessionDecisions, state: TokenState, clock: Clock
) -> None:
    decisions.remember(HEADER, identity(clock), decisions.stamp())
    heard_long_ago(state)
    assert decisions.recall(HEADER, "agent") is None
    decisions.remember(HEADER + "2", identity(clock), decisions.stamp())
    heard_just_now(state)
    assert decisions.recall(HEADER + "2", "agent") is None, "made while stale: never kept"
    # In sync again with no change applied: the live view's own decision still holds.
    assert decisions.recall(HEADER, "agent") is not None


@pytest.mark.parametrize(("session_seconds", "token_seconds"), [(60, 3600), (3600, 60)])
def test_nothing_outlives_the_session_or_its_token(
    decisions: SessionDecisions, clock: Clock, session_seconds: float, token_seconds: float
) -> None:
    admitted = identity(clock, session_seconds=session_seconds, token_seconds=token_seconds)
    decisions.remember(HEADER, admitted, decisions.stamp())
    clock.now += 59
    assert decisions.recall(HEADER, "agent") is not None
    clock.now += 1
    assert decisions.recall(HEADER, "agent") is None


def test_a_decision_made_while_the_view_changed_is_not_kept(
    decisions: SessionDecisions, state: TokenState, clock: Clock
) -> None:
    stamp = decisions.stamp()
    # An event applied while the decision awaited something.
    state.view.apply(DomainPolicyChanged(seq=1, at=datetime.now(UTC), domains=[]))
    decisions.remember(HEADER, identity(clock), stamp)
    assert decisions.recall(HEADER, "agent") is None


def test_every_reuse_still_counts_as_a_use_of_the_token(
    decisions: SessionDecisions, state: TokenState, clock: Clock
) -> None:
    admitted = identity(clock)
    decisions.remember(HEADER, admitted, decisions.stamp())
    with mock.patch.object(state.receipts, "used") as used:
        decisions.recall(HEADER, "agent")
    used.assert_called_once_with(admitted.claims.jti)


def test_the_oldest_decision_makes_room(decisions: SessionDecisions, clock: Clock) -> None:
    for number in range(11):
        decisions.remember(f"{HEADER}{number}", identity(clock), decisions.stamp())
    assert decisions.recall(f"{HEADER}0", "agent") is None
    assert decisions.recall(f"{HEADER}10", "agent") is not None
