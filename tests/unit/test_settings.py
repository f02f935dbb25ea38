"""Settings: pinned defaults, list parsing, and refusals of unsafe values."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from latchkey.auth.settings import AuthSettings
from latchkey.common.portals import PortalsSettings
from latchkey.common.serve import secrets_of
from latchkey.common.settings import startup_errors
from latchkey.portal.settings import RouterSettings
from latchkey.registry.settings import RegistrySettings
from tests.support.tls import self_signed


def test_pinned_defaults_match_the_design() -> None:
    settings = RegistrySettings(_env_file=None)
    assert settings.database_url.get_secret_value() == (
        "postgresql://postgres@127.0.0.1:5432/latchkey"
    )
    assert settings.amqp_url.get_secret_value() == "amqp://guest:guest@127.0.0.1:5672/"
    assert settings.events_exchange == "latchkey.token-events"
    assert settings.registry_port == 9006
    assert settings.auth_url == "http://127.0.0.1:9003"
    assert settings.max_staleness == 2
    assert settings.stale_mode == "introspect"


def test_algorithms_come_from_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LATCHKEY_JWT_ALGORITHMS", "ES256, EdDSA")
    assert RegistrySettings(_env_file=None).jwt_algorithms == ["ES256", "EdDSA"]


@pytest.mark.parametrize("algorithms", ["HS256", "none", "RS256,HS512", ""])
def test_symmetric_or_unknown_algorithms_are_refused(
    monkeypatch: pytest.MonkeyPatch, algorithms: str
) -> None:
    monkeypatch.setenv("LATCHKEY_JWT_ALGORITHMS", algorithms)
    with pytest.raises(ValidationError):
        RegistrySettings(_env_file=None)


def test_only_the_password_of_a_url_is_treated_as_secret() -> None:
    settings = RegistrySettings(
        _env_file=None,
        database_url="postgresql://app:pg-password-1@db:5432/latchkey",
        registry_credential="registry-credential-1",
        router_credential="router-credential-1",
        key_encryption_key="fernet-key-1",
    )
    found = secrets_of(settings)
    assert "pg-password-1" in found
    assert {"registry-credential-1", "router-credential-1", "fernet-key-1"} <= set(found)
    assert "guest" in found
    assert not any("db:5432" in value for value in found)


def test_every_list_setting_reads_commas_or_a_json_array(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    keys = [Fernet.generate_key().decode() for _ in range(2)]
    monkeypatch.setenv("LATCHKEY_ROUTER_EXTRA_PORTS", "9004, 9010")
    monkeypatch.setenv("LATCHKEY_SESSION_KEYS", ",".join(keys))
    monkeypatch.setenv("LATCHKEY_TRUSTED_PROXIES", '["10.0.0.0/8", "127.0.0.1"]')
    monkeypatch.setenv("LATCHKEY_LOGIN_PLATFORMS", "BYTEDESK,WEB")
    router = RouterSettings(_env_file=None)
    assert router.router_extra_ports == [9004, 9010]
    assert [key.get_secret_value() for key in router.session_keys] == keys
    assert [str(network) for network in router.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert AuthSettings(_env_file=None).login_platforms == ["BYTEDESK", "WEB"]
    monkeypatch.setenv("LATCHKEY_ROUTER_EXTRA_PORTS", "9004,port")
    with pytest.raises(ValidationError):
        RouterSettings(_env_file=None)


@pytest.mark.parametrize("networks", ["not-a-network", "10.0.0.0/33", "10.0.0.1,,x"])
def test_trusted_proxies_are_checked_once_when_read(
    monkeypatch: pytest.MonkeyPatch, networks: str
) -> None:

    monkeypatch.setenv("LATCHKEY_TRUSTED_PROXIES", networks)
    for settings in (AuthSettings, RouterSettings):
        with pytest.raises(ValidationError, match="trusted_proxies"):
            settings(_env_file=None)


def test_the_router_will_not_share_the_consoles_origin_with_proxied_pages_unless_told() -> None:
    from cryptography.fernet import Fernet

    keys = [Fernet.generate_key().decode()]
    shared = {"agent": {}, "admin": {}}  # both on the router's own port
    with pytest.raises(ValidationError, match="share its origin with the proxied pages"):
        RouterSettings(
            _env_file=None, session_keys=keys, portals=shared, routes="/agent/app=http://app"
        )
    with pytest.raises(ValidationError, match="/admin/app"):
        RouterSettings(_env_file=None, session_keys=keys, routes="/admin/app=http://app")
    RouterSettings(
        _env_file=None,
        session_keys=keys,
        portals=shared,
        routes="/agent/app=http://app",
        allow_console_shared_origin=True,
    )
    own = RouterSettings(_env_file=None, session_keys=keys, routes="/agent/app=http://app")
    assert own.console_shares_origin_with() == []
    assert own.listening_ports() == [9005, 9004]
    RouterSettings(_env_file=None, session_keys=keys, portals=shared)  # nothing proxied


@pytest.mark.parametrize(
    "portals",
    [
        {"agent": {"port": 9004}, "admin": {"port": 9004}},
        {"agent": {"host": "a.example"}, "admin": {"host": "A.example."}},
        {"agent": {"host": "a.example", "port": 9004}},
        {"agent": {"host": "a.example:8443"}},
        {"api": {}},
    ],
)
def test_portals_that_would_share_an_origin_or_clash_are_refused(portals: object) -> None:

    with pytest.raises(ValidationError):
        PortalsSettings(portals=portals)


def test_router_tls_needs_a_readable_certificate_and_key(tmp_path: Path) -> None:
    certificate, key = self_signed(tmp_path)
    assert RouterSettings(_env_file=None).tls_context() is None
    serving = RouterSettings(_env_file=None, tls_cert_file=certificate, tls_key_file=key)
    assert serving.tls_context() is not None
    with pytest.raises(ValidationError, match="both LATCHKEY_TLS_CERT_FILE"):
        RouterSettings(_env_file=None, tls_cert_file=certificate)
    swapped = RouterSettings(_env_file=None, tls_cert_file=key, tls_key_file=certificate)
    with pytest.raises(ValueError, match="not a readable PEM certificate"):
        swapped.tls_context()


def test_a_setting_that_cannot_work_stops_the_start_with_its_name_not_its_value() -> None:
    with pytest.raises(SystemExit) as stopped, startup_errors("portal-router"):
        RouterSettings(_env_file=None, router_port="port-with-a-secret-9")
    message = str(stopped.value.code)
    assert "LATCHKEY_ROUTER_PORT" in message
    assert "port-with-a-secret-9" not in message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LATCHKEY_WORKERS", "0"),
        ("LATCHKEY_WORKERS", "65"),
        ("LATCHKEY_WORKERS", "two"),
        ("LATCHKEY_PASSWORD_HASH_NICE", "-1"),
        ("LATCHKEY_PASSWORD_HASH_NICE", "20"),
        ("LATCHKEY_PASSWORD_HASH_WORKERS", "0"),
    ],
)
def test_process_counts_and_priorities_out_of_range_stop_the_start_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A negative nice would raise the hashing above request serving (or fail without the
    privilege); zero workers would serve nothing."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped, startup_errors("auth"):
        AuthSettings(_env_file=None)
    assert variable in str(stopped.value.code)
