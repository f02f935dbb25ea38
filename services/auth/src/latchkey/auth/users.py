"""User rules: the first admin, creating and changing users, passwords. Any change that should
end a user's sessions (disabled, new password, fewer rights) revokes every token they hold."""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from latchkey.auth import repository as repo
from latchkey.auth.models import NewUser, Role, User, UserListQuery, UserPage, UserPatch
from latchkey.auth.passwords import MAX_PASSWORD_LENGTH, Passwords
from latchkey.auth.revocations import Revocations
from latchkey.common import errors
from latchkey.common.models import Actor

log = logging.getLogger(__name__)


class NoUsersAndNoAdmin(RuntimeError):
    """Start refused: nobody could ever sign in."""


class WeakPassword(errors.ValidationFailed):
    message = "The password is too short."


def check_password(password: str, *, min_length: int) -> None:
    if len(password) < min_length or not password.strip():
        raise WeakPassword(
            data=[{"field": "password", "message": f"at least {min_length} characters"}]
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            "The password is too long.",
            data=[{"field": "password", "message": f"at most {MAX_PASSWORD_LENGTH} characters"}],
        )


def default_portals(roles: list[Role], portals: Iterable[str]) -> list[str]:
    """Without explicit portals, each role opens the configured portal of the same name."""
    configured = set(portals)
    return [role.value for role in roles if role.value in configured]


async def bootstrap_admin(
    pool: asyncpg.Pool,
    passwords: Passwords,
    *,
    username: str,
    password: str,
    min_length: int,
    portals: list[str],
) -> None:
    """Create the first admin when no user exists; refuse to start when none can be made."""
    async with pool.acquire() as conn, conn.transaction():
        await repo.lock_bootstrap(conn)
        if await repo.count_users(conn) > 0:
            return
        if not username or not password:
            raise NoUsersAndNoAdmin(
                "no user exists yet: set LATCHKEY_ADMIN_USERNAME and LATCHKEY_ADMIN_PASSWORD "
                "so the first admin can be created"
            )
        check_password(password, min_length=min_length)
        await repo.insert_user(
            conn,
            user_id=uuid.uuid4(),
            username=username,
            display_name=username,
            roles=[Role.ADMIN.value, Role.AGENT.value],
            portals=portals,
            password_hash=await passwords.hash(password),
        )
    log.info("created the first admin, %s", username)


async def create_user(
    pool: asyncpg.Pool,
    passwords: Passwords,
    *,
    body: NewUser,
    min_length: int,
    portals: Iterable[str],
) -> User:
    password = body.password.get_secret_value()
    check_password(password, min_length=min_length)
    password_hash = await passwords.hash(password)
    async with pool.acquire() as conn:
        return await repo.insert_user(
            conn,
            user_id=uuid.uuid4(),
            username=body.username,
            display_name=body.display_name or body.username,
            roles=[role.value for role in body.roles],
            portals=body.portals
            if body.portals is not None
            else default_portals(body.roles, portals),
            password_hash=password_hash,
        )


async def list_users(pool: asyncpg.Pool, *, query: UserListQuery) -> UserPage:
    async with pool.acquire() as conn:
        users = await repo.list_users(conn, after=query.after, limit=query.limit + 1)
    more = len(users) > query.limit
    users = users[: query.limit]
    return UserPage(items=users, next_after=users[-1].username if more else None)


async def get_user(pool: asyncpg.Pool, *, user_id: uuid.UUID) -> User:
    async with pool.acquire() as conn:
        return await repo.get_user(conn, user_id=user_id)


def _ends_sessions(current: User, patch: UserPatch) -> str | None:
    """Why the patch must end the user's sessions, if it must."""
    if patch.disabled and not current.disabled:
        return "user disabled"
    if patch.roles is not None and set(patch.roles) != set(current.roles):
        return "roles changed"
    if patch.portals is not None and set(patch.portals) != set(current.portals):
        return "portals changed"
    return None


@dataclass(frozen=True)
class UserChanged:
    user: User
    revoked: bool | None
    """Whether the revocation the change called for has reached the registry (None: it
    called for none; False: it is pending and retried until the registry takes it)."""


async def update_user(
    pool: asyncpg.Pool,
    revocations: Revocations,
    *,
    user_id: uuid.UUID,
    patch: UserPatch,
    actor: Actor,
) -> UserChanged:
    """Apply the patch; the revocation it calls for commits with it and is delivered after."""
    async with pool.acquire() as conn, conn.transaction():
        current = await repo.get_user(conn, user_id=user_id, for_update=True)
        roles = patch.roles if patch.roles is not None else current.roles
        updated = await repo.update_user(
            conn,
            user_id=user_id,
            display_name=patch.display_name
            if patch.display_name is not None
            else current.display_name,
            roles=[role.value for role in roles],
            portals=patch.portals if patch.portals is not None else current.portals,
            disabled=patch.disabled if patch.disabled is not None else current.disabled,
        )
        reason = _ends_sessions(current, patch)
        owed = None
        if reason is not None:
            owed = await revocations.queue(conn, user_id=user_id, reason=reason, actor=actor)
    revoked = await revocations.deliver(owed) if owed is not None else None
    return UserChanged(updated, revoked)


async def set_password(
    pool: asyncpg.Pool,
    passwords: Passwords,
    revocations: Revocations,
    *,
    user_id: uuid.UUID,
    password: str,
    min_length: int,
    actor: Actor,
) -> UserChanged:
    check_password(password, min_length=min_length)
    password_hash = await passwords.hash(password)
    async with pool.acquire() as conn, conn.transaction():
        updated = await repo.set_password(conn, user_id=user_id, password_hash=password_hash)
        owed = await revocations.queue(
            conn, user_id=user_id, reason="password changed", actor=actor
        )
    return UserChanged(updated, await revocations.deliver(owed))
