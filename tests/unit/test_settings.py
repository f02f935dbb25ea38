"""Settings: pinned defaults, list parsing, and refusals of unsafe values."""

import pytest
from pydantic import ValidationError

from latchkey.common.serve import secrets_of
from latchkey.registry.settings import RegistrySettings


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

    from latchkey.auth.settings import AuthSettings
    from latchkey.portal.settings import RouterSettings

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
    from latchkey.auth.settings import AuthSettings
    from latchkey.portal.settings import RouterSettings

    monkeypatch.setenv("LATCHKEY_TRUSTED_PROXIES", networks)
    for settings in (AuthSettings, RouterSettings):
        with pytest.raises(ValidationError, match="trusted_proxies"):
            settings(_env_file=None)
