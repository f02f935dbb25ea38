"""The steady load on the token state: fresh tokens from logins, and revocations at a fixed
rate, each followed on every instance."""

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from soak.config import SoakConfig
from soak.figures import Phase, Revocation
from soak.judge import PairJudge
from soak.probes import Prober, sleep_until
from soak.rig import Rig
from tests.support.stack import USER_PASSWORD

LOGIN_BODY = {"channel": "FLUTTER", "platform": "BYTEDESK"}
CALL_TIMEOUT = aiohttp.ClientTimeout(total=10)
FAST_PROBE = 0.005
"""Seconds between probes of a pair until the instance refuses (the delay figure's grain)."""
SLOW_PROBE = 1.5
"""...and afterwards, watching for the token coming back."""
BUFFER_SECONDS = 3.0
"""Tokens kept ready, in seconds of revocations: logins stop when PostgreSQL is cut."""
LOGIN_WORKERS = 6
"""Logins at once: one at a time cannot keep up with the revocations on a busy machine."""


@dataclass
class Clock:
    """The phase now running: everything counted is counted in it."""

    phase: Phase


def outcome(exc: BaseException) -> str:
    return "timeout" if isinstance(exc, TimeoutError) else "unreachable"


class TokenSupply:
    """Logs users in through every auth instance in turn, keeping a few tokens ready."""

    def __init__(self, rig: Rig, session: aiohttp.ClientSession, users: list[str]) -> None:
        self._rig = rig
        self._session = session
        self._users = users
        self._tokens: deque[str] = deque()
        self._want = max(5, int(rig.config.rate * BUFFER_SECONDS))
        self.logins = 0

    def take(self) -> str | None:
        return self._tokens.popleft() if self._tokens else None

    async def login(self, username: str, instance: str = "auth") -> str | None:
        url = self._rig.instance(instance).url + "/auth/v1/login"
        body = {"username": username, "password": USER_PASSWORD, **LOGIN_BODY}
        try:
            async with self._session.post(url, json=body, timeout=CALL_TIMEOUT) as response:
                if response.status != 200:
                    return None
                token: str = (await response.json())["data"]["accessToken"]
                return token
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None

    async def run(self, workers: int = LOGIN_WORKERS) -> None:
        await asyncio.gather(*(self._work(index) for index in range(workers)))

    async def _work(self, index: int) -> None:
        turn = index
        while True:
            if len(self._tokens) >= self._want:
                await asyncio.sleep(0.05)
                continue
            turn += 1
            instance = ("auth", "auth-2")[turn % 2]
            token = await self.login(self._users[turn % len(self._users)], instance)
            if token is None:
                await asyncio.sleep(0.2)
                continue
            self.logins += 1
            self._tokens.append(token)


class Revoker:
    """Revokes a fresh token `rate` times a second through the registries' balancer and, for
    each one the registry confirms, follows the token on every instance (`PairJudge`)."""

    def __init__(
        self,
        rig: Rig,
        *,
        prober: Prober,
        supply: TokenSupply,
        clock: Clock,
        admin: str,
        session: aiohttp.ClientSession,
    ) -> None:
        self._rig = rig
        self._config: SoakConfig = rig.config
        self._prober = prober
        self._supply = supply
        self._clock = clock
        self._headers = {"Authorization": f"Bearer {admin}"}
        self._session = session
        self._calls: set[asyncio.Task[None]] = set()
        self._follows: set[asyncio.Task[None]] = set()
        self.revocations: list[Revocation] = []

    async def run(self) -> None:
        """Until cancelled: one revocation every 1/rate seconds, on a fixed beat."""
        period = 1.0 / self._config.rate
        beat = time.monotonic()
        while True:
            beat += period
            await sleep_until(beat)
            token = self._supply.take()
            phase = self._clock.phase
            if token is None:  # logins failing (PostgreSQL cut): counted as a failed attempt
                phase.revocations.append(Revocation(phase.name, "", "", status="no token"))
                continue
            jti = jwt.decode(token, options={"verify_signature": False})["jti"]
            revocation = Revocation(phase.name, jti, token)
            phase.revocations.append(revocation)
            self.revocations.append(revocation)
            _spawn(self._calls, self._revoke(revocation))

    async def finish(self) -> None:
        """Once `run` is cancelled: let the calls under way return, follow their tokens past
        the deadline, then stop following (the sweep looks at every pair once more)."""
        await asyncio.gather(*self._calls)
        deadlines = [j.deadline for r in self.revocations for j in r.judges.values()]
        await sleep_until(max(deadlines, default=0.0) + 0.1)
        for task in list(self._follows):
            task.cancel()
        await asyncio.gather(*self._follows, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def cancelled_on_exit(self) -> AsyncIterator[None]:
        """Calls and follows still under way when the soak ends early (a phase failed) are
        cancelled before the sessions they use close, rather than failing one by one later."""
        try:
            yield
        finally:
            left = [*self._calls, *self._follows]
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)

    async def _revoke(self, revocation: Revocation) -> None:
        url = f"{self._rig.registry_url}/api/v1/tokens/{revocation.jti}/revoke"
        try:
            async with self._session.post(
                url, json={"reason": "soak"}, headers=self._headers, timeout=CALL_TIMEOUT
            ) as response:
                await response.read()
                revocation.status = str(response.status)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            revocation.status = outcome(exc)
            return
        if not revocation.confirmed:
            return
        returned = time.monotonic()
        for instance in self._rig.instances:
            judge = PairJudge(instance.name, returned, returned + self._config.deadline)
            revocation.judges[instance.name] = judge
            _spawn(self._follows, self._follow(instance.name, revocation.token, judge))

    async def _follow(self, name: str, token: str, judge: PairJudge) -> None:
        """Probe quickly until refused, once just past the deadline, then now and then."""
        instance = self._rig.instance(name)
        until = judge.revoked_at + self._config.follow
        past_deadline = False
        while time.monotonic() < until:
            answer = await self._prober.ask(instance, token)
            judge.see(answer)
            past_deadline = past_deadline or answer.sent >= judge.deadline
            if judge.refused_at is None:
                await asyncio.sleep(FAST_PROBE)
            elif not past_deadline:
                await sleep_until(judge.deadline + 0.01)
            else:
                await asyncio.sleep(SLOW_PROBE)

    async def sweep(self, *, concurrency: int = 32) -> int:
        """Every confirmed revocation probed once more on every instance; the probes sent."""
        gate = asyncio.Semaphore(concurrency)

        async def one(revocation: Revocation, judge: PairJudge) -> None:
            instance = self._rig.instance(judge.instance)
            async with gate:
                judge.see(await self._prober.ask(instance, revocation.token))

        pairs = [(r, j) for r in self.revocations if r.confirmed for j in r.judges.values()]
        await asyncio.gather(*(one(r, j) for r, j in pairs))
        return len(pairs)


def _spawn(tasks: set[asyncio.Task[None]], coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(coroutine)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
