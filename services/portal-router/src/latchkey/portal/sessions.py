"""Browser sessions: a signed and encrypted cookie (Fernet: AES-CBC with HMAC-SHA256), no
server-side store. Several keys are accepted so they can rotate; the first one encrypts.

The cookie holds the token itself, encrypted: the router re-checks it against the token-state
view on every request, and can hand it to an upstream that needs it. Opened cookies are
cached by their exact string, so decryption happens once per session per process.
"""

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from latchkey.common.bounded import BoundedDict

COOKIE_NAME = "latchkey_session"
MAX_COOKIE_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    token: str
    portal: str
    created_at: float
    expires_at: float


class SessionCodec:
    def __init__(
        self,
        keys: list[SecretStr],
        *,
        cache_size: int = 50_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("at least one session key is needed (LATCHKEY_SESSION_KEYS)")
        self._fernet = MultiFernet([Fernet(key.get_secret_value().encode()) for key in keys])
        self._cache: BoundedDict[str, Session] = BoundedDict(cache_size)
        self.cache_size = cache_size
        self._clock = clock

    def new(
        self, *, token: str, portal: str, token_expires_at: float, max_lifetime: int
    ) -> Session:
        now = self._clock()
        return Session(
            sid=secrets.token_urlsafe(16),
            token=token,
            portal=portal,
            created_at=now,
            expires_at=min(token_expires_at, now + max_lifetime),
        )

    def seal(self, session: Session) -> str:
        payload = {
            "v": 1,
            "sid": session.sid,
            "tok": session.token,
            "portal": session.portal,
            "iat": session.created_at,
            "exp": session.expires_at,
        }
        return self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode()

    def open(self, cookie: str) -> Session | None:
        """The session in a cookie; None when it is not one of ours (tampered, old key)."""
        session = self._cache.get(cookie)
        if session is not None:
            return session
        if len(cookie) > MAX_COOKIE_LENGTH:
            return None
        try:
            payload = json.loads(self._fernet.decrypt(cookie.encode()))
            session = Session(
                sid=str(payload["sid"]),
                token=str(payload["tok"]),
                portal=str(payload["portal"]),
                created_at=float(payload["iat"]),
                expires_at=float(payload["exp"]),
            )
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None
        self._cache.remember(cookie, session)
        return session


def cookie_value(header: str | None) -> str | None:
    """Our cookie from a Cookie header, without parsing every other cookie (the hot path)."""
    if not header:
        return None
    start = header.find(COOKIE_NAME + "=")
    while start > 0 and header[start - 1] not in " ;":
        start = header.find(COOKIE_NAME + "=", start + 1)
    if start < 0:
        return None
    start += len(COOKIE_NAME) + 1
    end = header.find(";", start)
    return header[start : end if end >= 0 else None].strip() or None


def set_cookie_header(
    value: str,
    *,
    path: str,
    max_age: int,
    secure: bool,
    embeddable: bool,
    name: str = COOKIE_NAME,
    partitioned: bool = True,
) -> str:
    """A Set-Cookie value that fits the connection. Over HTTPS: `Secure`, and for embeddable
    portals `SameSite=None; Partitioned` (CHIPS: the one kind of cookie a cross-site iframe
    keeps, unless storage access was granted to the frame: then an unpartitioned one). Over
    plain HTTP: neither, for browsers drop a `Secure` cookie set over HTTP on any host but
    localhost, and `SameSite=Lax`, which top-level deep links need. Written by hand: Python
    3.11's cookie module refuses Partitioned."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max(0, max_age)}", "HttpOnly"]
    if secure and embeddable:
        parts += ["Secure", "SameSite=None"] + (["Partitioned"] if partitioned else [])
    elif secure:
        parts += ["Secure", "SameSite=Lax"]
    else:
        parts.append("SameSite=Lax")
    return "; ".join(parts)


def clear_cookie_header(*, path: str, secure: bool, embeddable: bool) -> str:
    return set_cookie_header("", path=path, max_age=0, secure=secure, embeddable=embeddable)
