"""Signing keys: generated and kept in the `auth` schema (or read from PEM files), published as a
JWKS (RFC 7517) with the previous keys, rotated without breaking live tokens.

Each key's `kid` is its RFC 7638 thumbprint. The JWKS lists the current key and every retired
key whose tokens may still be alive, so a rotation never invalidates a token. Instances pick
up a rotation made by another instance within `RELOAD_INTERVAL` seconds, and at once when
asked to verify a token signed with a key they do not know yet.
"""

import asyncio
import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from latchkey.auth import repository as repo
from latchkey.common import errors
from latchkey.common.sealing import Sealer

log = logging.getLogger(__name__)

RELOAD_INTERVAL = 10.0
JWKS_FRESHNESS = 1.0
"""The JWKS answered is at most this old (in seconds)."""
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class KeysFromFiles(errors.Conflict):
    reason = "keys_from_files"
    message = "Signing keys come from PEM files here; rotate by replacing the files."


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: PrivateKey | None
    """None for a published-only key (a previous key given as a public PEM)."""
    jwk: dict[str, Any]


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported signing algorithm {algorithm}")


def algorithm_of(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("only P-256 EC keys are supported (ES256)")
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise ValueError("unsupported key type")


def public_jwk(public: PublicKey, algorithm: str) -> dict[str, Any]:
    """The public JWK with its RFC 7638 thumbprint as `kid`."""
    required: tuple[str, ...]
    if isinstance(public, rsa.RSAPublicKey):
        members = RSAAlgorithm.to_jwk(public, as_dict=True)
        required = ("e", "kty", "n")
    elif isinstance(public, ec.EllipticCurvePublicKey):
        members = ECAlgorithm.to_jwk(public, as_dict=True)
        required = ("crv", "kty", "x", "y")
    else:
        members = OKPAlgorithm.to_jwk(public, as_dict=True)
        required = ("crv", "kty", "x")
    thumbprinted = {name: members[name] for name in required}
    canonical = json.dumps(thumbprinted, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    kid = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return {**thumbprinted, "kid": kid, "alg": algorithm, "use": "sig"}


def key_from_private(private: PrivateKey) -> SigningKey:
    algorithm = algorithm_of(private)
    jwk = public_jwk(private.public_key(), algorithm)
    return SigningKey(kid=jwk["kid"], algorithm=algorithm, private=private, jwk=jwk)


def key_from_pem_file(path: Path, *, private_required: bool) -> SigningKey:
    data = path.read_bytes()
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        if private_required:
            raise ValueError(f"{path} holds no unencrypted PEM private key") from None
        public = serialization.load_pem_public_key(data)
        algorithm = algorithm_of(public)  # type: ignore[arg-type]
        jwk = public_jwk(public, algorithm)  # type: ignore[arg-type]
        return SigningKey(kid=jwk["kid"], algorithm=algorithm, private=None, jwk=jwk)
    return key_from_private(loaded)  # type: ignore[arg-type]


def private_pem(private: PrivateKey) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class KeyStore:
    """The key that signs now, the keys that verify, and the JWKS that publishes them, held
    in memory: the JWKS is answered from here (an unauthenticated call must cost next to
    nothing) and re-read from the database at most once a second, so a key another instance
    rotated in is published within a second."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        sealer: Sealer,
        algorithm: str,
        publish_retired_for: float,
        key_file: Path | None = None,
        previous_key_files: list[str] | tuple[str, ...] = (),
    ) -> None:
        self._pool = pool
        self._sealer = sealer
        self._algorithm = algorithm
        self._publish_retired_for = publish_retired_for
        self._files = key_file is not None
        self._current: SigningKey | None = None
        self._verifying: dict[str, jwt.PyJWK] = {}
        self._jwks: dict[str, Any] = {"keys": []}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        if key_file is not None:
            current = key_from_pem_file(key_file, private_required=True)
            previous = [
                key_from_pem_file(Path(p), private_required=False) for p in previous_key_files
            ]
            self._use(current, [current.jwk, *(key.jwk for key in previous)])

    @property
    def current(self) -> SigningKey:
        assert self._current is not None, "KeyStore.load() was not awaited"
        return self._current

    def _use(self, current: SigningKey, published: list[dict[str, Any]]) -> None:
        self._current = current
        self._jwks = {"keys": published}
        self._verifying = {jwk["kid"]: jwt.PyJWK(jwk, jwk["alg"]) for jwk in published}
        self._loaded_at = time.monotonic()

    async def load(self) -> None:
        """Read the keys from the database: generate the first one if there is none, and
        seal any an earlier version kept in clear. The private key is parsed only when the
        current key is not the one already in memory (an RSA key costs tens of ms)."""
        if self._files:
            return
        async with self._lock, self._pool.acquire() as conn, conn.transaction():
            await repo.lock_keys(conn)
            current = await repo.current_key(conn)
            if current is None:
                await self._insert_new_key(conn)
                current = await repo.current_key(conn)
                assert current is not None
            for kid, stored in await repo.keys_in_clear(conn):
                await repo.reseal_key(conn, kid=kid, private=self._sealer.seal(stored.encode()))
                log.info("sealed the signing key %s, kept in clear until now", kid)
            published = await repo.published_keys(conn, retired_for=self._publish_retired_for)
        kid, stored = current
        if self._current is None or self._current.kid != kid:
            pem = self._sealer.open(stored)
            private = serialization.load_pem_private_key(pem, password=None)
            key = key_from_private(private)  # type: ignore[arg-type]
        else:
            key = self._current
        self._use(key, published)

    async def _insert_new_key(self, conn: asyncpg.Connection) -> SigningKey:
        key = key_from_private(generate_private_key(self._algorithm))
        assert key.private is not None
        await repo.insert_key(
            conn,
            kid=key.kid,
            algorithm=key.algorithm,
            private=self._sealer.seal(private_pem(key.private).encode()),
            public_jwk=key.jwk,
        )
        log.info("generated signing key %s (%s)", key.kid, key.algorithm)
        return key

    async def rotate(self) -> SigningKey:
        """Retire the current key and sign with a new one from now on."""
        if self._files:
            raise KeysFromFiles()
        async with self._pool.acquire() as conn, conn.transaction():
            await repo.lock_keys(conn)
            await repo.retire_current_key(conn)
            key = await self._insert_new_key(conn)
        await self.load()
        return key

    async def reload_if_due(self, interval: float = RELOAD_INTERVAL) -> None:
        if not self._files and time.monotonic() - self._loaded_at > interval:
            await self.load()

    async def jwks(self) -> dict[str, Any]:
        """The published keys (a verifier asks after seeing an unknown `kid`)."""
        await self.reload_if_due(JWKS_FRESHNESS)
        return self._jwks

    async def key(self, kid: str) -> jwt.PyJWK:
        """KeySource for verifying our own tokens (logout, the admin API)."""
        found = self._verifying.get(kid)
        if found is None:
            await self.reload_if_due(JWKS_FRESHNESS)
            found = self._verifying.get(kid)
        if found is None:
            raise errors.TokenInvalid("The access token is signed with an unknown key.")
        return found

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.current
        assert key.private is not None, "the current key always has its private half"
        return jwt.encode(
            claims, key.private, algorithm=key.algorithm, headers={"kid": key.kid, "typ": "JWT"}
        )

    def describe(self) -> list[dict[str, Any]]:
        current = self.current.kid
        return [
            {"kid": jwk["kid"], "algorithm": jwk["alg"], "current": jwk["kid"] == current}
            for jwk in self._jwks["keys"]
        ]
