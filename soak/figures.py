"""What a soak measured, phase by phase, and the figures made of it."""

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from soak.config import ROUTERS
from soak.judge import PairJudge

ZEROS = ("honouredPastBound", "cameBack", "eventsLost")
"""The figures that must be zero."""


@dataclass
class Revocation:
    phase: str
    jti: str
    token: str
    status: str = "pending"
    """The revoke call's HTTP status, or what happened instead (`unreachable`, `timeout`)."""
    judges: dict[str, PairJudge] = field(default_factory=dict)

    @property
    def confirmed(self) -> bool:
        return self.status == "200"

    def every_router_refused_after(self) -> float | None:
        """Seconds until the last router refused; None if one never did while watched."""
        delays = [self.judges[name].delay for name in ROUTERS if name in self.judges]
        if len(delays) < len(ROUTERS) or any(delay is None for delay in delays):
            return None
        return max(delay for delay in delays if delay is not None)


@dataclass
class Phase:
    name: str
    fault: str = ""
    """What was done to the system, as said when it was done."""
    revocations: list[Revocation] = field(default_factory=list)
    signed_in: dict[str, Counter[str]] = field(default_factory=dict)
    """Answers to signed-in users' requests by router and status (or `unreachable`,
    `timeout`)."""
    recovery: dict[str, float | None] = field(default_factory=dict)
    """Seconds from the fault's end until each instance was ready again (None: never)."""
    events_lost: int = 0
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        confirmed = [r for r in self.revocations if r.confirmed]
        delays = [d for r in confirmed if (d := r.every_router_refused_after()) is not None]
        judges = [judge for r in confirmed for judge in r.judges.values()]
        answers: Counter[str] = sum(self.signed_in.values(), Counter())
        return {
            "phase": self.name,
            "fault": self.fault,
            "seconds": round(self.seconds, 1),
            "revocations": {
                "attempted": len(self.revocations),
                "confirmed": len(confirmed),
                "failed": len(self.revocations) - len(confirmed),
                "statuses": dict(sorted(Counter(r.status for r in self.revocations).items())),
            },
            "everyRouterRefusedMs": {
                "p50": _ms(percentile(delays, 50)),
                "p99": _ms(percentile(delays, 99)),
                "max": _ms(max(delays, default=None)),
                "notWithinWatch": len(confirmed) - len(delays),
            },
            "slowest": [_slowest(r) for r in sorted(confirmed, key=_delay, reverse=True)[:3]],
            "probes": sum(judge.probes for judge in judges),
            "honouredPastBound": sum(judge.late for judge in judges),
            "cameBack": sum(judge.came_back for judge in judges),
            "eventsLost": self.events_lost,
            "signedIn": {
                "requests": answers.total(),
                "5xx": _server_errors(answers),
                "statuses": dict(sorted(answers.items())),
                "5xxByRouter": {
                    router: _server_errors(counts)
                    for router, counts in sorted(self.signed_in.items())
                    if _server_errors(counts)
                },
            },
            "recoverySeconds": {
                name: None if seconds is None else round(seconds, 2)
                for name, seconds in self.recovery.items()
            },
        }

    def count_signed_in(self, router: str, status: str) -> None:
        self.signed_in.setdefault(router, Counter())[status] += 1


def _delay(revocation: Revocation) -> float:
    found = revocation.every_router_refused_after()
    return float("inf") if found is None else found


def _slowest(revocation: Revocation) -> dict[str, Any]:
    """The last router to refuse a revocation, and how it did (to read the tail by)."""
    judges = [revocation.judges[name] for name in ROUTERS if name in revocation.judges]
    last = max(judges, key=lambda judge: judge.delay if judge.delay is not None else 1e9)
    refusal = last.first_refusal
    return {
        "router": last.instance,
        "delayMs": _ms(last.delay),
        "refusal": None if refusal is None else refusal.reason or str(refusal.status),
        "sentAfterMs": None if refusal is None else _ms(refusal.sent - last.revoked_at),
        "probes": last.probes,
    }


def _server_errors(counts: Counter[str]) -> int:
    return sum(n for status, n in counts.items() if status.startswith("5"))


def percentile(values: list[float], rank: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def totals(phases: list[dict[str, Any]]) -> dict[str, int]:
    keys = (*ZEROS, "probes")
    found = {key: sum(phase[key] for phase in phases) for key in keys}
    found["revocationsConfirmed"] = sum(p["revocations"]["confirmed"] for p in phases)
    found["signedIn5xx"] = sum(p["signedIn"]["5xx"] for p in phases)
    return found
