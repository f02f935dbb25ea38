"""Signed-in users: a few on every router, each sending a request every so often with its
session cookie, every answer counted in the phase it was sent in."""

import asyncio
import contextlib
import itertools

import aiohttp

from soak.rig import Rig
from soak.traffic import Clock, outcome


async def signed_in_user(rig: Rig, router: str, token: str, clock: Clock) -> None:
    """One user's browser on one router: a deep link opens the session, then a request every
    `session_interval` seconds with its cookie; every answer is counted in the phase."""
    origin = rig.instance(router).url
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout
    ) as browser:
        cookie: str | None = None
        for count in itertools.count():
            if cookie is None:
                cookie = await _sign_in(browser, origin, token)
                if cookie is None:
                    await asyncio.sleep(0.5)
                    continue
            phase = clock.phase
            try:
                async with browser.get(
                    f"{origin}/agent/app/soak/{count}",
                    headers={"Cookie": f"latchkey_session={cookie}"},
                    allow_redirects=False,
                ) as response:
                    await response.read()
                    status = str(response.status)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                status = outcome(exc)
            phase.count_signed_in(router, status)
            if status in ("303", "401"):
                cookie = None  # signed out (it must not happen: counted, and signed in again)
            await asyncio.sleep(rig.config.session_interval)


async def _sign_in(browser: aiohttp.ClientSession, origin: str, token: str) -> str | None:
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
        async with browser.get(
            f"{origin}/agent/app/soak?accessToken={token}", allow_redirects=False
        ) as response:
            cookie = response.headers.get("Set-Cookie", "")
            if response.status == 303 and cookie.startswith("latchkey_session="):
                # Read by hand: the standard library's parser drops a Partitioned cookie.
                return cookie.split(";", 1)[0].split("=", 1)[1]
    return None
