"""What the auth service's APIs take and answer (camelCase on the wire)."""

import re
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from latchkey.common.domains import DomainList
from latchkey.common.models import ApiModel, RequestModel, UtcDatetime

USERNAME = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
PORTALS = Field(default=None, max_length=20)
PORTAL_NAME = r"^[a-z][a-z0-9-]{0,63}$"


class Role(StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


def _check_portals(portals: list[str] | None) -> list[str] | None:
    if portals is None:
        return None
    for portal in portals:
        if not re.match(PORTAL_NAME, portal):
            raise ValueError(f"{portal!r} is not a portal name (lower-case letters, digits, -)")
    return list(dict.fromkeys(portals))


class User(ApiModel):
    """A user as every API shows it: never the password hash."""

    user_id: UUID = Field(validation_alias="id", serialization_alias="userId")
    username: str
    display_name: str
    roles: list[Role]
    portals: list[str]
    disabled: bool
    password_changed_at: datetime
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(populate_by_name=True)


class UserWithHash(User):
    password_hash: str


class NewUser(RequestModel):
    username: str = USERNAME
    password: SecretStr = Field(min_length=1, max_length=1024)
    display_name: str = Field(default="", max_length=200)
    roles: list[Role] = Field(default_factory=lambda: [Role.AGENT], min_length=1)
    portals: list[str] | None = PORTALS

    _portals = field_validator("portals")(_check_portals)


class UserPatch(RequestModel):
    display_name: str | None = Field(default=None, max_length=200)
    roles: list[Role] | None = Field(default=None, min_length=1)
    portals: list[str] | None = PORTALS
    disabled: bool | None = None

    _portals = field_validator("portals")(_check_portals)

    @model_validator(mode="after")
    def _something_to_change(self) -> "UserPatch":
        if not self.model_fields_set:
            raise ValueError("give at least one of displayName, roles, portals, disabled")
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null; leave a field out to keep it")
        return self


class PasswordChange(RequestModel):
    password: SecretStr = Field(min_length=1, max_length=1024)


class UserListQuery(RequestModel):
    after: str | None = Field(default=None, max_length=64, description="Usernames after this.")
    limit: int = Field(default=50, ge=1, le=500)


class UserPage(ApiModel):
    items: list[User]
    next_after: str | None


class LoginRequest(RequestModel):
    """The login body existing clients send; unknown fields are ignored, as they always were."""

    model_config = ConfigDict(extra="ignore")

    username: str = Field(min_length=1, max_length=200)
    password: SecretStr | None = Field(default=None, max_length=1024)
    channel: str = Field(default="", max_length=64)
    platform: str = Field(default="", max_length=64)
    device_uid: str = Field(default="", max_length=200)
    captcha_uid: str | None = Field(default=None, max_length=200)
    captcha_code: str | None = Field(default=None, max_length=64)
    password_hash: str | None = Field(default=None, max_length=4096)
    password_salt: str | None = Field(default=None, max_length=4096)


class LoginResult(ApiModel):
    access_token: str
    user: User


class SignRequest(RequestModel):
    """The registry asks for an `access` token for a user (`POST /internal/v1/sign`)."""

    user_id: UUID
    portals: list[str] | None = PORTALS
    allowed_domains: DomainList = Field(default_factory=list)
    expires_at: UtcDatetime | None = None

    _portals = field_validator("portals")(_check_portals)


class SignedToken(ApiModel):
    access_token: str
    jti: UUID
    user_id: UUID
    username: str
    portals: list[str]
    roles: list[Role]
    allowed_domains: list[str]
    issued_at: datetime
    expires_at: datetime


class KeyInfo(ApiModel):
    kid: str
    algorithm: str
    current: bool
