"""The credentials the tests give the services, and the headers that present them."""

from cryptography.fernet import Fernet

CREDENTIALS = {
    "auth": "test-auth-credential-" + "a" * 24,
    "registry": "test-registry-credential-" + "r" * 24,
    "router": "test-router-credential-" + "o" * 24,
}
HELD = {"auth": ("auth", "registry", "router"), "registry": ("auth", "registry", "router"),
        "router": ("router",)}  # fmt: skip
"""Which credentials each service is given: its own and those of the services that call it."""
KEY_ENCRYPTION_KEY = Fernet.generate_key().decode()


def as_service(name: str) -> dict[str, str]:
    """Headers that present service `name`'s credential."""
    return {"Authorization": f"Bearer {CREDENTIALS[name]}"}


AS_AUTH = as_service("auth")
AS_REGISTRY = as_service("registry")
AS_ROUTER = as_service("router")


def credential_env(service: str) -> dict[str, str]:
    """The LATCHKEY_* variables that give `service` what it holds."""
    return {f"LATCHKEY_{held.upper()}_CREDENTIAL": CREDENTIALS[held] for held in HELD[service]}


def credential_settings(service: str) -> dict[str, str]:
    """The same, as settings fields."""
    return {f"{held}_credential": CREDENTIALS[held] for held in HELD[service]}


def instance_headers(instance_name: str) -> dict[str, str]:
    """Headers to call an instance's internal endpoints (`auth-2`, `router`, ...) with its own
    service's credential, which it always knows."""
    return as_service(instance_name.split("-")[0])
