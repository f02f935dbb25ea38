"""A private RabbitMQ node for fault tests: stopped and started without touching the main one."""

import asyncio
import os
import random
import shutil
import socket
import tempfile
from pathlib import Path

# The scripts themselves, not Debian's /usr/sbin wrappers: those switch to the rabbitmq user
# and its home, whose Erlang cookie is the main node's, not this node's own.
SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_pair() -> int:
    """A free port whose distribution port (20000 above, as RabbitMQ counts) is free too."""
    for _ in range(200):
        port = random.randrange(20000, 40000)
        if _port_free(port) and _port_free(port + 20000):
            return port
    raise RuntimeError("no free port pair for a RabbitMQ node")


class RabbitNode:
    """`rabbitmq-server` on its own port, cookie, data and logs; `stop_app`/`start_app` take it
    away and bring it back in about a second."""

    def __init__(self) -> None:
        self.port = _free_port_pair()
        self.name = f"latchkey{self.port}@localhost"
        self._home = Path(tempfile.mkdtemp(prefix="latchkey-rabbit-"))
        self._env = {
            **os.environ,
            "HOME": str(self._home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.port + 20000),
            "RABBITMQ_MNESIA_BASE": str(self._home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self._home / "log"),
            "RABBITMQ_PID_FILE": str(self._home / "rabbit.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self._home / "enabled_plugins"),
            # The machine's own files name the main node's listener; these are this node's.
            "RABBITMQ_CONFIG_FILE": str(self._home / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self._home / "rabbitmq-env.conf"),
        }
        (self._home / "enabled_plugins").write_text("[].\n")
        (self._home / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self._home / "rabbitmq-env.conf").write_text("")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @staticmethod
    def available() -> bool:
        return Path(SERVER).exists() and Path(CTL).exists()

    async def _run(self, *command: str, timeout: float = 90) -> None:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {output.decode()[-2000:]}")

    async def ctl(self, *arguments: str) -> None:
        await self._run(CTL, "-n", self.name, *arguments)

    async def run_script(self, script: Path, **env: str) -> None:
        """A shell script that administers this node with rabbitmqctl (as
        deploy/rabbitmq/setup-users.sh does in the compose file)."""
        saved = self._env
        self._env = {**saved, "RABBITMQCTL": CTL, "RABBITMQ_NODE": self.name, **env}
        try:
            await self._run("/bin/sh", str(script))
        finally:
            self._env = saved

    def url_for(self, user: str, password: str) -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/"

    async def start(self) -> "RabbitNode":
        await self._run(SERVER, "-detached")
        await self.ctl("wait", str(self._home / "rabbit.pid"), "--timeout", "60")
        return self

    async def stop_app(self) -> None:
        await self.ctl("stop_app")

    async def start_app(self) -> None:
        await self.ctl("start_app")
        await self.ctl("await_startup")

    async def stop(self) -> None:
        try:
            await self.ctl("stop")
        finally:
            shutil.rmtree(self._home, ignore_errors=True)
