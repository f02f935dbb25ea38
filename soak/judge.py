"""The rules that make the three zeros, applied to one (revoked token, instance) pair.

After a revoke call returns at time t, every answer the instance gives about the token is
judged: honoured when the instance decided after t + bound + allowance is *late* (the pair
was honoured past the bound); honoured after the instance had once said `token_revoked` is
*came back*. When it decided is known only as "after the probe was sent" (so a late verdict
is never the soak's own delay), or, for a probe sent while the instance was frozen and
answered after it resumed, "after it resumed": a stalled process reads nothing. Anything but
"honoured" (a refusal, a 503 while stale, no process listening) counts as the instance
refusing, for the delay figure.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    sent: float
    """When the probe was sent (monotonic seconds)."""
    received: float
    honoured: bool
    reason: str | None
    """The refusal's reason, or what stood in for an answer (`unreachable`, `timeout`)."""
    status: int | None
    resumed: float | None = None
    """When the instance resumed, if it was frozen when the probe was sent."""

    @property
    def decided_after(self) -> float:
        """The instance decided no earlier than this."""
        return self.sent if self.resumed is None else max(self.sent, self.resumed)


@dataclass
class Stalls:
    """When each instance was frozen (SIGSTOP) and resumed (SIGCONT), monotonic seconds."""

    windows: dict[str, list[tuple[float, float | None]]] = field(default_factory=dict)

    def frozen(self, name: str, at: float) -> None:
        """Call once the SIGSTOP has been sent: from then on it reads nothing."""
        self.windows.setdefault(name, []).append((at, None))

    def resumed(self, name: str, at: float) -> None:
        """Call just before sending SIGCONT: it runs again only after this."""
        start, _ = self.windows[name][-1]
        self.windows[name][-1] = (start, at)

    def resumed_after(self, name: str, sent: float, received: float) -> float | None:
        """When `name` resumed, if it was frozen at `sent` and running again by `received`."""
        for start, end in self.windows.get(name, ()):
            if end is not None and start <= sent < end <= received:
                return end
        return None


@dataclass
class PairJudge:
    instance: str
    revoked_at: float
    """When the revoke call returned (monotonic seconds)."""
    deadline: float
    """From this time on (monotonic seconds) the instance must not honour the token."""
    refused_at: float | None = None
    revoked_seen: bool = False
    late: bool = False
    came_back: bool = False
    probes: int = 0
    first_refusal: Answer | None = None

    def see(self, answer: Answer) -> None:
        self.probes += 1
        if answer.honoured:
            if answer.decided_after >= self.deadline:
                self.late = True
            if self.revoked_seen:
                self.came_back = True
            return
        if self.refused_at is None:
            self.refused_at, self.first_refusal = answer.received, answer
        if answer.reason == "token_revoked":
            self.revoked_seen = True

    @property
    def delay(self) -> float | None:
        """Seconds from the revoke returning to the instance's first refusal."""
        return None if self.refused_at is None else max(0.0, self.refused_at - self.revoked_at)
