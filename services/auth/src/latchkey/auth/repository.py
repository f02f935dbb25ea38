"""asyncpg in, pydantic models out: every read and write of the `auth` schema."""

from datetime import datetime
from uuid import UUID

from latchkey.auth import queries
from latchkey.auth.models import User, UserWithHash
from latchkey.common import errors
from latchkey.common.db import Connection


class UserNotFound(errors.NotFound):
    message = "No user has this id."


class UsernameTaken(errors.Conflict):
    reason = "username_taken"
    message = "A user with this username already exists."


async def count_users(conn: Connection) -> int:
    count: int = await conn.fetchval(queries.COUNT_USERS)
    return count


async def lock_bootstrap(conn: Connection) -> None:
    await conn.execute(queries.BOOTSTRAP_LOCK)


async def insert_user(
    conn: Connection,
    *,
    user_id: UUID,
    username: str,
    display_name: str,
    roles: list[str],
    portals: list[str],
    password_hash: str,
) -> User:
    row = await conn.fetchrow(
        queries.INSERT_USER, user_id, username, display_name, roles, portals, password_hash
    )
    if row is None:
        raise UsernameTaken()
    return User.model_validate(dict(row))


async def get_user(conn: Connection, *, user_id: UUID, for_update: bool = False) -> User:
    query = queries.SELECT_USER_FOR_UPDATE if for_update else queries.SELECT_USER
    row = await conn.fetchrow(query, user_id)
    if row is None:
        raise UserNotFound()
    return User.model_validate(dict(row))


async def find_credentials(conn: Connection, *, username: str) -> UserWithHash | None:
    row = await conn.fetchrow(queries.SELECT_CREDENTIALS, username)
    return UserWithHash.model_validate(dict(row)) if row is not None else None


async def list_users(conn: Connection, *, after: str | None, limit: int) -> list[User]:
    rows = await conn.fetch(queries.LIST_USERS, after, limit)
    return [User.model_validate(dict(row)) for row in rows]


async def update_user(
    conn: Connection,
    *,
    user_id: UUID,
    display_name: str,
    roles: list[str],
    portals: list[str],
    disabled: bool,
) -> User:
    row = await conn.fetchrow(queries.UPDATE_USER, user_id, display_name, roles, portals, disabled)
    return User.model_validate(dict(row))


async def set_password(conn: Connection, *, user_id: UUID, password_hash: str) -> User:
    row = await conn.fetchrow(queries.UPDATE_PASSWORD, user_id, password_hash)
    if row is None:
        raise UserNotFound()
    return User.model_validate(dict(row))


async def replace_hash(conn: Connection, *, user_id: UUID, old: str, new: str) -> None:
    await conn.execute(queries.REHASH_PASSWORD, user_id, old, new)


# --- failed logins ---------------------------------------------------------------------------


async def locked_until(conn: Connection, *, keys: list[str]) -> datetime | None:
    until: datetime | None = await conn.fetchval(queries.SELECT_LOCKS, keys)
    return until


async def record_failure(
    conn: Connection,
    *,
    key: str,
    threshold: int,
    base_seconds: float,
    max_seconds: float,
    window_seconds: float,
) -> datetime | None:
    """Count one failed login for `key`; returns until when it is locked (None: not locked)."""
    row = await conn.fetchrow(
        queries.RECORD_FAILURE, key, threshold, base_seconds, max_seconds, window_seconds
    )
    until: datetime | None = row["locked_until"]
    return until


async def clear_failures(conn: Connection, *, key: str) -> None:
    await conn.execute(queries.CLEAR_FAILURES, key)
