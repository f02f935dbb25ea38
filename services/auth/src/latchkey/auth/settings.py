"""The auth service's settings (`LATCHKEY_*`), on top of what every service reads."""

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import NoDecode

from latchkey.common.contracts import LONGEST_TOKEN_LIFETIME
from latchkey.common.portals import PortalsSettings
from latchkey.common.settings import (
    SPLIT_COMMAS,
    AuthCredential,
    CommaList,
    CommonSettings,
    DatabaseSettings,
    RegistryCredential,
    RegistryUrl,
    RouterCredential,
    TrustedProxiesSettings,
)

DEFAULT_PLATFORMS = [
    "BYTEDESK",
    "WEB",
    "IOS",
    "ANDROID",
    "MACOS",
    "WINDOWS",
    "LINUX",
    "FLUTTER",
]


class AuthSettings(
    CommonSettings,
    DatabaseSettings,
    RegistryUrl,
    AuthCredential,
    RegistryCredential,
    RouterCredential,
    TrustedProxiesSettings,
    PortalsSettings,
):
    SERVICE = "auth"

    auth_port: int = Field(9003, ge=1, le=65535, description="Port auth listens on.")
    admin_username: str = Field(
        "", max_length=64, description="First admin, created at start when no user exists."
    )
    admin_password: SecretStr = Field(SecretStr(""), description="The first admin's password.")
    key_encryption_key: Annotated[list[SecretStr], NoDecode, SPLIT_COMMAS] = Field(
        default_factory=list,
        description="Fernet keys sealing the signing keys kept in the database; the first "
        "seals, all open.",
    )
    signing_algorithm: Literal["RS256", "ES256", "EdDSA"] = Field(
        "RS256", description="Algorithm of keys generated here."
    )
    signing_key_file: Path | None = Field(
        None, description="PEM private key to sign with (instead of keys kept in the database)."
    )
    previous_signing_key_files: CommaList = Field(
        default_factory=list, description="PEM keys still published so their tokens verify."
    )
    session_token_lifetime: int = Field(
        8 * 3600,
        ge=60,
        le=LONGEST_TOKEN_LIFETIME,
        description="Seconds a login (session) token lives.",
    )
    access_token_lifetime: int = Field(
        30 * 86400,
        ge=60,
        le=LONGEST_TOKEN_LIFETIME,
        description="Default seconds a generated (access) token lives.",
    )
    access_token_max_lifetime: int = Field(
        365 * 86400,
        ge=60,
        le=LONGEST_TOKEN_LIFETIME,
        description="Longest lifetime an admin may give a generated token.",
    )
    password_min_length: int = Field(8, ge=8, le=128, description="Shortest password accepted.")
    password_time_cost: int = Field(3, ge=1, le=20, description="argon2id passes.")
    password_memory_cost: int = Field(
        65536, ge=1024, le=4 * 1024 * 1024, description="argon2id memory in KiB."
    )
    password_parallelism: int = Field(4, ge=1, le=16, description="argon2id lanes.")
    password_hash_workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Processes hashing passwords below request serving's priority, at most "
        "one password each at a time, per auth process (default: the cores auth may run on, "
        "shared among its LATCHKEY_WORKERS).",
    )
    password_hash_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Scheduling priority (nice) of the hashing processes: at 10, logins get "
        "about a tenth of a CPU that request serving keeps busy; at 19 only what nothing else "
        "wants (logins then wait out a busy spell); 0 is request serving's own.",
    )
    password_hash_queue: int = Field(
        64, ge=1, description="Logins waiting for a hashing process before 503 busy."
    )
    login_platforms: CommaList = Field(
        default_factory=lambda: list(DEFAULT_PLATFORMS),
        description="Accepted `platform` values of a login.",
    )
    lockout_user_threshold: int = Field(
        5, ge=1, description="Failed logins of a username before it is locked."
    )
    lockout_address_threshold: int = Field(
        20, ge=1, description="Failed logins from an address before it is locked."
    )
    lockout_base_seconds: float = Field(
        30.0, gt=0, description="First lockout; each further failure doubles it."
    )
    lockout_max_seconds: float = Field(900.0, gt=0, description="Longest lockout.")
    lockout_window_seconds: float = Field(
        900.0, gt=0, description="Failures older than this no longer count."
    )

    @property
    def hash_processes(self) -> int:
        """How many processes hash passwords in each auth process."""
        if self.password_hash_workers is not None:
            return self.password_hash_workers
        return max(1, len(os.sched_getaffinity(0)) // self.workers)

    @property
    def longest_token_lifetime(self) -> int:
        """How long a retired signing key stays published: its tokens may live this long."""
        return max(self.session_token_lifetime, self.access_token_max_lifetime)
