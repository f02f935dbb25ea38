"""What a soak run does: its knobs, and the schedule of phases they make."""

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "soak"

ROUTERS = ("router", "router-2", "router-3")
REGISTRIES = ("registry", "registry-2")
INSTANCES = (*REGISTRIES, "auth", "auth-2", *ROUTERS)
"""Every instance the soak runs; `registry` starts first and runs the migrations."""
STALE_MODES = {"router": "introspect", "router-2": "deny", "router-3": "introspect"}
"""Both answers to staleness are soaked: one router refuses every token while stale."""

FAULTS = ("registry-kill", "broker-stop", "router-kill", "database-cut", "router-stall")
"""One round: each fault once, in this order."""


@dataclass(frozen=True)
class SoakConfig:
    rounds: int = 2
    """Times the five faults are run in turn, after one quiet phase."""
    phase: float = 15.0
    """Seconds each phase lasts: the fault starts `fault_at` in and everything after it is
    recovery."""
    fault_at: float = 1.0
    rate: float = 10.0
    """Revocations attempted per second, all the time."""
    stall: float = 5.0
    """Seconds a router is frozen (SIGSTOP); past the staleness bound on purpose."""
    outage: float = 5.0
    """Seconds the broker is stopped and PostgreSQL cut."""
    restart_after: float = 3.0
    """Seconds a killed process stays dead before it is started again."""
    sessions_per_router: int = 3
    session_interval: float = 0.2
    """Seconds between one signed-in session's requests."""
    max_staleness: float = 2.0
    """LATCHKEY_MAX_STALENESS given to every instance (the default)."""
    allowance: float = 0.25
    """Added to the bound before an honoured answer counts as late: the registry stamps a
    heartbeat or an answer just after reading its sequence number, and on a busy machine a
    few milliseconds (rarely tens) pass between the two."""
    database_server: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    """A PostgreSQL server to create the soak's own database on (dropped afterwards)."""
    log_dir: Path = field(default=ARTIFACTS / "logs")
    json_path: Path | None = None
    """Where the figures go (default: a file named after the run under test-artifacts/soak)."""

    @property
    def deadline(self) -> float:
        """Seconds after a revoke returned from which no instance may honour the token."""
        return self.max_staleness + self.allowance

    @property
    def follow(self) -> float:
        """Seconds each (token, instance) pair is probed after the revoke: long enough to
        see a router frozen at the worst moment resume and work through its backlog."""
        return max(self.stall, self.outage, self.restart_after) + self.deadline + 2.0

    def schedule(self) -> list["PhasePlan"]:
        plans = [PhasePlan("quiet", None, None)]
        for index in range(self.rounds):
            # Each round kills one router and freezes the next: every router takes its turn
            # over three rounds, and two rounds freeze a router of each stale mode.
            killed = ROUTERS[(1 - index) % len(ROUTERS)]
            frozen = ROUTERS[(2 - index) % len(ROUTERS)]
            prefix = f"r{index + 1} " if self.rounds > 1 else ""
            for fault in FAULTS:
                target = {"router-kill": killed, "router-stall": frozen}.get(fault)
                plans.append(PhasePlan(prefix + fault, fault, target))
        return plans

    @classmethod
    def short(cls, **overrides: Any) -> "SoakConfig":
        """Each fault once in 8-second phases (each waits for recovery anyway) at a lower rate:
        what `make test` runs."""
        return replace(cls(rounds=1, phase=8.0, rate=6.0, sessions_per_router=2), **overrides)


@dataclass(frozen=True)
class PhasePlan:
    name: str
    fault: str | None
    target: str | None
    """The router a router fault acts on (the relaying registry is found when it starts)."""
