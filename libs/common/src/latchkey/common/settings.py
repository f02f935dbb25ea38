"""The settings every Latchkey service reads from `LATCHKEY_*` environment variables.

Each service subclasses `CommonSettings` with what only it needs, adding the groups below
that it uses (the database, the service credentials it holds, trusted proxies); every field
is documented in the README's configuration table (a test keeps the two in step).
"""

import ipaddress
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from yarl import URL

ENV_PREFIX = "LATCHKEY_"

DEFAULT_ALGORITHMS = ("RS256", "ES256", "EdDSA")
"""Asymmetric algorithms only: a shared-secret algorithm would let any verifier mint tokens."""


def split_comma_list(value: object) -> object:
    """Turn `"a, b"` (or a JSON array string) into `["a", "b"]`; leave lists alone."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [item.strip() for item in text.split(",") if item.strip()]


SPLIT_COMMAS = BeforeValidator(split_comma_list)
"""With NoDecode, makes a list setting read `a,b,c` (or a JSON array) from the environment:
`Annotated[list[int], NoDecode, SPLIT_COMMAS]`."""

CommaList = Annotated[list[str], NoDecode, SPLIT_COMMAS]
"""A list of strings given in the environment as `a,b,c` (JSON arrays are accepted too)."""


SERVICES = ("auth", "registry", "router")
"""The services that call one another, by the names their credentials and endpoints use."""


class CommonSettings(BaseSettings):
    """Settings shared by every service (names pinned in DESIGN.md)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    SERVICE: ClassVar[str] = ""
    """Which of SERVICES this is: the credential it presents, the name callers know it by."""

    host: str = Field("127.0.0.1", description="Address the service listens on.")
    amqp_url: SecretStr = Field(
        SecretStr("amqp://guest:guest@127.0.0.1:5672/"), description="RabbitMQ URL."
    )
    events_exchange: str = Field(
        "latchkey.token-events", min_length=1, description="Fanout exchange of token events."
    )
    jwt_issuer: str = Field("latchkey", min_length=1, description="`iss` of every token.")
    jwt_audience: str = Field("latchkey", min_length=1, description="`aud` of every token.")
    jwt_algorithms: CommaList = Field(
        list(DEFAULT_ALGORITHMS),
        description="Signature algorithms verifiers accept (never taken from the token).",
    )
    jwt_clock_skew: float = Field(
        5.0, ge=0, le=300, description="Seconds of clock skew tolerated on `nbf` and `iat`."
    )
    jwks_refresh_interval: float = Field(
        300.0, gt=0, description="Seconds between routine refreshes of the issuer's JWKS."
    )
    jwks_min_fetch_interval: float = Field(
        1.0, ge=0, description="Least seconds between JWKS fetches caused by an unknown `kid`."
    )
    token_cache_size: int = Field(
        100_000, ge=0, description="Verified tokens remembered per process (0 disables)."
    )
    max_staleness: float = Field(
        2.0, gt=0, description="Seconds without news from the registry before state is stale."
    )
    stale_mode: Literal["introspect", "deny"] = Field(
        "introspect", description="What to do with tokens while the token state is stale."
    )
    digest_check_interval: float = Field(
        300.0,
        gt=0,
        description="Seconds between comparisons of the token-state view with the registry's "
        "records (a difference reloads the snapshot).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO")
    log_format: Literal["json", "text"] = Field("json", description="`text` is for humans.")
    access_log: bool = Field(True, description="Log one line per request.")
    startup_timeout: float = Field(
        30.0, gt=0, description="Seconds to wait for PostgreSQL and RabbitMQ at start."
    )
    instance_id: str = Field(
        "", description="Name of this instance in receipts (default: host name and process id)."
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Processes of this service on its ports (SO_REUSEPORT), each a full "
        "instance named `<instance id>-w<k>`; above 1 the first process only supervises them.",
    )

    @field_validator("jwt_algorithms")
    @classmethod
    def _only_asymmetric(cls, value: list[str]) -> list[str]:
        unknown = [alg for alg in value if alg not in DEFAULT_ALGORITHMS]
        if unknown or not value:
            raise ValueError(f"must be a non-empty subset of {', '.join(DEFAULT_ALGORITHMS)}")
        return value

    def credentials(self) -> dict[str, SecretStr]:
        """The service credentials these settings hold, by service: its own (to present)
        and those of the services allowed to call it (to recognise them)."""
        found = {name: getattr(self, f"{name}_credential", None) for name in SERVICES}
        return {name: secret for name, secret in found.items() if isinstance(secret, SecretStr)}


def _http_url(value: str) -> str:
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class DatabaseSettings(BaseModel):
    """For the services that store data (auth and the registry)."""

    database_url: SecretStr = Field(
        SecretStr("postgresql://postgres@127.0.0.1:5432/latchkey"),
        description="PostgreSQL DSN.",
    )
    database_pool_size: int = Field(20, ge=1, le=500, description="Connections in the pool.")


class AuthUrl(BaseModel):
    auth_url: HttpUrl = Field("http://127.0.0.1:9003", description="Where auth answers.")


class RegistryUrl(BaseModel):
    registry_url: HttpUrl = Field(
        "http://127.0.0.1:9006", description="Where the token registry answers."
    )


_CREDENTIAL = (
    "{service}'s service credential: {service} presents it on /internal/... calls, and "
    "services that {service} calls recognise it by it. Unset, nothing accepts it."
)


class AuthCredential(BaseModel):
    auth_credential: SecretStr = Field(
        SecretStr(""), description=_CREDENTIAL.format(service="auth")
    )


class RegistryCredential(BaseModel):
    registry_credential: SecretStr = Field(
        SecretStr(""), description=_CREDENTIAL.format(service="the registry")
    )


class RouterCredential(BaseModel):
    router_credential: SecretStr = Field(
        SecretStr(""), description=_CREDENTIAL.format(service="the router")
    )


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(value: object) -> object:
    """`10.0.0.0/8`, `127.0.0.1` or `::1` as a network (host bits allowed, as operators write
    them); anything else is refused here, naming the entry, not at the first request."""
    if isinstance(value, str):
        try:
            return ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or network") from None
    return value


Networks = Annotated[list[Annotated[Network, BeforeValidator(_network)]], NoDecode, SPLIT_COMMAS]


class TrustedProxiesSettings(BaseModel):
    trusted_proxies: Networks = Field(
        default_factory=list,
        description="Addresses or networks whose X-Forwarded-* headers are believed.",
    )


def masked_url(url: SecretStr) -> str:
    """A DSN or broker URL with its password hidden, for logs."""
    parsed = URL(url.get_secret_value())
    return str(parsed.with_password("***")) if parsed.password else str(parsed)


@contextmanager
def startup_errors(service: str) -> Iterator[None]:
    """Reading settings and building the app: a setting that cannot work ends the process
    with a message naming it, not a stack trace. Values are never printed:
    some are secrets."""
    try:
        yield
    except ValidationError as exc:
        lines = [f"{service} cannot start: these settings are not valid"]
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
            lines.append(f"  {name}: {error['msg']}")
        raise SystemExit("\n".join(lines)) from None
    except (ValueError, OSError) as exc:
        raise SystemExit(f"{service} cannot start: {exc}") from None
