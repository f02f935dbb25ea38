"""The `latchkey` command run as a real process, with a home and config directory of its own."""

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.stack import ADMIN_PASSWORD, ADMIN_USERNAME

LATCHKEY = Path(sys.executable).parent / "latchkey"


@dataclass
class Run:
    """What one command did: its exit code and everything it wrote."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def assert_error(self, code: int, reason: str) -> None:
        """Exit `code`, and one line on stderr that names `reason`, never a traceback."""
        assert self.code == code, self
        assert self.stderr.startswith(f"latchkey: {reason}: "), self.stderr
        assert self.stderr.count("\n") == 1, self.stderr
        assert "Traceback" not in self.output


@dataclass
class Cli:
    """`latchkey` with HOME and XDG_CONFIG_HOME under the test's directory and no LATCHKEY_*
    variable of the developer's leaking in; stdin is always a pipe, never a terminal."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config_home(self) -> Path:
        return self.home / "config"

    @property
    def credentials(self) -> Path:
        return self.config_home / "latchkey" / "credentials.json"

    def stored_token(self) -> str:
        token: str = json.loads(self.credentials.read_text())["token"]
        return token

    async def __call__(self, *args: str, stdin: str = "", **env: str) -> Run:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
        environment.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.config_home))
        environment.update({**self.env, **env})
        process = await asyncio.create_subprocess_exec(
            str(LATCHKEY),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
        )
        out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=60)
        assert process.returncode is not None
        return Run(process.returncode, out.decode(), err.decode())

    async def login(
        self, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD, **env: str
    ) -> Run:
        return await self(
            "login", "--username", username, "--password-stdin", stdin=password + "\n", **env
        )
