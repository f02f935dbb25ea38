"""docker-compose.scale.yml and deploy/haproxy/haproxy.cfg: several instances of each service
behind a balancer that sends requests only to ready ones, as compose would merge the files."""

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from yarl import URL

from latchkey.portal.settings import RouterSettings
from tests.support.compose import (
    BIN,
    COMPOSE_FILE,
    HELD,
    LATCHKEY_SERVICES,
    STORES_DATA,
    default_port,
    env_names,
    environment_of,
    filled,
    interpolate,
    interpolated_names,
    port_mappings,
)

ROOT = Path(__file__).resolve().parents[2]
SCALE_FILE = ROOT / "docker-compose.scale.yml"
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
BALANCER = "balancer"
FORWARDED = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host")
COMPOSE_TAGS = {"!reset", "!override"}
"""The compose specification's merge tags (its "Merge and override" section)."""


@dataclass(frozen=True)
class Tagged:
    tag: str
    value: Any


def compose_yaml() -> YAML:
    """A safe loader that keeps compose's `!reset` / `!override` tags as `Tagged` values."""
    yaml = YAML(typ="safe")

    def construct(constructor: Any, node: Node) -> Tagged:
        if isinstance(node, SequenceNode):
            value: Any = constructor.construct_sequence(node, deep=True)
        elif isinstance(node, MappingNode):
            value = constructor.construct_mapping(node, deep=True)
        else:
            value = constructor.construct_scalar(node)
        return Tagged(node.tag, value)

    for tag in COMPOSE_TAGS:
        yaml.constructor.add_constructor(tag, construct)
    return yaml


def tags_in(node: object) -> Iterator[str]:
    if isinstance(node, Tagged):
        yield node.tag
        yield from tags_in(node.value)
    elif isinstance(node, dict):
        for value in node.values():
            yield from tags_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from tags_in(item)


def untagged(node: object) -> Any:
    """The document as the JSON schema sees it: each tagged value in its place."""
    if isinstance(node, Tagged):
        return untagged(node.value)
    if isinstance(node, dict):
        return {key: untagged(value) for key, value in node.items()}
    if isinstance(node, list):
        return [untagged(item) for item in node]
    return node


LIST_OR_MAPPING = {"environment", "depends_on", "networks", "labels"}
"""Service attributes compose accepts as a list or a mapping, and merges as a mapping."""


def as_mapping(key: str, value: object) -> object:
    if key not in LIST_OR_MAPPING or not isinstance(value, list):
        return value
    if key == "environment":
        return dict(str(item).partition("=")[::2] for item in value)
    return {str(item): {} for item in value}


def merge(base: Any, override: Any, key: str = "") -> Any:
    """`override` laid over `base` as compose merges files: mappings merge key by key,
    sequences append, scalars replace; `!override` replaces whole (`!reset` is handled by
    the mapping holding it: the key goes)."""
    if isinstance(override, Tagged):
        return untagged(override.value)
    base, override = as_mapping(key, base), as_mapping(key, override)
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            if isinstance(value, Tagged) and value.tag == "!reset":
                merged.pop(name, None)
            else:
                merged[name] = merge(base[name], value, name) if name in base else untagged(value)
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return base + [item for item in untagged(override) if item not in base]
    return untagged(override)


@pytest.fixture(scope="module")
def scale() -> dict[str, Any]:
    loaded: dict[str, Any] = compose_yaml().load(SCALE_FILE)
    return loaded


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    loaded: dict[str, Any] = compose_yaml().load(COMPOSE_FILE)
    return loaded


@pytest.fixture(scope="module")
def merged(base: dict[str, Any], scale: dict[str, Any]) -> dict[str, Any]:
    """What `docker compose -f docker-compose.yml -f docker-compose.scale.yml` runs."""
    result: dict[str, Any] = merge(base, scale)
    return result


def with_defaults(text: str) -> str:
    """`text` as compose fills it when .env sets none of the scale file's own variables."""
    return interpolate(text, {})


