"""asyncpg in, pydantic models out: every read and write of the `auth` schema."""

from datetime import datetime
from typing import Any
from uuid import UUID

from latchkey.auth import queries
from latchkey.auth.models import PendingRevocation, User, UserWithHash
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


async def find_credentials(conn: Connection, *, canonical: str) -> UserWithHash | None:
    row = await conn.fetchrow(queries.SELECT_CREDENTIALS, canonical)
    return UserWithHash.model_validate(dict(row)) if row is not None else None


async def login_state(conn: Connection, *, user_id: UUID) -> tuple[bool, datetime] | None:
    """(disabled, password changed at) of a user, None when the user is gone."""
    row = await conn.fetchrow(queries.SELECT_LOGIN_STATE, user_id)
    return (row["disabled"], row["password_changed_at"]) if row is not None else None


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


# --- signing keys ---------------------------------------------------------------------------


async def lock_keys(conn: Connection) -> None:
    await conn.execute(queries.KEY_LOCK)


async def current_key(conn: Connection) -> tuple[str, str] | None:
    """(kid, stored private key) of the key that signs now."""
    row = await conn.fetchrow(queries.SELECT_CURRENT_KEY)
    return (row["kid"], row["private_pem"]) if row is not None else None


async def published_keys(conn: Connection, *, retired_for: float) -> list[dict[str, Any]]:
    """Public JWKs of the current key and of retired keys whose tokens may be alive."""
    rows = await conn.fetch(queries.SELECT_PUBLISHED_KEYS, retired_for)
    return [dict(row["public_jwk"]) for row in rows]


async def retire_current_key(conn: Connection) -> None:
    await conn.execute(queries.RETIRE_CURRENT_KEY)


async def insert_key(
    conn: Connection, *, kid: str, algorithm: str, private: str, public_jwk: dict[str, Any]
) -> None:
    await conn.execute(queries.INSERT_KEY, kid, algorithm, private, public_jwk)


async def keys_in_clear(conn: Connection) -> list[tuple[str, str]]:
    """Keys an earlier version stored unsealed: (kid, PEM)."""
    rows = await conn.fetch(queries.SELECT_KEYS_IN_CLEAR)
    return [(row["kid"], row["private_pem"]) for row in rows]


async def reseal_key(conn: Connection, *, kid: str, private: str) -> None:
    await conn.execute(queries.RESEAL_KEY, kid, private)


# --- revocations owed to the registry -----------------------------------------------------


async def queue_revocation(
    conn: Connection, *, user_id: UUID, reason: str, actor_id: str, actor_name: str
) -> int:
    queued: int = await conn.fetchval(
        queries.QUEUE_REVOCATION, user_id, reason, actor_id, actor_name
    )
    return queued


async def claim_revocation(
    conn: Connection, *, revocation_id: int | None, hold_seconds: float
) -> PendingRevocation | None:
    row = await conn.fetchrow(queries.CLAIM_REVOCATION, revocation_id, hold_seconds)
    return PendingRevocation.model_validate(dict(row)) if row is not None else None


async def release_revocation(conn: Connection, *, revocation_id: int) -> None:
    await conn.execute(queries.RELEASE_REVOCATION, revocation_id)


async def delete_revocation(conn: Connection, *, revocation_id: int) -> None:
    await conn.execute(queries.DELETE_REVOCATION, revocation_id)


async def pending_revocations(conn: Connection) -> int:
    count: int = await conn.fetchval(queries.COUNT_PENDING_REVOCATIONS)
    return count
