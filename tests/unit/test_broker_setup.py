"""The broker users: compose's setup-users.sh (rabbitmqctl) and Kubernetes' setup_users.py
(the management API) make the same users with the same, narrow, permissions."""

import base64
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.compose import QuietHandler, serving

ROOT = Path(__file__).resolve().parents[2]
SETUP_USERS_SH = ROOT / "deploy" / "rabbitmq" / "setup-users.sh"
SETUP_USERS_PY = ROOT / "deploy" / "kubernetes" / "base" / "broker-setup" / "setup_users.py"
PASSWORDS = {"latchkey-registry": "registry-secret", "latchkey-instance": "instance-secret"}
ADMIN = ("broker-admin", "admin-secret")

Permissions = dict[str, tuple[str, str, str]]
"""Per broker user: its configure, write and read patterns."""


def with_shell_script(tmp_path: Path, exchange: str | None) -> tuple[Permissions, dict[str, str]]:
    """What setup-users.sh asks rabbitmqctl to do (a stand-in that writes its arguments)."""
    log = tmp_path / "rabbitmqctl.log"
    fake = tmp_path / "rabbitmqctl"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(log))}\n')
    fake.chmod(0o755)
    env = {
        "PATH": "/usr/bin:/bin",
        "RABBITMQCTL": str(fake),
        "RABBITMQ_REGISTRY_PASSWORD": PASSWORDS["latchkey-registry"],
        "RABBITMQ_INSTANCE_PASSWORD": PASSWORDS["latchkey-instance"],
    }
    if exchange is not None:
        env["LATCHKEY_EVENTS_EXCHANGE"] = exchange
    subprocess.run(["sh", str(SETUP_USERS_SH)], env=env, check=True, capture_output=True)
    permissions: Permissions = {}
    users: dict[str, str] = {}
    for line in log.read_text().splitlines():
        words = line.split()
        if "set_permissions" in words:
            at = words.index("set_permissions")
            assert words[at + 1 : at + 3] == ["-p", "/"], line
            user, configure, write, read = words[at + 3 : at + 7]
            permissions[user] = (configure, write, read)
        elif "add_user" in words:
            at = words.index("add_user")
            users[words[at + 1]] = words[at + 2]
    return permissions, users


@dataclass
class ManagementApi:
    """A stand-in for RabbitMQ's management API: records what it is asked to PUT."""

    not_ready_for: int = 0
    refuse: bool = False
    puts: dict[str, Any] = field(default_factory=dict)
    authorizations: set[str] = field(default_factory=set)


@contextmanager
def management_api(api: ManagementApi) -> Iterator[str]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.record()
            if api.refuse:
                self.answer(401)
            elif self.path == "/api/whoami" and api.not_ready_for > 0:
                api.not_ready_for -= 1
                self.answer(503)
            else:
                self.answer(200 if self.path == "/api/whoami" else 404)

        def do_PUT(self) -> None:
            self.record()
            length = int(self.headers["Content-Length"])
            api.puts[self.path] = json.loads(self.rfile.read(length))
            self.answer(201)

        def record(self) -> None:
            api.authorizations.add(self.headers.get("Authorization", ""))

    with serving(Handler) as port:
        yield f"http://127.0.0.1:{port}"


def run_python_script(url: str, exchange: str | None) -> subprocess.CompletedProcess[str]:
    env = {
        "RABBITMQ_API_URL": url,
        "RABBITMQ_ADMIN_USERNAME": ADMIN[0],
        "RABBITMQ_ADMIN_PASSWORD": ADMIN[1],
        "RABBITMQ_REGISTRY_PASSWORD": PASSWORDS["latchkey-registry"],
        "RABBITMQ_INSTANCE_PASSWORD": PASSWORDS["latchkey-instance"],
        "RABBITMQ_API_TIMEOUT": "20",
    }
    if exchange is not None:
        env["LATCHKEY_EVENTS_EXCHANGE"] = exchange
    return subprocess.run(
        [sys.executable, str(SETUP_USERS_PY)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def with_python_script(exchange: str | None) -> tuple[Permissions, dict[str, str], ManagementApi]:
    api = ManagementApi(not_ready_for=1)  # the broker is still starting at first
    with management_api(api) as url:
        result = run_python_script(url, exchange)
    assert result.returncode == 0, result.stderr
    permissions: Permissions = {}
    users: dict[str, str] = {}
    for path, body in api.puts.items():
        if match := re.fullmatch(r"/api/permissions/%2F/([\w-]+)", path):
            permissions[match[1]] = (body["configure"], body["write"], body["read"])
        elif match := re.fullmatch(r"/api/users/([\w-]+)", path):
            assert body["tags"] == "", "a service's broker user needs no management tag"
            users[match[1]] = body["password"]
        else:
            raise AssertionError(f"unexpected PUT {path}")
    return permissions, users, api


@pytest.mark.parametrize("exchange", [None, "acme.latchkey.events"])
def test_compose_and_kubernetes_make_the_same_broker_users(
    tmp_path: Path, exchange: str | None
) -> None:
    shell_permissions, shell_users = with_shell_script(tmp_path, exchange)
    python_permissions, python_users, api = with_python_script(exchange)
    assert python_permissions == shell_permissions
    assert python_users == shell_users == PASSWORDS
    token = base64.b64encode(":".join(ADMIN).encode()).decode()
    assert api.authorizations == {f"Basic {token}"}


def matches(pattern: str, name: str) -> bool:
    """RabbitMQ matches permission patterns as regular expressions (PCRE, like Python's)."""
    return re.search(pattern, name) is not None


def test_permissions_are_exactly_what_each_user_needs(tmp_path: Path) -> None:
    permissions, _ = with_shell_script(tmp_path, None)
    exchange, queue = "latchkey.token-events", "amq.gen-Jd0Xw1"
    registry_configure, registry_write, registry_read = permissions["latchkey-registry"]
    configure, write, read = permissions["latchkey-instance"]
    # The registry declares the exchange and publishes to it; consumes from its own queue.
    assert matches(registry_configure, exchange)
    assert matches(registry_write, exchange)
    assert matches(registry_read, queue)
    # Auth and the router declare, bind and consume a server-named queue of their own...
    assert matches(configure, queue)
    assert matches(write, queue)
    assert matches(read, exchange)
    assert matches(read, queue)
    # ...and can neither publish to the exchange nor change it.
    assert not matches(write, exchange)
    assert not matches(configure, exchange)
    # Names that only look alike get nothing: the dots are literal.
    for other in ("latchkeyXtoken-events", "latchkey.token-events.copy", "amqXgen-1"):
        assert not any(matches(pattern, other) for pattern in permissions["latchkey-instance"])


def test_the_script_stops_at_once_when_the_admin_is_refused() -> None:
    api = ManagementApi(refuse=True)
    with management_api(api) as url:
        result = run_python_script(url, None)
    assert result.returncode != 0
    assert "refused the admin user (401)" in result.stderr
    assert not api.puts


def test_the_script_takes_only_an_http_url() -> None:
    result = run_python_script("file:///etc/passwd", None)
    assert result.returncode != 0
    assert "http(s) URL" in result.stderr
