"""Many fresh tokens fast, for deep links that must miss every cache: auth signs with a key the
bench brings (LATCHKEY_SIGNING_KEY_FILE, a documented setting), so the bench can sign tokens
exactly as auth does (same claims, same header) on both cores, and record them in the registry
with one COPY. Through auth's and the registry's APIs this takes several milliseconds a token
on this machine, which would eat the run's ten minutes."""

import asyncio
import os
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import asyncpg
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LIFETIME = 2_592_000
"""LATCHKEY_ACCESS_TOKEN_LIFETIME's default: an access token generated for an integration."""
CHUNK = 500
COLUMNS = ["jti", "user_id", "username", "kind", "name", "portals", "issued_at", "expires_at"]


def new_key_file(path: Path) -> Path:
    """An RS256 key like the ones auth generates (2048 bits), as a PEM file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def _every_core() -> None:
    """The driver is pinned to the load core; signing (before any load) may use them all."""
    os.sched_setaffinity(0, range(os.cpu_count() or 1))


def _sign_chunk(pem: bytes, kid: str, user_id: str, username: str, count: int) -> list[str]:
    key = serialization.load_pem_private_key(pem, password=None)
    now = int(time.time())
    tokens = []
    for _ in range(count):
        claims = {
            "iss": "latchkey",
            "aud": "latchkey",
            "sub": user_id,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "nbf": now,
            "exp": now + LIFETIME,
            "name": username,
            "portals": ["agent"],
            "roles": ["agent"],
        }
        tokens.append(
            jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})
        )
    return tokens


class Signer:
    def __init__(self, key_file: Path, *, kid: str, user_id: str, username: str) -> None:
        self._pem = key_file.read_bytes()
        self._kid = kid
        self._user_id = user_id
        self._username = username
        self._pool = ProcessPoolExecutor(
            max_workers=2, mp_context=get_context("spawn"), initializer=_every_core
        )

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    async def sign(self, count: int) -> list[str]:
        loop = asyncio.get_running_loop()
        chunks = [min(CHUNK, count - start) for start in range(0, count, CHUNK)]
        signed = await asyncio.gather(
            *(
                loop.run_in_executor(
                    self._pool,
                    _sign_chunk,
                    self._pem,
                    self._kid,
                    self._user_id,
                    self._username,
                    size,
                )
                for size in chunks
            )
        )
        return [token for chunk in signed for token in chunk]


async def record(database_url: str, tokens: list[str], *, username: str) -> None:
    """Record tokens in registry.tokens, as `POST /internal/v1/tokens` would, in one COPY."""
    rows: list[tuple[Any, ...]] = []
    for token in tokens:
        claims = jwt.decode(token, options={"verify_signature": False})
        rows.append(
            (
                uuid.UUID(claims["jti"]),
                claims["sub"],
                username,
                "access",
                "bench deep link",
                claims["portals"],
                datetime.fromtimestamp(claims["iat"], UTC),
                datetime.fromtimestamp(claims["exp"], UTC),
            )
        )
    conn = await asyncpg.connect(database_url)
    try:
        await conn.copy_records_to_table(
            "tokens", schema_name="registry", records=rows, columns=COLUMNS
        )
    finally:
        await conn.close()
