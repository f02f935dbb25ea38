"""deploy/kubernetes/ renders, is valid for the Kubernetes versions we claim, and agrees with
the services' settings, their probes and least privilege."""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML
from yarl import URL

from latchkey.common.serve import SHUTDOWN_TIMEOUT
from latchkey.portal.settings import RouterSettings
from tests.support.compose import (
    HELD,
    LATCHKEY_SERVICES,
    SERVICE_MODULE,
    STORES_DATA,
    default_port,
    env_names,
)

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
EXAMPLE = KUBERNETES / "overlays" / "example"
SECRET_EXAMPLES = EXAMPLE / "secrets"

KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
"""The oldest Kubernetes the manifests are for, and the newest kubernetes-validate knows."""

SETTINGS_CONFIGMAP = "latchkey-settings"
CREDENTIALS_SECRET = "latchkey-service-credentials"
BROKER_SETUP = "latchkey-broker-setup"
SECRET_OF = {name: f"latchkey-{name}" for name in LATCHKEY_SERVICES}
"""The Secret of what only that service holds (its database and broker URLs, keys)."""
IMAGE_DEFAULT_HOST = "0.0.0.0"  # the Dockerfile's LATCHKEY_HOST
SECRET_NAME = re.compile(r"PASS|TOKEN|SECRET|CREDENTIAL|(^|_)KEYS?($|_)|_URL$")

yaml = YAML(typ="safe")


# --- rendering ----------------------------------------------------------------------------------


def kubectl() -> str | None:
    return shutil.which("kubectl")


def kustomize_with_kubectl(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(kubectl()), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.load_all(result.stdout) if doc]


KUSTOMIZE_KEYS_KNOWN_HERE = {"apiVersion", "kind", "resources", "configMapGenerator"}


def kustomize_in_python(path: Path) -> list[dict[str, Any]]:
    """What `kubectl kustomize` makes of a kustomization that only lists resources and
    generates ConfigMaps without a hash: enough for the base, and refused for anything more
    (so this can never quietly render something else than kubectl would)."""
    kustomization = yaml.load(path / "kustomization.yaml")
    unknown = set(kustomization) - KUSTOMIZE_KEYS_KNOWN_HERE
    assert not unknown, f"{path}: render {sorted(unknown)} with kubectl"
    documents: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        target = path / resource
        if target.is_dir():
            documents.extend(kustomize_in_python(target))
        else:
            documents.extend(doc for doc in yaml.load_all(target) if doc)
    for generator in kustomization.get("configMapGenerator", []):
        assert set(generator) <= {"name", "files", "literals", "options"}, generator
        assert generator.get("options", {}).get("disableNameSuffixHash") is True, generator
        data = {}
        for entry in generator.get("files", []):
            key, _, file = entry.rpartition("=") if "=" in entry else ("", "", entry)
            data[key or Path(file).name] = (path / file).read_text()
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"]},
                "data": data,
            }
        )
    return documents


