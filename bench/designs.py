"""The designs users would pick instead of a token-state view, as forward-auth handlers that
answer the same requests (`GET /_latchkey/verify` with a bearer token) with the same headers:

- pg: decode and verify the JWT on every request (no cache), then look the token up in
  `registry.tokens` by jti (what Bytedesk does), with a pool as big as the concurrency;
- introspect: ask the registry's `POST /internal/v1/introspect` about every request (what
  Keycloak users do for prompt revocation).
"""

import argparse
import os
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import jwt
from aiohttp import web

LOOKUP = "SELECT user_id, revoked_at, disabled FROM registry.tokens WHERE jti = $1"
REQUIRED = ["iss", "aud", "sub", "jti", "iat", "nbf", "exp"]


async def fetch_keys(jwks_url: str) -> dict[str, jwt.PyJWK]:
    async with aiohttp.ClientSession() as session, session.get(jwks_url) as reply:
        document = await reply.json()
    return {key.key_id: key for key in jwt.PyJWKSet.from_dict(document).keys if key.key_id}


def decode(token: str, keys: dict[str, jwt.PyJWK]) -> dict[str, Any]:
    key = keys[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key=key,
        algorithms=[key.algorithm_name],
        audience="latchkey",
        issuer="latchkey",
        options={"require": REQUIRED},
    )
    return claims


def bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise web.HTTPUnauthorized()
    return token


def portal_of(request: web.Request) -> str:
    return request.headers.get("X-Original-URI", "/").lstrip("/").split("/", 1)[0]


def answer(sub: str, name: str, roles: list[str], portal: str) -> web.Response:
    headers = {
        "X-Latchkey-User": sub,
        "X-Latchkey-User-Name": name,
        "X-Latchkey-Roles": ",".join(roles),
        "X-Latchkey-Portal": portal,
        "Cache-Control": "no-store",
    }
    return web.Response(headers=headers)


def pg_app(args: argparse.Namespace) -> web.Application:
    keys: dict[str, jwt.PyJWK] = {}
    pool: asyncpg.Pool | None = None

    async def resources(app: web.Application) -> AsyncIterator[None]:
        nonlocal pool
        keys.update(await fetch_keys(args.jwks))
        dsn = os.environ["BENCH_DATABASE_URL"]
        async with asyncpg.create_pool(dsn, min_size=args.pool, max_size=args.pool) as pool:
            yield

    async def verify(request: web.Request) -> web.Response:
        assert pool is not None
        try:
            claims = decode(bearer(request), keys)
        except (jwt.PyJWTError, KeyError):
            raise web.HTTPUnauthorized() from None
        async with pool.acquire() as conn:
            row = await conn.fetchrow(LOOKUP, UUID(claims["jti"]))
        if row is None or row["revoked_at"] or row["disabled"] or row["user_id"] != claims["sub"]:
            raise web.HTTPUnauthorized()
        portal = portal_of(request)
        if portal not in claims.get("portals", ()):
            raise web.HTTPForbidden()
        return answer(claims["sub"], claims.get("name", ""), claims.get("roles", []), portal)

    app = web.Application()
    app.cleanup_ctx.append(resources)
    app.router.add_get("/_latchkey/verify", verify)
    return app


def introspect_app(args: argparse.Namespace) -> web.Application:
    session: aiohttp.ClientSession | None = None
    headers = {"Authorization": "Bearer " + os.environ["BENCH_ROUTER_CREDENTIAL"]}
    url = args.registry.rstrip("/") + "/internal/v1/introspect"

    async def client(app: web.Application) -> AsyncIterator[None]:
        nonlocal session
        connector = aiohttp.TCPConnector(limit=args.pool)
        async with aiohttp.ClientSession(connector=connector) as session:
            yield

    async def verify(request: web.Request) -> web.Response:
        assert session is not None
        body = {"token": bearer(request)}
        async with session.post(url, json=body, headers=headers) as reply:
            data = (await reply.json())["data"]
        if reply.status != 200 or not data.get("active"):
            raise web.HTTPUnauthorized()
        portal = portal_of(request)
        if portal not in data.get("portals", ()):
            raise web.HTTPForbidden()
        return answer(data["sub"], data.get("username", ""), data.get("roles", []), portal)

    app = web.Application()
    app.cleanup_ctx.append(client)
    app.router.add_get("/_latchkey/verify", verify)
    return app
