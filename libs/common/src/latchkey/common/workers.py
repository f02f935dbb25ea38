"""Several processes of one service on one port (`LATCHKEY_WORKERS`), each a full instance.

With more than one worker the process started by the operator is only a supervisor: it
starts the workers (the same command again, marked as worker `k` of it), forwards SIGTERM
and SIGINT to them, and exits once they all have. Every worker listens on the service's
ports with `SO_REUSEPORT` (the kernel spreads new connections over them) and is an instance
of its own: its own broker queue, token-state view, receipts, and instance id
(`<instance id>-w<k>`).

A worker that exits on its own (a crash, a failed start) takes the service down: the
supervisor stops the others and exits with status 1, so the process manager that restarts
crashed services (docker, Kubernetes, systemd) sees it and restarts it whole, with its own
back-off, instead of a crash loop hidden inside a process that looks alive.
"""

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger(__name__)

WORKER_VARIABLE = "LATCHKEY_WORKER"
"""Set by the supervisor in each worker's environment: `<k>:<supervisor pid>`. Not a setting:
an operator never sets it."""
POLL_INTERVAL = 0.1
PR_SET_PDEATHSIG = 1


def default_instance_id(service: str) -> str:
    """What an instance is called in receipts when LATCHKEY_INSTANCE_ID is not set."""
    return f"{service}@{socket.gethostname()}:{os.getpid()}"


def worker_number() -> int | None:
    """Which worker this process is (1, 2, ...), or None when it is not one."""
    marker = os.environ.get(WORKER_VARIABLE)
    return int(marker.split(":")[0]) if marker else None


def die_with_parent(parent: int | None = None) -> None:
    """Have the kernel send SIGTERM to this process when its parent ends, even by SIGKILL
    (Linux; elsewhere nothing happens). With the parent's pid, exit at once if it already
    ended before this was set."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        raise SystemExit(1)


def become_worker() -> None:
    """In a worker: end with the supervisor."""
    marker = os.environ.get(WORKER_VARIABLE, "")
    _, _, parent = marker.partition(":")
    die_with_parent(int(parent) if parent else None)


def check_ports_free(host: str, ports: list[int]) -> None:
    """Raise OSError when something already listens on one of the ports. Workers bind with
    SO_REUSEPORT, and so would a second copy of the service started by mistake: the kernel
    would then share the port between them without a word. A plain bind first finds it."""
    for port in ports:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(address)
                except OSError as exc:
                    raise OSError(exc.errno, f"port {port} on {host} is in use") from None


class Supervisor:
    """Start `count` workers of this command, forward stop signals, wait for them."""

    def __init__(self, *, count: int, instance_id: str, stop_timeout: float) -> None:
        self.count = count
        self.instance_id = instance_id
        self.stop_timeout = stop_timeout
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self._stop_deadline: float | None = None

    def command(self) -> list[str]:
        """This process's own command line (`python -m latchkey.portal`), run again."""
        return [sys.executable, *sys.orig_argv[1:]]

    def start(self, number: int) -> None:
        env = {
            **os.environ,
            WORKER_VARIABLE: f"{number}:{os.getpid()}",
            "LATCHKEY_INSTANCE_ID": f"{self.instance_id}-w{number}",
        }
        process = subprocess.Popen(self.command(), env=env)  # noqa: S603 (our own command)
        self.workers[number] = process
        log.info("started worker %d (pid %d)", number, process.pid)

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Ask every running worker to stop (again, if asked again)."""
        if self._stop_deadline is None:
            self._stop_deadline = time.monotonic() + self.stop_timeout
        for process in self.workers.values():
            if process.poll() is None:
                process.send_signal(signum)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_deadline is None:
            log.info("stopping %d workers", self.count)
        self.stop(signum)

    def run(self) -> int:
        """Until every worker has exited: 0 when they were asked to stop, 1 when one ended
        on its own (the others are then stopped)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        status = 0
        for number in range(1, self.count + 1):
            if self._stop_deadline is not None:
                break  # asked to stop while starting them: the rest are not started at all
            self.start(number)
        if self._stop_deadline is not None:
            self.stop()  # again: one started as the signal came may not have been told
        running = dict(self.workers)
        while running:
            time.sleep(POLL_INTERVAL)
            for number, process in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                del running[number]
                if self._stop_deadline is None:
                    log.error(
                        "worker %d (pid %d) exited with status %d; stopping the service",
                        number,
                        process.pid,
                        code,
                    )
                    status = 1
                    self.stop()
                elif code != 0:
                    log.warning("worker %d exited with status %d while stopping", number, code)
            if self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
                for number, process in running.items():
                    log.error("worker %d did not stop in time; killing it", number)
                    process.kill()
                    status = 1
                self._stop_deadline = float("inf")
        log.info("every worker has stopped")
        return status
