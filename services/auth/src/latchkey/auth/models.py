"""What the auth service's public APIs take and answer (camelCase on the wire); what it
exchanges with the other services is in `latchkey.common.contracts`."""

import re
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, Field, model_validator

from latchkey.common.contracts import (
    LoginRequest,
    LoginResult,
    Password,
    PasswordCheck,
    PasswordChecked,
    Role,
    SignedToken,
    SignRequest,
    User,
    UserPage,
)
from latchkey.common.models import ApiModel, RequestModel, omitted_not_null
from latchkey.common.text import Name

__all__ = [
    "LoginRequest",
    "LoginResult",
    "PasswordCheck",
    "PasswordChecked",
    "Role",
    "SignRequest",
    "SignedToken",
    "User",
    "UserPage",
]

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$"
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=USERNAME_PATTERN)]
PORTAL_NAME = r"^[a-z][a-z0-9-]{0,63}$"
_USERNAME = re.compile(USERNAME_PATTERN)


def canonical_username(typed: str) -> str | None:
    """The one form usernames are compared in (sign-in, lockout, uniqueness): ASCII lower
    case. Usernames are ASCII by construction, so what is not ASCII (a Turkish dotted İ, a
    full-width letter) names nobody; None then."""
    if len(typed) > 64 or not typed.isascii() or not _USERNAME.match(typed):
        return None
    return typed.lower()


def _check_portals(portals: list[str] | None) -> list[str] | None:
    if portals is None:
        return None
    for portal in portals:
        if not re.match(PORTAL_NAME, portal):
            raise ValueError(f"{portal!r} is not a portal name (lower-case letters, digits, -)")
    return list(dict.fromkeys(portals))


PortalList = Annotated[list[str] | None, Field(max_length=20), AfterValidator(_check_portals)]


class UserWithHash(User):
    password_hash: str


class NewUser(RequestModel):
    username: Username
    password: Password
    display_name: Name = ""
    roles: list[Role] = Field(default_factory=lambda: [Role.AGENT], min_length=1)
    portals: PortalList = None


class UserPatch(RequestModel):
    display_name: Name | None = Field(default=None, json_schema_extra=omitted_not_null)
    roles: list[Role] | None = Field(default=None, min_length=1, json_schema_extra=omitted_not_null)
    portals: PortalList = Field(default=None, json_schema_extra=omitted_not_null)
    disabled: bool | None = Field(default=None, json_schema_extra=omitted_not_null)

    @model_validator(mode="after")
    def _something_to_change(self) -> "UserPatch":
        if not self.model_fields_set:
            raise ValueError("give at least one of displayName, roles, portals, disabled")
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null; leave a field out to keep it")
        return self


class PasswordChange(RequestModel):
    password: Password


class UserListQuery(RequestModel):
    after: Annotated[str, Field(max_length=64, pattern=USERNAME_PATTERN)] | None = Field(
        default=None, description="Usernames after this."
    )
    limit: int = Field(default=50, ge=1, le=500)


class PendingRevocation(ApiModel):
    """Every token of a user, to be revoked in the registry (see `revocations.py`)."""

    id: int
    user_id: UUID
    reason: str
    actor_id: str
    actor_name: str
    attempts: int


class KeyInfo(ApiModel):
    kid: str
    algorithm: str
    current: bool
