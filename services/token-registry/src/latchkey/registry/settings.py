"""The registry's settings (`LATCHKEY_*`), on top of what every service reads."""

from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import NoDecode

from latchkey.common.portals import PortalsSettings
from latchkey.common.settings import (
    SPLIT_COMMAS,
    AuthCredential,
    AuthUrl,
    CommonSettings,
    DatabaseSettings,
    RegistryCredential,
    RouterCredential,
)


class RegistrySettings(
    CommonSettings,
    DatabaseSettings,
    AuthUrl,
    RegistryCredential,
    AuthCredential,
    RouterCredential,
    PortalsSettings,
):
    SERVICE = "registry"

    registry_port: int = Field(9006, ge=1, le=65535, description="Port the registry listens on.")
    key_encryption_key: Annotated[list[SecretStr], NoDecode, SPLIT_COMMAS] = Field(
        default_factory=list,
        description="Fernet keys sealing the signing keys kept in the database; the first "
        "seals, all open.",
    )
    relay_poll_interval: float = Field(
        1.0, gt=0, le=60, description="Seconds between outbox scans when no NOTIFY arrives."
    )
    heartbeat_interval: float = Field(
        1.0, gt=0, le=60, description="Seconds between heartbeats with the latest sequence number."
    )
    event_retention_days: int = Field(
        7, ge=1, description="Days published events are kept for instances catching up."
    )
    instance_timeout: float = Field(
        10.0, gt=0, description="Seconds without a report before an instance is no longer live."
    )
    max_page_size: int = Field(200, ge=1, le=1000, description="Most token records a page.")
    console_confirm_seconds: int = Field(
        300,
        ge=0,
        le=86400,
        description="Seconds a console admin's password confirmation lasts before generating "
        "a token or revoking a user's tokens asks for it again (0: every time).",
    )
