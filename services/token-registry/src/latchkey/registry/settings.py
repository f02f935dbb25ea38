"""The registry's settings (`LATCHKEY_*`), on top of what every service reads."""

from pydantic import Field

from latchkey.common.settings import CommonSettings


class RegistrySettings(CommonSettings):
    registry_port: int = Field(9006, ge=1, le=65535, description="Port the registry listens on.")
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
