"""The login flow existing clients speak, with brute-force protection that really blocks, and
no way for a sign-in to outrun a change that disables the user or replaces the password.

The password is checked (argon2id, about 180 ms with the defaults), then the token is signed
and recorded in the registry, and only then is the user read again: if the account was
disabled or given a new password meanwhile, every token of the user is revoked (this one is
recorded by now, so the revocation finds it) and the sign-in is refused. A change committed
after that second read is followed by its own revocation, which finds the token too.
"""

import asyncio
import weakref
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from latchkey.auth import repository as repo
from latchkey.auth.issuing import Issuer
from latchkey.auth.models import LoginRequest, LoginResult, User, UserWithHash, canonical_username
from latchkey.auth.passwords import Passwords
from latchkey.auth.revocations import Revocations
from latchkey.auth.throttle import Throttle
from latchkey.common import errors
from latchkey.common.models import Actor


class PasswordHashNotSupported(errors.BadRequest):
    reason = "password_hash_not_supported"
    message = (
        "Logins with passwordHash/passwordSalt are not supported: send the password itself, "
        "over HTTPS."
    )


class UnknownPlatform(errors.ValidationFailed):
    message = "This platform is not accepted."


@dataclass
class Login:
    pool: asyncpg.Pool
    passwords: Passwords
    throttle: Throttle
    issuer: Issuer
    revocations: Revocations
    platforms: frozenset[str]
    # One attempt per account at a time in this process, so parallel guesses each see the
    # failures before them instead of racing past the threshold together.
    _attempts: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )

    def validate(self, body: LoginRequest) -> str:
        if body.password_hash is not None or body.password_salt is not None:
            raise PasswordHashNotSupported()
        if body.password is None:
            raise errors.ValidationFailed(data=[{"field": "password", "message": "required"}])
        if body.platform not in self.platforms:
            raise UnknownPlatform(
                data=[{"field": "platform", "message": f"one of {sorted(self.platforms)}"}]
            )
        return body.password.get_secret_value()

    async def __call__(self, body: LoginRequest, *, address: str) -> LoginResult:
        password = self.validate(body)
        user, password_changed_at = await self.check_password(
            body.username, password, address=address
        )
        if user.disabled:
            raise errors.UserDisabled()
        token = await self.issuer.issue_session(
            user, channel=body.channel, platform=body.platform, device=body.device_uid
        )
        await self._still_signed_in(user, password_changed_at)
        return LoginResult(access_token=token, user=user)

    async def check_password(
        self, typed: str, password: str, *, address: str | None
    ) -> tuple[User, datetime]:
        """The user whose password this is (and when it was set), or 401/429. Every answer
        takes about as long, whether the user exists or not."""
        canonical = canonical_username(typed)
        async with self.pool.acquire() as conn:
            found = await repo.find_credentials(conn, canonical=canonical) if canonical else None
        subject = self.throttle.subject(found.user_id if found else None, typed)
        lock = self._attempts.setdefault(subject, asyncio.Lock())
        async with lock:
            async with self.pool.acquire() as conn:
                await self.throttle.check(conn, subject=subject, address=address)
            # Verified even for an unknown username (against a decoy), so both take as long.
            matches = await self.passwords.verify(found.password_hash if found else None, password)
            async with self.pool.acquire() as conn:
                if not matches or found is None:
                    await self.throttle.failed(conn, subject=subject, address=address)
                    raise errors.InvalidCredentials()
                await self.throttle.succeeded(conn, subject=subject)
                await self._rehash_if_due(conn, found, password)
        return User.model_validate(
            found.model_dump(exclude={"password_hash"})
        ), found.password_changed_at

    async def _rehash_if_due(
        self, conn: asyncpg.Connection, found: UserWithHash, password: str
    ) -> None:
        if self.passwords.needs_rehash(found.password_hash):
            new = await self.passwords.hash(password)
            await repo.replace_hash(conn, user_id=found.user_id, old=found.password_hash, new=new)

    async def _still_signed_in(self, user: User, password_changed_at: datetime) -> None:
        """After the token is recorded: refuse (and revoke) if the account changed since the
        password was checked."""
        async with self.pool.acquire() as conn:
            now = await repo.login_state(conn, user_id=user.user_id)
            if now is not None and not now[0] and now[1] == password_changed_at:
                return
            owed = await self.revocations.queue(
                conn,
                user_id=user.user_id,
                reason="changed while signing in",
                actor=Actor(id="auth", name="auth"),
            )
        await self.revocations.deliver(owed)
        if now is None or now[0]:
            raise errors.UserDisabled()
        raise errors.InvalidCredentials()
