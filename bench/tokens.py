"""Tokens for the load: minted by auth (`/internal/v1/sign`), recorded by the registry
(`/internal/v1/tokens`) as auth records a login token, and session cookies from deep links."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.stack import Stack

T = TypeVar("T")


@dataclass(frozen=True)
class Token:
    token: str
    jti: str


async def limited(calls: list[Callable[[], Awaitable[T]]], *, limit: int) -> list[T]:
    semaphore = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await call()

    return await asyncio.gather(*(run(call) for call in calls))


async def mint_one(stack: Stack, user_id: str, username: str, *, record: bool = True) -> Token:
    status, answer, _ = await stack.call(
        "auth",
        "POST",
        "/internal/v1/sign",
        headers=stack.internal("registry"),
        json={"userId": user_id},
    )
    if status != 200:
        raise RuntimeError(f"signing answered {status}: {answer}")
    signed: dict[str, Any] = answer["data"]
    if record:
        body = {
            "jti": signed["jti"],
            "userId": user_id,
            "username": username,
            "kind": "access",
            "name": "bench",
            "portals": signed["portals"],
            "issuedAt": signed["issuedAt"],
            "expiresAt": signed["expiresAt"],
        }
        status, answer, _ = await stack.call(
            "registry", "POST", "/internal/v1/tokens", headers=stack.internal("auth"), json=body
        )
        if status != 201:
            raise RuntimeError(f"recording a token answered {status}: {answer}")
    return Token(signed["accessToken"], signed["jti"])


async def mint(
    stack: Stack, user_id: str, username: str, count: int, *, record: bool = True
) -> list[Token]:
    calls = [lambda: mint_one(stack, user_id, username, record=record) for _ in range(count)]
    return await limited(calls, limit=16)


async def session_cookie(stack: Stack, token: str, portal: str = "agent") -> str:
    """The `latchkey_session` cookie a deep link sets (303 with Set-Cookie)."""
    assert stack.http is not None
    url = f"{stack.url('router')}/{portal}/x?accessToken={token}"
    async with stack.http.get(url, allow_redirects=False) as reply:
        if reply.status != 303:
            raise RuntimeError(f"deep link answered {reply.status}: {await reply.text()}")
        for header in reply.headers.getall("Set-Cookie"):
            name, _, rest = header.partition("=")
            if name == "latchkey_session":
                return rest.split(";", 1)[0]
    raise RuntimeError("the deep link set no session cookie")


async def session_cookies(stack: Stack, tokens: list[Token]) -> list[str]:
    calls = [lambda t=t: session_cookie(stack, t.token) for t in tokens]
    return await limited(calls, limit=8)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path
