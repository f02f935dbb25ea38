"""The soak's verdicts on one (revoked token, instance) pair, and the schedule it runs."""

import pytest

from soak.config import FAULTS, ROUTERS, SoakConfig
from soak.figures import Phase, Revocation, percentile
from soak.judge import Answer, PairJudge, Stalls

REVOKED_AT = 100.0
DEADLINE = 102.25


def judge() -> PairJudge:
    return PairJudge("router", REVOKED_AT, DEADLINE)


def honoured(sent: float, received: float | None = None) -> Answer:
    return Answer(sent, sent if received is None else received, True, None, 200)


def refused(sent: float, reason: str = "token_revoked", status: int | None = 200) -> Answer:
    return Answer(sent, sent + 0.001, False, reason, status)


def test_honoured_before_the_deadline_is_within_the_bound() -> None:
    pair = judge()
    pair.see(honoured(100.5))
    pair.see(refused(101.0))
    assert (pair.late, pair.came_back) == (False, False)
    assert pair.delay == pytest.approx(1.001)


def test_honoured_to_a_probe_sent_past_the_deadline_is_late() -> None:
    pair = judge()
    pair.see(honoured(DEADLINE + 0.01))
    assert pair.late


def test_an_answer_that_arrives_late_to_an_early_probe_is_not_judged_late() -> None:
    """A frozen instance answers when it resumes; it decided some time after the probe was
    sent, perhaps before the deadline."""
    pair = judge()
    pair.see(honoured(101.0, received=106.0))
    assert not pair.late


def test_a_frozen_instance_decides_after_it_resumes() -> None:
    """Probes sent while an instance was frozen wait in its socket: honoured on resuming
    past the deadline is late, however early the probe was sent."""
    stalls = Stalls()
    stalls.frozen("router-3", 100.5)
    stalls.resumed("router-3", 105.5)
    pair = PairJudge("router-3", REVOKED_AT, DEADLINE)
    sent, received = 101.0, 105.6
    resumed = stalls.resumed_after("router-3", sent, received)
    pair.see(Answer(sent, received, True, None, 200, resumed=resumed))
    assert (resumed, pair.late) == (105.5, True)
    assert stalls.resumed_after("router-3", 100.4, 105.6) is None  # sent before it froze
    assert stalls.resumed_after("router", sent, received) is None


def test_honoured_after_saying_revoked_came_back_even_within_the_bound() -> None:
    pair = judge()
    pair.see(refused(100.1))
    pair.see(honoured(100.2))
    assert (pair.came_back, pair.late) == (True, False)


def test_a_stale_refusal_then_honoured_within_the_bound_is_not_came_back() -> None:
    """Deny mode refuses everything while stale; back in sync within the bound it may still
    honour a token whose revocation it has not applied yet."""
    pair = judge()
    pair.see(refused(100.1, "token_state_stale", 503))
    pair.see(honoured(100.3))
    assert (pair.late, pair.came_back) == (False, False)


def test_no_answer_counts_as_refusing_for_the_delay() -> None:
    pair = judge()
    pair.see(Answer(100.0, 100.002, False, "unreachable", None))
    assert (pair.refused_at, pair.revoked_seen) == (100.002, False)


def test_every_router_refused_after_is_the_slowest_router() -> None:
    revocation = Revocation("quiet", "jti", "token", status="200")
    for index, name in enumerate(ROUTERS):
        revocation.judges[name] = pair = PairJudge(name, REVOKED_AT, DEADLINE)
        pair.see(refused(REVOKED_AT + 0.01 * (index + 1)))
    assert revocation.every_router_refused_after() == pytest.approx(0.031)
    revocation.judges["router-2"] = PairJudge("router-2", REVOKED_AT, DEADLINE)
    assert revocation.every_router_refused_after() is None


def test_a_phase_counts_pairs_only_of_confirmed_revocations() -> None:
    phase = Phase("quiet")
    confirmed = Revocation("quiet", "a", "t", status="200")
    confirmed.judges["router"] = late = judge()
    late.see(honoured(DEADLINE + 1))
    phase.revocations += [confirmed, Revocation("quiet", "b", "u", status="503")]
    phase.count_signed_in("router-2", "503")
    phase.count_signed_in("router", "200")
    figures = phase.figures()
    assert figures["revocations"] == {
        "attempted": 2, "confirmed": 1, "failed": 1, "statuses": {"200": 1, "503": 1}
    }  # fmt: skip
    assert figures["honouredPastBound"] == 1
    assert figures["signedIn"]["5xxByRouter"] == {"router-2": 1}


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (50, 99, None)


def test_each_round_runs_every_fault_and_rotates_the_routers() -> None:
    plans = SoakConfig(rounds=3).schedule()
    assert plans[0].fault is None
    assert [plan.fault for plan in plans[1:]] == list(FAULTS) * 3
    stalled = [plan.target for plan in plans if plan.fault == "router-stall"]
    killed = [plan.target for plan in plans if plan.fault == "router-kill"]
    assert sorted(stalled) == sorted(killed) == sorted(ROUTERS)
    assert all(s != k for s, k in zip(stalled, killed, strict=True))
