"""A fresh process's first token checks arrive together: they share one JWKS fetch and none
of them waits out the minimum fetch interval (issue 15: the second fetch cost about 1 s)."""

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from latchkey.common import errors
from latchkey.common.verification import JWKS_PATH, JwksKeySource, KeysUnavailable, TokenVerifier
from tests.support.issuer import TokenMinter

MIN_FETCH_INTERVAL = 3.0
"""Long enough that a caller waiting it out is obvious, short enough that the test ends."""


class Issuer:
    """A JWKS on a real socket that answers slowly (so callers arrive mid-fetch) and counts."""

    def __init__(self, minter: TokenMinter, *, delay: float = 0.2) -> None:
        self.minter = minter
        self.delay = delay
        self.fetches = 0
        self.failing = False

    def app(self) -> web.Application:
        async def jwks(request: web.Request) -> web.Response:
            self.fetches += 1
            await asyncio.sleep(self.delay)
            if self.failing:
                return web.Response(status=503)
            return web.json_response({"keys": [key.jwk() for key in self.minter.keys]})

        app = web.Application()
        app.router.add_get(JWKS_PATH, jwks)
        return app


async def verifier_for(issuer: Issuer, aiohttp_server: Any, session: Any) -> TokenVerifier:
    server: TestServer = await aiohttp_server(issuer.app())
    keys = JwksKeySource(
        str(server.make_url(JWKS_PATH)),
        algorithms=["RS256"],
        session=session,
        min_fetch_interval=MIN_FETCH_INTERVAL,
    )
    return TokenVerifier(keys, issuer="latchkey", audience="latchkey")


async def test_concurrent_first_checks_share_one_fetch_and_do_not_stall(
    aiohttp_server: Any,
) -> None:
    minter = TokenMinter()
    issuer = Issuer(minter)
    tokens = [minter.token()[0] for _ in range(20)]
    async with aiohttp.ClientSession() as session:
        verifier = await verifier_for(issuer, aiohttp_server, session)
        started = time.monotonic()
        claims = await asyncio.gather(*(verifier.verify(token) for token in tokens))
        elapsed = time.monotonic() - started
    assert len(claims) == 20
    assert issuer.fetches == 1
    assert elapsed < MIN_FETCH_INTERVAL / 2, f"the checks waited {elapsed:.2f}s"


async def test_callers_that_waited_on_a_failed_first_fetch_are_told_keys_are_unavailable(
    aiohttp_server: Any,
) -> None:
    """Not that their tokens are invalid: nothing was known to check them against."""
    minter = TokenMinter()
    issuer = Issuer(minter)
    issuer.failing = True
    tokens = [minter.token()[0] for _ in range(5)]
    async with aiohttp.ClientSession() as session:
        verifier = await verifier_for(issuer, aiohttp_server, session)
        outcomes = await asyncio.gather(
            *(verifier.verify(token) for token in tokens), return_exceptions=True
        )
    assert issuer.fetches == 1
    assert all(isinstance(outcome, KeysUnavailable) for outcome in outcomes), outcomes
    assert all(isinstance(outcome, errors.ServiceUnavailable) for outcome in outcomes)
