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
        internal_token="internal-credential-1",
    )
    found = secrets_of(settings)
    assert "pg-password-1" in found
    assert "internal-credential-1" in found
    assert "guest" in found
    assert not any("db:5432" in value for value in found)
