"""Signing keys: rotation keeps live tokens valid, other algorithms, PEM files, and tokens an
independent JOSE implementation verifies from the JWKS alone."""

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwk as jose_jwk
from jwcrypto import jwt as jose_jwt

from tests.support.stack import Stack


async def jwks_kids(stack: Stack) -> list[str]:
    reply = await stack.call("auth", "GET", "/.well-known/jwks.json")
    assert reply.status == 200
    return [key["kid"] for key in reply.body["keys"]]


async def test_rotation_keeps_tokens_signed_before_it_valid(stack: Stack) -> None:
    await stack.start("auth", "registry")
    before = await stack.token()
    old_kid = jwt.get_unverified_header(before)["kid"]
    rotated = await stack.call("auth", "POST", "/auth/v1/keys/rotate", token=before)
    assert rotated.status == 200
    new_kid = rotated.data["kid"]
    assert new_kid != old_kid
    assert await jwks_kids(stack) == [new_kid, old_kid]

    after = await stack.token()
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    for token in (before, after):
        reply = await stack.call("registry", "GET", "/api/v1/tokens", token=token)
        assert reply.status == 200, reply.body

    await stack.call("auth", "POST", "/auth/v1/keys/rotate", token=after)
    assert len(await jwks_kids(stack)) == 3
    assert (await stack.call("registry", "GET", "/api/v1/tokens", token=before)).status == 200


async def test_rotation_from_the_command_line_reaches_a_running_instance(stack: Stack) -> None:
    await stack.start("auth", "registry")
    old_kid = (await jwks_kids(stack))[0]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "latchkey.auth",
        "rotate-keys",
        env={**os.environ, **stack.common_env()},
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0
    new_kid = output.decode().split()[-1]
    assert await jwks_kids(stack) == [new_kid, old_kid]


async def test_an_independent_jose_library_verifies_our_tokens_from_the_jwks(
    stack: Stack,
) -> None:
    await stack.start("auth", "registry")
    token = await stack.token()
    document = (await stack.call("auth", "GET", "/.well-known/jwks.json")).body
    keyset = jose_jwk.JWKSet.from_json(json.dumps(document))
    verified = jose_jwt.JWT(jwt=token, key=keyset, algs=["RS256"], expected_type="JWS")
    claims = json.loads(verified.claims)
    assert set(claims) >= {"iss", "aud", "sub", "jti", "iat", "nbf", "exp", "name", "portals"}
    assert claims["iss"] == "latchkey"
    assert claims["exp"] - claims["iat"] == 8 * 3600
    uuid.UUID(claims["jti"])


@pytest.mark.parametrize(("algorithm", "kty"), [("ES256", "EC"), ("EdDSA", "OKP")])
async def test_other_signing_algorithms_can_be_chosen(
    stack: Stack, algorithm: str, kty: str
) -> None:
    await stack.start("auth", "registry", LATCHKEY_SIGNING_ALGORITHM=algorithm)
    token = await stack.token()
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    document = (await stack.call("auth", "GET", "/.well-known/jwks.json")).body
    assert document["keys"][0]["kty"] == kty
    assert (await stack.call("registry", "GET", "/api/v1/tokens", token=token)).status == 200


async def test_keys_can_come_from_pem_files(stack: Stack, tmp_path: Path) -> None:
    current = ec.generate_private_key(ec.SECP256R1())
    previous = ec.generate_private_key(ec.SECP256R1())
    current_file, previous_file = tmp_path / "current.pem", tmp_path / "previous.pem"
    current_file.write_bytes(
        current.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    previous_file.write_bytes(
        previous.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    await stack.start(
        "auth",
        "registry",
        LATCHKEY_SIGNING_KEY_FILE=str(current_file),
        LATCHKEY_PREVIOUS_SIGNING_KEY_FILES=str(previous_file),
    )
    token = await stack.token()
    kids = await jwks_kids(stack)
    assert len(kids) == 2
    assert jwt.get_unverified_header(token)["kid"] == kids[0]
    jwt.decode(token, current.public_key(), algorithms=["ES256"], audience="latchkey")
    rotate = await stack.call("auth", "POST", "/auth/v1/keys/rotate", token=token)
    assert (rotate.status, rotate.reason) == (409, "keys_from_files")


async def test_hashes_are_upgraded_at_login_when_the_parameters_change(stack: Stack) -> None:
    await stack.start("auth", "registry")
    admin = await stack.token()
    await stack.create_user(admin, "upgrade-me")
    await stack.auth.stop()
    await stack.start("auth", LATCHKEY_PASSWORD_TIME_COST="2", LATCHKEY_PASSWORD_MEMORY_COST="9216")
    await stack.token("upgrade-me", "a long password 1")
    conn = await asyncpg.connect(stack.database_url)
    try:
        stored = await conn.fetchval(
            "SELECT password_hash FROM auth.users WHERE username = 'upgrade-me'"
        )
    finally:
        await conn.close()
    assert "m=9216,t=2" in stored


async def test_unknown_and_known_users_take_about_as_long(stack: Stack) -> None:
    """A statistical comparison, not a wall-clock limit: the medians of many tries must be
    close, or the answer's timing would tell which usernames exist."""
    await stack.start(
        "auth",
        "registry",
        LATCHKEY_PASSWORD_TIME_COST="2",
        LATCHKEY_PASSWORD_MEMORY_COST="16384",
        LATCHKEY_LOCKOUT_USER_THRESHOLD="1000",
        LATCHKEY_LOCKOUT_ADDRESS_THRESHOLD="1000",
    )

    async def timed(username: str) -> float:
        started = time.perf_counter()
        reply = await stack.login(username, "definitely wrong")
        assert reply.status == 401
        return time.perf_counter() - started

    known, unknown = [], []
    for index in range(24):
        known.append(await timed("root"))
        unknown.append(await timed(f"ghost-{index}"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.7 < ratio < 1.4, (statistics.median(known), statistics.median(unknown))