def check_compose_schema(document: dict[str, Any], tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_scale_file_and_the_merged_files_are_valid_against_the_compose_specification(
    scale: dict[str, Any], merged: dict[str, Any], tmp_path: Path
) -> None:
    # The JSON schema cannot see YAML tags; compose applies them and validates the rest.
    assert set(tags_in(scale)) <= COMPOSE_TAGS
    check_compose_schema(untagged(scale), tmp_path, "scale")
    check_compose_schema(merged, tmp_path, "merged")


def test_scale_file_only_changes_services_of_docker_compose_yml_and_adds_the_balancer(
    base: dict[str, Any], scale: dict[str, Any]
) -> None:
    assert "version" not in scale
    assert set(scale["services"]) == set(LATCHKEY_SERVICES) | {BALANCER}
    assert BALANCER not in base["services"]
    for name in LATCHKEY_SERVICES:
        # Build, health check, credentials and hardening stay docker-compose.yml's.
        assert set(scale["services"][name]) <= {
            "ports",
            "networks",
            "deploy",
            "depends_on",
            "environment",
        }, name


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_every_latchkey_service_runs_several_distinct_instances(
    merged: dict[str, Any], name: str
) -> None:
    service = merged["services"][name]
    assert int(with_defaults(str(service["deploy"]["replicas"]))) >= 2
    # Each instance names itself by host name and pid, and declares a queue of its own.
    assert "container_name" not in service
    assert "hostname" not in service
    assert "LATCHKEY_INSTANCE_ID" not in environment_of(service)


def test_only_the_balancer_publishes_ports_and_they_are_those_docker_compose_yml_had(
    base: dict[str, Any], merged: dict[str, Any]
) -> None:
    before = sorted(
        mapping for name in LATCHKEY_SERVICES for mapping in port_mappings(base["services"][name])
    )
    for name in LATCHKEY_SERVICES:
        assert not merged["services"][name].get("ports"), f"{name} still publishes ports"
    assert sorted(port_mappings(merged["services"][BALANCER])) == before


def test_balancer_and_services_share_a_network_of_their_own(merged: dict[str, Any]) -> None:
    balancer = merged["services"][BALANCER]
    assert set(balancer["networks"]) == {BALANCER}
    for name in LATCHKEY_SERVICES:
        # Still on the default network too, where PostgreSQL and RabbitMQ are.
        assert set(merged["services"][name]["networks"]) == {"default", BALANCER}, name
    for name in set(merged["services"]) - set(LATCHKEY_SERVICES) - {BALANCER}:
        assert BALANCER not in (merged["services"][name].get("networks") or {}), name
    assert merged["networks"][BALANCER]["ipam"]["config"][0]["subnet"]


def test_auth_and_router_trust_forwarded_headers_only_from_the_balancer_network(
    merged: dict[str, Any],
) -> None:
    subnet = with_defaults(merged["networks"][BALANCER]["ipam"]["config"][0]["subnet"])
    trusting = {"auth", "portal-router"}  # the registry reads no X-Forwarded-For
    for name in LATCHKEY_SERVICES:
        environment = environment_of(merged["services"][name])
        if name in trusting:
            assert with_defaults(environment["LATCHKEY_TRUSTED_PROXIES"]) == subnet, name
        else:
            assert "LATCHKEY_TRUSTED_PROXIES" not in environment, name


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_merged_environment_is_accepted_and_keeps_least_privilege(
    merged: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.compose import ENV_EXAMPLE, ENV_LINE

    example = {
        m["name"]: m["value"]
        for m in ENV_LINE.finditer(ENV_EXAMPLE.read_text())
        if not m["comment"]
    }
    for variable in [key for key in os.environ if key.startswith("LATCHKEY_")]:
        monkeypatch.delenv(variable)
    environment = environment_of(merged["services"][name])
    assert {key for key in environment if key.startswith("LATCHKEY_")} <= env_names(
        LATCHKEY_SERVICES[name].settings
    )
    for key, value in filled(environment, example).items():
        monkeypatch.setenv(key, value)
    settings = LATCHKEY_SERVICES[name].settings()
    assert set(settings.credentials()) == HELD[name]
    assert ("LATCHKEY_DATABASE_URL" in environment) == (name in STORES_DATA)
    assert "postgres" not in merged["services"]["portal-router"]["depends_on"]


def test_scale_file_variables_all_have_defaults(scale: dict[str, Any]) -> None:
    """Nothing new to put in .env: every variable the scale file adds has a default."""
    base_names = interpolated_names(compose_yaml().load(COMPOSE_FILE))
    for text in re.findall(r"\$\{[^}]*\}", SCALE_FILE.read_text()):
        name = re.match(r"\$\{(\w+)", text)
        assert name is not None
        assert name[1] in base_names or ":-" in text, f"{text} needs a default"


# --- the balancer's configuration -------------------------------------------------------------


@dataclass
class Section:
    kind: str
    name: str
    parent: str | None
    lines: list[str] = field(default_factory=list)

    def directives(self, keyword: str) -> list[list[str]]:
        return [line.split() for line in self.lines if line.split()[:1] == [keyword]]


Sections = dict[tuple[str, str], Section]


def haproxy_sections(text: str) -> Sections:
    """`kind name [from defaults]` headers and their indented lines, comments dropped."""
    sections: Sections = {}
    current: Section | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            words = line.split()
            parent = words[3] if words[2:3] == ["from"] else None
            current = Section(words[0], words[1] if len(words) > 1 else "", parent)
            sections[(current.kind, current.name)] = current
        else:
            assert current is not None
            current.lines.append(line.strip())
    return sections


def inherited(sections: Sections, section: Section, keyword: str) -> list[list[str]]:
    """`keyword` lines of a section, else of the defaults it is `from` (HAProxy's rule)."""
    found = section.directives(keyword)
    if found or section.parent is None:
        return found
    return inherited(sections, sections[("defaults", section.parent)], keyword)


@pytest.fixture(scope="module")
def haproxy() -> Sections:
    return haproxy_sections(HAPROXY_CFG.read_text())


def frontend_on(haproxy: Sections, port: int) -> Section:
    found = [
        section
        for section in haproxy.values()
        if section.kind == "frontend"
        and any(words[1].rpartition(":")[2] == str(port) for words in section.directives("bind"))
    ]
    assert len(found) == 1, f"one frontend should bind :{port}, found {len(found)}"
    return found[0]


def backends_of(haproxy: Sections, frontend: Section) -> tuple[Section, Section]:
    """The frontend's backend of ready instances, and the one of live instances it uses
    when the first has none."""
    (default,) = frontend.directives("default_backend")
    (fallback,) = frontend.directives("use_backend")
    ready = haproxy[("backend", default[1])]
    assert fallback[2:] == ["if", "{", f"nbsrv({ready.name})", "eq", "0", "}"], frontend.name
    return ready, haproxy[("backend", fallback[1])]


def templates(backend: Section) -> list[tuple[str, int, list[str]]]:
    """(host, port, options) of each `server-template <prefix> <count> <host>:<port> ...`."""
    found = []
    for words in backend.directives("server-template"):
        host, _, port = words[3].rpartition(":")
        found.append((host, int(port), words[4:]))
    return found


def probe_of(haproxy: Sections, backend: Section) -> tuple[str, str]:
    """(path asked, status expected) of a backend's HTTP health check."""
    assert ["option", "httpchk"] in inherited(haproxy, backend, "option"), backend.name
    checks = inherited(haproxy, backend, "http-check")
    (send,) = [words for words in checks if words[1] == "send"]
    (expect,) = [words for words in checks if words[1] == "expect"]
    assert send[2:5] == ["meth", "GET", "uri"], send
    assert expect[2] == "status", expect
    return send[5], expect[3]


def listening(name: str) -> list[int]:
    spec = LATCHKEY_SERVICES[name]
    if spec.settings is RouterSettings:
        return RouterSettings().listening_ports()
    return [default_port(spec)]


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_balancer_sends_each_service_port_to_every_ready_instance_else_every_live_one(
    haproxy: Sections, name: str
) -> None:
    readiness_port = default_port(LATCHKEY_SERVICES[name])
    for port in listening(name):
        ready, live = backends_of(haproxy, frontend_on(haproxy, port))
        assert probe_of(haproxy, ready) == ("/readyz", "200"), ready.name
        assert probe_of(haproxy, live) == ("/healthz", "200"), live.name
        for backend in (ready, live):
            (server_defaults,) = inherited(haproxy, backend, "default-server")
            assert "resolvers" in server_defaults, "instances come and go: names are re-asked"
            ((host, target, options),) = templates(backend)
            assert (host, target) == (name, port), backend.name
            assert "check" in options, backend.name
            # Probes go to the service's own port, whichever port the traffic is for.
            if port != readiness_port:
                at = options.index("check")
                assert options[at + 1 : at + 3] == ["port", str(readiness_port)], backend.name
            else:
                assert "port" not in options, backend.name


def test_balancer_rewrites_forwarded_headers_only_in_front_of_auth_and_router(
    haproxy: Sections,
) -> None:
    rewritten = set(FORWARDED)
    for name in LATCHKEY_SERVICES:
        for port in listening(name):
            frontend = frontend_on(haproxy, port)
            set_headers = {
                words[2]
                for words in frontend.directives("http-request")
                if words[1] == "set-header"
            }
            if name == "token-registry":
                # The router passes the console's browser origin on through this port.
                assert not set_headers & rewritten, frontend.name
            else:
                assert set_headers >= rewritten, frontend.name
            # `option forwardfor` would add a second X-Forwarded-For after the client's.
            assert ["option", "forwardfor"] not in inherited(haproxy, frontend, "option")


def test_services_reach_one_another_through_the_balancer(
    merged: dict[str, Any], haproxy: Sections
) -> None:
    for name in LATCHKEY_SERVICES:
        environment = environment_of(merged["services"][name])
        for key, target in (
            ("LATCHKEY_AUTH_URL", "auth"),
            ("LATCHKEY_REGISTRY_URL", "token-registry"),
        ):
            if key not in environment:
                continue
            url = URL(environment[key])
            assert url.host == BALANCER, f"{name}: {key} bypasses the balancer"
            for backend in backends_of(haproxy, frontend_on(haproxy, int(url.port or 80))):
                assert {host for host, _, _ in templates(backend)} == {target}, f"{name}: {key}"


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None
    )


needs_haproxy = pytest.mark.skipif(
    haproxy_binary() is None, reason="haproxy is not installed here (apt-get install haproxy)"
)


@needs_haproxy
def test_haproxy_accepts_the_configuration() -> None:
    result = subprocess.run(
        [str(haproxy_binary()), "-c", "-f", str(HAPROXY_CFG)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the balancer at work, in front of instances of our own -----------------------------------


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """HAProxy ends each health check with a reset: not worth a traceback."""


class Instance:
    """A stand-in for one instance of a service: alive, ready as told, and answering every
    other request with its name and the X-Forwarded-* headers it received."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = True
        self.hits = 0
        instance = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path in ("/healthz", "/readyz"):
                    ready = instance.ready or self.path == "/healthz"
                    self.answer(200 if ready else 503, {})
                    return
                instance.hits += 1
                self.answer(
                    200,
                    {
                        "instance": instance.name,
                        "forwarded": {
                            header: self.headers.get_all(header, []) for header in FORWARDED
                        },
                    },
                )

            def answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def local_config(text: str, ports: dict[int, int], instances: dict[str, list[int]]) -> str:
    """haproxy.cfg with its frontends on local ports and, in place of each server template,
    the given instances (by service host name); health checks every 100 ms."""
    lines = []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["bind"]:
            port = int(words[1].rpartition(":")[2])
            line = f"    bind 127.0.0.1:{ports.setdefault(port, free_port())}"
        elif words[:1] == ["default-server"]:
            line = "    default-server inter 100ms fall 2 rise 2"
        elif words[:1] == ["server-template"]:
            prefix, host, options = words[1], words[3].rpartition(":")[0], words[4:]
            if "port" in options:  # `check port N`: each stand-in answers /readyz itself
                at = options.index("port")
                del options[at : at + 2]
            line = "\n".join(
                f"    server {prefix}{index} 127.0.0.1:{port} {' '.join(options)}"
                for index, port in enumerate(instances.get(host, []))
            )
        lines.append(line)
    return "\n".join(lines) + "\n"


@contextmanager
def running_haproxy(config: str, tmp_path: Path, health_port: int) -> Iterator[None]:
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    log = tmp_path / "haproxy.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(haproxy_binary()), "-db", "-f", str(path)], stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"haproxy did not start: {log.read_text()}") from None
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def ask(port: int, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/anything", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (http, local)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, {}


def answered_by(port: int, count: int = 12) -> set[str]:
    names = set()
    for _ in range(count):
        status, body = ask(port)
        assert status == 200, f"the balancer answered {status}"
        names.add(body["instance"])
    return names


def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the balancer did not settle in time"
        time.sleep(0.05)


@needs_haproxy
def test_balancer_uses_ready_instances_else_live_ones_and_never_gone_ones(
    tmp_path: Path,
) -> None:
    first, second = Instance("auth-1"), Instance("auth-2")
    registry = Instance("registry-1")
    gone = free_port()  # an instance that stopped: nothing listens there
    ports: dict[int, int] = {}
    config = local_config(
        HAPROXY_CFG.read_text(),
        ports,
        {"auth": [first.port, second.port, gone], "token-registry": [registry.port]},
    )
    try:
        with running_haproxy(config, tmp_path, ports.setdefault(8404, free_port())):
            auth = ports[9003]
            until(lambda: answered_by(auth) == {"auth-1", "auth-2"})

            second.ready = False
            until(lambda: answered_by(auth) == {"auth-1"})
            assert answered_by(auth, 30) == {"auth-1"}, "an unready instance got requests"

            # None ready (a broker outage makes every instance stale): each live one answers
            # for itself rather than the balancer refusing them all; the one gone gets none.
            first.ready = False
            until(lambda: answered_by(auth) == {"auth-1", "auth-2"})
            started = time.monotonic()
            assert answered_by(auth, 30) == {"auth-1", "auth-2"}
            assert time.monotonic() - started < 3, "requests waited on the instance that is gone"

            first.ready = True
            until(lambda: answered_by(auth) == {"auth-1"})

            # What a client says it forwarded is replaced, in one header each.
            status, body = ask(
                auth,
                {
                    "X-Forwarded-For": "203.0.113.9",
                    "X-Forwarded-Host": "evil.example",
                    "X-Forwarded-Proto": "https",
                },
            )
            assert status == 200
            assert body["forwarded"] == {
                "X-Forwarded-For": ["127.0.0.1"],
                "X-Forwarded-Proto": ["http"],
                "X-Forwarded-Host": [f"127.0.0.1:{auth}"],
            }

            # In front of the registry they pass as the router sent them (the console's
            # browser origin).
            router_said = {"X-Forwarded-Host": "admin.example.com", "X-Forwarded-Proto": "https"}
            until(lambda: ask(ports[9006])[0] == 200)
            status, body = ask(ports[9006], router_said)
            assert status == 200
            assert body["forwarded"]["X-Forwarded-Host"] == ["admin.example.com"]
            assert body["forwarded"]["X-Forwarded-Proto"] == ["https"]
    finally:
        for instance in (first, second, registry):
            instance.stop()


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_balancer_has_room_for_every_instance_compose_starts(
    merged: dict[str, Any], haproxy: Sections, name: str
) -> None:
    replicas = int(with_defaults(str(merged["services"][name]["deploy"]["replicas"])))
    for port in listening(name):
        for backend in backends_of(haproxy, frontend_on(haproxy, port)):
            (words,) = backend.directives("server-template")
            assert int(words[2]) >= replicas, backend.name
