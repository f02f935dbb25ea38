"""Running a service: logging, the event loop, listening sockets, a clean stop on SIGTERM,
and, with `LATCHKEY_WORKERS` above 1, several processes of it on the same ports."""

import asyncio
import gc
import logging
import signal
import ssl
from collections.abc import Iterable

import uvloop
from aiohttp import web
from pydantic import SecretStr
from yarl import URL

from latchkey.common.http_server import Runner
from latchkey.common.logs import configure_logging
from latchkey.common.settings import CommonSettings
from latchkey.common.web import AccessLogger
from latchkey.common.workers import (
    Supervisor,
    become_worker,
    check_ports_free,
    default_instance_id,
    worker_number,
)

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 10.0


def secrets_of(settings: CommonSettings) -> list[str]:
    """Every secret in the settings, so the log formatter can mask it verbatim.

    For URLs only the password is secret: the rest (host, database) is what an operator
    needs to read in the logs.
    """
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            values.append(_secret_part(value.get_secret_value()))
        elif isinstance(value, list) and all(isinstance(item, SecretStr) for item in value):
            values.extend(_secret_part(item.get_secret_value()) for item in value)
    return [value for value in values if value]


def _secret_part(value: str) -> str:
    if "://" in value:
        try:
            return URL(value).password or ""
        except ValueError:
            return value
    return value


async def _serve(
    app: web.Application,
    host: str,
    ports: Iterable[int],
    access_log: bool,
    tls: ssl.SSLContext | None,
    reuse_port: bool,
) -> None:
    runner = Runner(
        app,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("latchkey.access") if access_log else None,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        scheme = "https" if tls is not None else "http"
        for port in ports:
            site = web.TCPSite(runner, host, port, ssl_context=tls, reuse_port=reuse_port or None)
            await site.start()
            log.info("listening on %s://%s:%d", scheme, host, port)
        settle_garbage_collector()
        await stop.wait()
        log.info("stopping")
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: log.info("already stopping"))
    finally:
        await runner.cleanup()


class _WorkerField(logging.Filter):
    """Every log line of a worker says which worker wrote it (`"worker": 2` in JSON)."""

    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.number
        return True


GC_THRESHOLD = (50_000, 20, 100)


def settle_garbage_collector() -> None:
    """Everything made at start lives for the whole process: freeze it out of the
    collector's scans, and collect the young generation less often. Measured on the
    proxy path, the collector's default pace cost about 50 µs a request."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def serve(
    app: web.Application,
    settings: CommonSettings,
    *,
    service: str,
    ports: Iterable[int],
    tls: ssl.SSLContext | None = None,
) -> None:
    """Run `app` until SIGTERM or SIGINT (over TLS when given a context); cleanup contexts
    close every resource on the way out. With `settings.workers` above 1, this process
    supervises that many workers (`latchkey.common.workers`) instead, each serving its own
    `app` on the same ports."""
    configure_logging(
        service=service,
        level=settings.log_level,
        fmt=settings.log_format,
        secrets=secrets_of(settings),
    )
    several = settings.workers > 1
    number = worker_number()
    if several and number is None:
        ports = list(ports)
        try:
            check_ports_free(settings.host, ports)
        except OSError as exc:
            log.error("%s cannot start: %s", service, exc.strerror)
            raise SystemExit(1) from None
        supervisor = Supervisor(
            count=settings.workers,
            instance_id=settings.instance_id or default_instance_id(service),
            stop_timeout=SHUTDOWN_TIMEOUT + 5,
        )
        raise SystemExit(supervisor.run())
    if number is not None:
        become_worker()
        logging.getLogger().handlers[0].addFilter(_WorkerField(number))
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(app, settings.host, list(ports), settings.access_log, tls, several))
        # Process supervisors (honcho, docker) may signal again while we finish: we already
        # stopped cleanly, so a late SIGTERM must not turn that into "killed by signal".
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)
    except Exception:
        log.exception("%s could not start or stopped on an error", service)
        raise SystemExit(1) from None
