"""What the compose, scale-out and Kubernetes checks share: the files, the services they run,
and readers for their environment, ports and interpolation."""

import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from latchkey.auth.settings import AuthSettings
from latchkey.common.settings import CommonSettings
from latchkey.portal.settings import RouterSettings
from latchkey.registry.settings import RegistrySettings

ROOT = Path(__file__).resolve().parents[2]


COMPOSE_FILE = ROOT / "docker-compose.yml"


DOCKERFILE = ROOT / "Dockerfile"


ENV_EXAMPLE = ROOT / ".env.example"


BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class LatchkeyService:
    settings: type[CommonSettings]
    port_field: str


# One line per Latchkey service in docker-compose.yml (auth: AuthSettings, "auth_port"; ...).
LATCHKEY_SERVICES = {
    "auth": LatchkeyService(AuthSettings, port_field="auth_port"),
    "token-registry": LatchkeyService(RegistrySettings, port_field="registry_port"),
    "portal-router": LatchkeyService(RouterSettings, port_field="router_port"),
}


# Compose interpolation: `$$` (a literal `$`), `${NAME}`, `${NAME:-default}`, ... and `$NAME`.
INTERPOLATION = re.compile(
    r"(?P<escaped>\$\$)"
    r"|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_]\w*)"
)


# The Dockerfile's SERVICE -> module case: `token-registry) module=latchkey.registry ;;`.
SERVICE_MODULE = re.compile(r"^\s*([a-z][a-z0-9-]*)\)\s*module=([A-Za-z_][\w.]*)\s*;;", re.M)


ENV_LINE = re.compile(r"^(?P<comment>#\s*)?(?P<name>[A-Za-z_]\w*)=(?P<value>.*)$", re.M)


def strings_in(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings_in(key)
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


def interpolated_names(node: object) -> set[str]:
    return {
        match["name"] or match["bare"]
        for text in strings_in(node)
        for match in INTERPOLATION.finditer(text)
        if not match["escaped"]
    }


def interpolate(text: str, values: dict[str, str]) -> str:
    """`text` as compose would fill it from `values`."""

    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op = match["name"] or match["bare"], match["op"] or ""
        if op.endswith("+"):
            return match["arg"] if values.get(name) else ""
        if values.get(name):
            return values[name]
        if op.endswith("-"):
            return str(match["arg"])
        raise AssertionError(f"{name} has no value in .env.example")

    return INTERPOLATION.sub(one, text)


def filled(environment: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    return {key: interpolate(value, values) for key, value in environment.items()}


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment:`, in its mapping or its `KEY=value` list form."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {str(key): str(value) for key, value in environment.items()}


def env_names(settings: type[CommonSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    return {prefix + name.upper() for name in settings.model_fields}


def default_port(spec: LatchkeyService) -> int:
    port = spec.settings.model_fields[spec.port_field].default
    assert isinstance(port, int)
    return port


def port_mappings(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(published, container) of each `ports` entry, short or long syntax."""
    mappings = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            mappings.append((str(entry.get("published", "")), str(entry["target"])))
        else:
            parts = str(entry).split("/")[0].rsplit(":", 2)
            mappings.append((parts[-2] if len(parts) > 1 else "", parts[-1]))
    return mappings


def named_volumes(service: dict[str, Any]) -> set[str]:
    names = set()
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            if entry.get("type", "volume") == "volume" and entry.get("source"):
                names.add(str(entry["source"]))
        elif ":" in entry and not entry.startswith((".", "/", "~", "$")):
            names.add(entry.split(":")[0])
    return names


# What each service holds (README, "Trust boundaries"): its own credential and its callers'.
HELD = {
    "auth": {"auth", "registry", "router"},
    "token-registry": {"auth", "registry", "router"},
    "portal-router": {"router"},
}


STORES_DATA = {"auth", "token-registry"}


BROKER_USER = {"auth": "latchkey-instance", "token-registry": "latchkey-registry",
               "portal-router": "latchkey-instance"}  # fmt: skip


SETUP_USERS = ROOT / "deploy" / "rabbitmq" / "setup-users.sh"


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that answers with an empty body and logs nothing."""

    def answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """`handler` answering on a loopback port, in a thread; yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def http_server(status: int) -> Iterator[tuple[int, list[str]]]:
    """A local server answering every GET with `status`; yields its port and the paths asked."""
    paths: list[str] = []

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.answer(status)

    with serving(Handler) as port:
        yield port, paths
