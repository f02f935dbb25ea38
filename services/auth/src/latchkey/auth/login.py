"""The login flow existing clients speak, with brute-force protection that really blocks."""

import asyncio
import weakref
from dataclasses import dataclass, field

import asyncpg

from latchkey.auth import repository as repo
from latchkey.auth.issuing import Issuer
from latchkey.auth.models import LoginRequest, LoginResult, User
from latchkey.auth.passwords import Passwords
from latchkey.auth.throttle import Throttle
from latchkey.common import errors


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
    platforms: frozenset[str]
    # One attempt per username at a time in this process, so parallel guesses each see the
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
        lock = self._attempts.setdefault(body.username.lower(), asyncio.Lock())
        async with lock:
            user = await self._check_password(body.username, password, address=address)
        if user.disabled:
            raise errors.UserDisabled()
        token = await self.issuer.issue_session(
            user, channel=body.channel, platform=body.platform, device=body.device_uid
        )
        return LoginResult(access_token=token, user=user)

    async def _check_password(self, username: str, password: str, *, address: str) -> User:
        async with self.pool.acquire() as conn:
            await self.throttle.check(conn, username=username, address=address)
            found = await repo.find_credentials(conn, username=username)
        # Verified even for an unknown username (against a decoy), so both take as long.
        matches = await self.passwords.verify(found.password_hash if found else None, password)
        async with self.pool.acquire() as conn:
            if not matches or found is None:
                await self.throttle.failed(conn, username=username, address=address)
                raise errors.InvalidCredentials()
            await self.throttle.succeeded(conn, username=username)
            if self.passwords.needs_rehash(found.password_hash):
                await repo.replace_hash(
                    conn,
                    user_id=found.user_id,
                    old=found.password_hash,
                    new=await self.passwords.hash(password),
                )
        return User.model_validate(found.model_dump(exclude={"password_hash"}))
