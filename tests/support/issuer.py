"""A stand-in token issuer for tests of services that verify tokens: a JWKS served over real
HTTP and a signer whose tokens look exactly like auth's (DESIGN.md, Tokens)."""

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "latchkey"
AUDIENCE = "latchkey"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str | None = None) -> "SigningKey":
        return cls(
            kid or uuid.uuid4().hex[:12],
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
        )

    def jwk(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}


@dataclass
class TokenMinter:
    """Signs tokens; `app` serves their public keys at /.well-known/jwks.json."""

    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate()])
    jwks_requests: int = 0

    def app(self) -> web.Application:
        async def jwks(request: web.Request) -> web.Response:
            self.jwks_requests += 1
            return web.json_response({"keys": [key.jwk() for key in self.keys]})

        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", jwks)
        return app

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"user-{uuid.uuid4().hex[:8]}",
            "jti": str(uuid.uuid4()),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": "someone",
            "portals": ["agent"],
            "roles": ["agent"],
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any], *, key: SigningKey | None = None, **header: Any) -> str:
        key = key or self.keys[0]
        return jwt.encode(
            claims, key.private, algorithm="RS256", headers={"kid": key.kid, **header}
        )

    def token(self, **overrides: Any) -> tuple[str, dict[str, Any]]:
        claims = self.claims(**overrides)
        return self.sign(claims), claims
