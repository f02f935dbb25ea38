"""Confirm access: before the console generates a token or revokes every token of a user, the
admin types their password again (auth checks it), and the confirmation lasts
`LATCHKEY_CONSOLE_CONFIRM_SECONDS` for that session, as GitHub's sudo mode does. A page that
shares the console's origin can drive a console window; it cannot type the password."""

from uuid import UUID

import asyncpg

from latchkey.common import errors
from latchkey.common.auth_client import AuthClient
from latchkey.common.service_client import ServiceError
from latchkey.registry import repository as repo

PROBLEMS = {
    401: "That is not your password.",
    429: "Too many wrong passwords; wait a while before trying again.",
}


async def is_confirmed(pool: asyncpg.Pool, *, jti: UUID) -> bool:
    async with pool.acquire() as conn:
        return await repo.is_confirmed(conn, jti=jti)


async def confirm(
    pool: asyncpg.Pool,
    auth: AuthClient,
    *,
    jti: UUID,
    user_id: str,
    password: str,
    lasts: int,
) -> str | None:
    """None when the session's access is confirmed (now, or recently); else what to tell the
    admin."""
    if await is_confirmed(pool, jti=jti):
        return None
    if not password:
        return "Confirm with your password to do this."
    try:
        await auth.check_password(user_id, password)
    except ServiceError as exc:
        return PROBLEMS.get(exc.status, exc.message or "Your password could not be checked.")
    except errors.ServiceUnavailable:
        return "Your password cannot be checked right now; try again shortly."
    if lasts > 0:
        async with pool.acquire() as conn:
            await repo.confirm(conn, jti=jti, seconds=lasts)
    return None
