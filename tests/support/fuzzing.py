"""What the API fuzzing needs: each service's OpenAPI document at collection time, and the three
services running in a thread of their own, since schemathesis makes blocking calls."""

import asyncio
import contextlib
import json
import logging
import secrets
import threading
from collections.abc import Awaitable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aio_pika

from latchkey.auth.app import create_app as create_auth
from latchkey.auth.settings import AuthSettings
from latchkey.common.openapi import ENDPOINTS, build_document
from latchkey.portal.app import create_app as create_router
from latchkey.portal.settings import RouterSettings
from latchkey.registry.app import create_app as create_registry
from latchkey.registry.settings import RegistrySettings
from tests.support.apps import Services, running_services, settings_for
from tests.support.infra import Infra, create_database, drop_database

T = TypeVar("T")


def documents() -> dict[str, dict[str, Any]]:
    """Each service's OpenAPI document, built from the endpoints its app declares (creating an
    app does no I/O). The fuzzing checks that the served `/openapi.json` is this document."""
    nowhere = "postgresql://nobody@127.0.0.1:9/none"
    infra = Infra(nowhere, nowhere, "amqp://guest:guest@127.0.0.1:9/", "collect")
    ports = {"registry": 9, "auth": 9, "router": 9, "router:admin": 9}
    urls = {name: "http://127.0.0.1:9" for name in ports}
    values = settings_for(infra, nowhere, "none", urls, ports)
    apps = {
        "auth": create_auth(AuthSettings(_env_file=None, **values["auth"])),
        "registry": create_registry(RegistrySettings(_env_file=None, **values["registry"])),
        "router": create_router(RouterSettings(_env_file=None, **values["router"])),
    }
    return {
        name: build_document(app[ENDPOINTS], title=name, version="") for name, app in apps.items()
    }


class ErrorLog(logging.Handler):
    """Every record at ERROR or above that a service logs while the fuzzing runs: a client's
    bad input must never be one."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        taken = [self.format(record) for record in self.records]
        self.records.clear()
        return taken


@dataclass
class ThreadedServices:
    """The services on an event loop in a background thread, and what fuzzing needs of them."""

    services: Services
    loop: asyncio.AbstractEventLoop
    errors: ErrorLog
    facts: dict[str, Any] = field(default_factory=dict)
    """What a test set up for the fuzzing to name (users, tokens, credentials)."""

    def url(self, name: str) -> str:
        return self.services.urls[name]

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        """Run `coro` on the services' loop and wait for its result."""

        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)


async def delete_exchange(amqp_url: str, name: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        with contextlib.suppress(Exception):
            await channel.exchange_delete(name)


@contextmanager
def services_in_thread(infra: Infra, **kwargs: Any) -> Iterator[ThreadedServices]:
    """Auth, the registry and the router (as `running_services` starts them) on a database and
    an exchange of their own, served from a background thread until the block ends."""
    loop = asyncio.new_event_loop()
    started: Future[ThreadedServices] = Future()
    stop = asyncio.Event()
    errors = ErrorLog()

    async def serve() -> None:
        name = f"latchkey_fuzz_{infra.run_id}_{secrets.token_hex(3)}"
        exchange = f"latchkey.test.{infra.run_id}.{secrets.token_hex(3)}"
        try:
            database_url = await create_database(infra.server_url, name)
            try:
                async with running_services(infra, database_url, exchange, **kwargs) as services:
                    await services.live()
                    started.set_result(ThreadedServices(services, loop, errors))
                    await stop.wait()
            finally:
                await drop_database(infra.server_url, name)
                await delete_exchange(infra.amqp_url, exchange)
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    logging.getLogger().addHandler(errors)
    thread.start()
    try:
        yield started.result(timeout=60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        logging.getLogger().removeHandler(errors)
        loop.close()


def short(value: Any, limit: int = 300) -> str:
    """`value` for a failure message, cut to `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