def by_identity(documents: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return kustomize_with_kubectl(BASE) if kubectl() else kustomize_in_python(BASE)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """overlays/example as a cluster would render it, its Secrets from the examples."""
    if not kubectl():
        pytest.skip("kubectl is not installed here: the overlay's generators need kustomize")
    copy = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(KUBERNETES, copy)
    for example_file in (copy / "overlays" / "example" / "secrets").glob("*.env.example"):
        shutil.copy(example_file, example_file.with_suffix(""))
    return kustomize_with_kubectl(copy / "overlays" / "example")


def kinds(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


@pytest.mark.skipif(kubectl() is None, reason="kubectl is not installed here")
def test_the_python_rendering_of_the_base_is_what_kubectl_renders() -> None:
    """The fallback used where kubectl is missing renders what kubectl does."""
    assert by_identity(kustomize_in_python(BASE)) == by_identity(kustomize_with_kubectl(BASE))


# --- the Kubernetes schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_the_kubernetes_versions_we_claim(
    base: list[dict[str, Any]], version: str
) -> None:
    for doc in base:
        # strict: an unknown (misspelt) field is an error, not a field the API drops
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_example_overlay_is_valid_for_the_kubernetes_versions_we_claim(
    example: list[dict[str, Any]], version: str
) -> None:
    for doc in example:
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_refuses_a_misspelt_field(base: list[dict[str, Any]]) -> None:
    deployment = next(doc for doc in base if doc["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


# --- each service: its Deployment, Service, disruption budget and probes ------------------------


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container_of(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec(workload)["containers"]
    return container


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def env_from(container: dict[str, Any], kind: str) -> list[str]:
    return [source[kind]["name"] for source in container.get("envFrom", []) if kind in source]


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines, as kustomize's secretGenerator reads them."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return dict(line.partition("=")[::2] for line in lines if not line.startswith("#"))


def secret_example(secret: str) -> dict[str, str]:
    return env_file(SECRET_EXAMPLES / f"{secret.removeprefix('latchkey-')}.env.example")


def container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (found,) = [item["containerPort"] for item in container["ports"] if item["name"] == port]
    return int(found)


def listening(name: str, configmap: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    spec = LATCHKEY_SERVICES[name]
    if spec.settings is not RouterSettings:
        return [default_port(spec)]
    for key, value in configmap.items():
        monkeypatch.setenv(key, value)
    return RouterSettings().listening_ports()


@pytest.fixture(autouse=True)
def no_latchkey_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in [key for key in os.environ if key.startswith("LATCHKEY_")]:
        monkeypatch.delenv(variable)


def test_every_service_has_a_deployment_a_service_and_a_disruption_budget(
    base: list[dict[str, Any]],
) -> None:
    deployments, services = kinds(base, "Deployment"), kinds(base, "Service")
    budgets = kinds(base, "PodDisruptionBudget")
    assert set(deployments) == set(LATCHKEY_SERVICES)
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selects(deployment["spec"]["selector"]["matchLabels"], labels), name
        assert deployment["spec"]["replicas"] >= 2, f"{name}: one instance is no scale-out"
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name
        others = [other for other in deployments.values() if other is not deployment]
        (service,) = [
            service for service in services.values() if selects(service["spec"]["selector"], labels)
        ]
        assert service["metadata"]["name"] == name, "other services call it by this name"
        (budget,) = [
            budget
            for budget in budgets.values()
            if selects(budget["spec"]["selector"]["matchLabels"], labels)
        ]
        assert budget["spec"].get("maxUnavailable", 0) < deployment["spec"]["replicas"], name
        for other in others:
            other_labels = other["spec"]["template"]["metadata"]["labels"]
            assert not selects(service["spec"]["selector"], other_labels), name
            assert not selects(budget["spec"]["selector"]["matchLabels"], other_labels), name


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_probes_ask_healthz_for_liveness_and_readyz_for_readiness_on_the_service_port(
    base: list[dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = container_of(kinds(base, "Deployment")[name])
    configmap = kinds(base, "ConfigMap")[SETTINGS_CONFIGMAP]["data"]
    port = default_port(LATCHKEY_SERVICES[name])
    assert [item["containerPort"] for item in container["ports"]] == listening(
        name, configmap, monkeypatch
    )
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert (get["path"], container_port(container, get["port"])) == (path, port), probe
    # A probe answer waits for at most PROBE_TIMEOUT (2 s) per dependency check.
    assert container["readinessProbe"]["timeoutSeconds"] > 2
    (service_port,) = kinds(base, "Service")[name]["spec"]["ports"]
    assert container_port(container, service_port["targetPort"]) == port
    assert service_port["port"] == port, "LATCHKEY_*_URL keeps the port it has everywhere"


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_pods_stop_cleanly_and_run_unprivileged(base: list[dict[str, Any]], name: str) -> None:
    deployment = kinds(base, "Deployment")[name]
    spec, container = pod_spec(deployment), container_of(deployment)
    # preStop keeps serving while the endpoint leaves every balancer; then the service
    # finishes what it was doing within SHUTDOWN_TIMEOUT of SIGTERM.
    (command, seconds) = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command == "sleep"
    assert spec["terminationGracePeriodSeconds"] > int(seconds) + SHUTDOWN_TIMEOUT
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert spec["automountServiceAccountToken"] is False
    # Service links would set <SERVICE>_PORT=tcp://... for every Service in the namespace: a
    # Service named latchkey-auth would break LATCHKEY_AUTH_PORT.
    assert spec["enableServiceLinks"] is False


def test_images_are_those_the_dockerfile_builds(base: list[dict[str, Any]]) -> None:
    modules = dict(SERVICE_MODULE.findall((ROOT / "Dockerfile").read_text()))
    workloads = [*kinds(base, "Deployment").values(), *kinds(base, "Job").values()]
    for workload in workloads:
        image = container_of(workload)["image"]
        assert image.startswith("latchkey/"), image
        assert image.removeprefix("latchkey/") in modules, image
    for name, deployment in kinds(base, "Deployment").items():
        assert container_of(deployment)["image"] == f"latchkey/{name}"


# --- settings and least privilege ---------------------------------------------------------------


def environment(
    base: list[dict[str, Any]], name: str, *, values: bool = True, shared: bool = True
) -> dict[str, str | None]:
    """The variables a service's container gets: the shared settings (unless not `shared`),
    its Secrets (as the examples fill them) and its own `env`; None for a value from a
    Secret when `values` is false."""
    container = container_of(kinds(base, "Deployment")[name])
    configmaps = kinds(base, "ConfigMap")
    found: dict[str, str | None] = {}
    for configmap in env_from(container, "configMapRef") if shared else []:
        found.update(configmaps[configmap]["data"])
    for secret in env_from(container, "secretRef"):
        found.update(secret_example(secret) if values else dict.fromkeys(secret_example(secret)))
    for variable, item in env_of(container).items():
        if "value" in item:
            found[variable] = item["value"]
        else:
            reference = item["valueFrom"]["secretKeyRef"]
            found[variable] = secret_example(reference["name"])[reference["key"]]
    return found


def credentials_taken(container: dict[str, Any]) -> set[str]:
    return {
        item["valueFrom"]["secretKeyRef"]["key"]
        for item in container.get("env", [])
        if item.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == CREDENTIALS_SECRET
    }


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_every_variable_a_service_is_given_of_its_own_is_a_setting_it_reads(
    base: list[dict[str, Any]], name: str
) -> None:
    # The shared settings are every service's, as latchkey.env is in compose: see below.
    given = environment(base, name, values=False, shared=False)
    assert set(given) <= env_names(LATCHKEY_SERVICES[name].settings), name


def test_shared_settings_are_read_by_some_service_and_hold_no_secret(
    base: list[dict[str, Any]],
) -> None:
    data = kinds(base, "ConfigMap")[SETTINGS_CONFIGMAP]["data"]
    read = set().union(*(env_names(spec.settings) for spec in LATCHKEY_SERVICES.values()))
    assert set(data) <= read
    for key in data:
        # Every service reads all of it: a secret here would reach the router too.
        assert not SECRET_NAME.search(key.removeprefix("LATCHKEY_")), key
    # Shared by every instance: one id would make all of them report as one.
    assert "LATCHKEY_INSTANCE_ID" not in data


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_each_service_gets_only_the_credentials_and_data_it_uses(
    base: list[dict[str, Any]], name: str
) -> None:
    container = container_of(kinds(base, "Deployment")[name])
    assert credentials_taken(container) == HELD[name]
    assert env_from(container, "secretRef") == [SECRET_OF[name]]
    assert env_from(container, "configMapRef") == [SETTINGS_CONFIGMAP]
    own = secret_example(SECRET_OF[name])
    assert not [key for key in own if key.endswith("_CREDENTIAL")], "credentials are keyed refs"
    given = environment(base, name, values=False)
    assert ("LATCHKEY_DATABASE_URL" in given) == (name in STORES_DATA)
    assert ("LATCHKEY_KEY_ENCRYPTION_KEY" in given) == (name in STORES_DATA)
    assert BROKER_SETUP not in str(container), "only the Job holds the broker administrator"


@pytest.mark.parametrize("name", sorted(LATCHKEY_SERVICES))
def test_the_environment_with_example_values_is_accepted_by_the_settings_class(
    base: list[dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in environment(base, name).items():
        assert value is not None
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("LATCHKEY_HOST", IMAGE_DEFAULT_HOST)
    settings = LATCHKEY_SERVICES[name].settings()
    assert set(settings.credentials()) == HELD[name]
    assert all(secret.get_secret_value() for secret in settings.credentials().values())
    broker = URL(settings.amqp_url.get_secret_value())
    expected_user = "latchkey-registry" if name == "token-registry" else "latchkey-instance"
    assert broker.user == expected_user, "only the registry's broker user may publish"


def test_service_urls_name_the_service_in_front_of_that_service(
    base: list[dict[str, Any]],
) -> None:
    services = kinds(base, "Service")
    for key, target in (("LATCHKEY_AUTH_URL", "auth"), ("LATCHKEY_REGISTRY_URL", "token-registry")):
        for name in LATCHKEY_SERVICES:
            url = environment(base, name).get(key)
            if url is None:
                continue
            parsed = URL(str(url))
            assert parsed.host == target, f"{name}: {key}"
            ports = [port["port"] for port in services[target]["spec"]["ports"]]
            assert parsed.port in ports, f"{name}: {key}"


def test_secret_examples_hold_placeholders_and_stay_out_of_git() -> None:
    examples = sorted(SECRET_EXAMPLES.glob("*.env.example"))
    assert {path.name.removesuffix(".env.example") for path in examples} == {
        *(secret.removeprefix("latchkey-") for secret in SECRET_OF.values()),
        CREDENTIALS_SECRET.removeprefix("latchkey-"),
        BROKER_SETUP.removeprefix("latchkey-"),
    }
    for path in examples:
        for key, value in env_file(path).items():
            if SECRET_NAME.search(key) or path.name.startswith("service-credentials"):
                assert "change-me" in value, f"{path.name}: {key} looks like a real secret"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "deploy/kubernetes/overlays/*/secrets/*.env" in ignored
    docker_ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "deploy/kubernetes/overlays/*/secrets/*.env" in docker_ignored


def test_example_overlay_makes_every_secret_the_manifests_read(
    example: list[dict[str, Any]],
) -> None:
    secrets = kinds(example, "Secret")
    referenced: set[str] = set()
    for workload in [*kinds(example, "Deployment").values(), *kinds(example, "Job").values()]:
        container = container_of(workload)
        referenced.update(env_from(container, "secretRef"))
        referenced.update(
            item["valueFrom"]["secretKeyRef"]["name"]
            for item in container.get("env", [])
            if "valueFrom" in item
        )
    # Each generated name carries its content's hash, and the references follow it.
    assert referenced == set(secrets)
    names = {re.sub(r"-[a-z0-9]{10}$", "", secret) for secret in secrets}
    assert names == {*SECRET_OF.values(), CREDENTIALS_SECRET, BROKER_SETUP}
    namespaces = {doc["metadata"].get("namespace") for doc in example if doc["kind"] != "Namespace"}
    assert namespaces == {"latchkey"}


def test_example_ingress_sends_each_portal_host_to_the_router_and_keeps_internals_inside(
    example: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = kinds(example, "ConfigMap")[SETTINGS_CONFIGMAP]["data"]
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    portals = RouterSettings().portals
    services = kinds(example, "Service")
    (ingress,) = kinds(example, "Ingress").values()
    tls_hosts = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
    routed: dict[str, set[str]] = {}
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in tls_hosts, rule["host"]
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            ports = [port["name"] for port in services[backend["name"]]["spec"]["ports"]]
            assert backend["port"]["name"] in ports, rule["host"]
            assert not path["path"].startswith(("/internal", "/metrics", "/readyz", "/healthz"))
            routed.setdefault(rule["host"], set()).add(f"{backend['name']}{path['path']}")
    for portal, config in portals.items():
        assert config.host is not None, f"behind an ingress, bind {portal} to a host"
        assert routed[config.host] == {f"portal-router/{portal}"}, portal


# --- the broker-setup Job -----------------------------------------------------------------------


def test_broker_setup_job_runs_the_script_it_mounts_with_only_its_own_secret(
    base: list[dict[str, Any]],
) -> None:
    job = kinds(base, "Job")[BROKER_SETUP]
    container = container_of(job)
    (mount,) = container["volumeMounts"]
    (volume,) = pod_spec(job)["volumes"]
    assert volume["name"] == mount["name"]
    script = kinds(base, "ConfigMap")[volume["configMap"]["name"]]["data"]
    (file_name,) = script
    assert container["command"] == ["python", f"{mount['mountPath']}/{file_name}"]
    assert script[file_name] == (BASE / "broker-setup" / file_name).read_text()
    assert env_from(container, "secretRef") == [BROKER_SETUP]
    assert set(secret_example(BROKER_SETUP)) == {
        "RABBITMQ_ADMIN_USERNAME",
        "RABBITMQ_ADMIN_PASSWORD",
        "RABBITMQ_REGISTRY_PASSWORD",
        "RABBITMQ_INSTANCE_PASSWORD",
    }
    assert pod_spec(job)["restartPolicy"] == "OnFailure"
    assert job["spec"]["ttlSecondsAfterFinished"] > 0, "a Job's pod template cannot change"


def test_broker_passwords_in_the_service_urls_are_those_the_job_sets(
    base: list[dict[str, Any]],
) -> None:
    setup = secret_example(BROKER_SETUP)
    password_of = {
        "latchkey-registry": setup["RABBITMQ_REGISTRY_PASSWORD"],
        "latchkey-instance": setup["RABBITMQ_INSTANCE_PASSWORD"],
    }
    for name in LATCHKEY_SERVICES:
        broker = URL(str(environment(base, name)["LATCHKEY_AMQP_URL"]))
        assert broker.password == password_of[str(broker.user)], name
