"""What every service's `create_app` starts from: middlewares, health, metrics, OpenAPI."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from latchkey.common.health import metrics_middleware, setup_health
from latchkey.common.openapi import ENDPOINTS, setup_openapi
from latchkey.common.web import error_middleware

MAX_BODY_BYTES = 64 * 1024
"""API bodies are small JSON objects; anything bigger is refused with 413 before parsing."""

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def base_app(
    *,
    service: str,
    title: str,
    version: str = "1.0.0",
    middlewares: Iterable[Middleware] = (),
) -> web.Application:
    """An app with the error envelope, metrics, health routes and `/openapi.json`;
    `middlewares` run inside the error middleware (their errors get the envelope)."""
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware, *middlewares],
        client_max_size=MAX_BODY_BYTES,
    )
    app[ENDPOINTS] = []
    setup_health(app, service)
    setup_openapi(app, title=title, version=version)
    return app


@contextlib.asynccontextmanager
async def background(coroutine: Coroutine[Any, Any, None], *, name: str) -> AsyncIterator[None]:
    """Run `coroutine` as a task for the duration of the block; cancel and await it on exit."""
    task = asyncio.create_task(coroutine, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` at most `timeout` seconds; True if it was set.

    Not `asyncio.wait_for`: on Python 3.11 it can swallow a cancellation that arrives as the
    event fires, and a loop built on it then never stops.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
