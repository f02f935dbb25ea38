"""Resources and background work that live as long as an app: cleanup contexts and tasks."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


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
