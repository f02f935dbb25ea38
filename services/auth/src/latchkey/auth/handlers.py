"""Thin handlers: check the caller, parse, call the rules, render the envelope."""

import contextlib
from uuid import UUID

from aiohttp import web

from latchkey.auth import users
from latchkey.auth.keys import (
    AUTHENTICATOR,
    ISSUER,
    KEYSTORE,
    LOGIN,
    PASSWORDS,
    POOL,
    REGISTRY,
    SETTINGS,
)
from latchkey.auth.models import (
    KeyInfo,
    LoginRequest,
    NewUser,
    PasswordChange,
    SignRequest,
    UserListQuery,
    UserPatch,
)
from latchkey.auth.repository import UserNotFound
from latchkey.auth.throttle import client_address, parse_networks
from latchkey.common import errors
from latchkey.common.credentials import bearer_token, require_service_credential
from latchkey.common.models import Actor
from latchkey.common.registry_client import RegistryError
from latchkey.common.tokens import Claims
from latchkey.common.web import envelope, read_json, read_query


async def authenticated(request: web.Request) -> Claims:
    return await request.app[AUTHENTICATOR].authenticate(bearer_token(request))


async def require_admin(request: web.Request) -> Actor:
    claims = await authenticated(request)
    if not claims.has_role("admin"):
        raise errors.Forbidden("This needs the admin role.")
    return claims.actor()


def path_user_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["user_id"])
    except ValueError:
        raise UserNotFound() from None


# --- what existing clients call --------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginRequest)
    settings = request.app[SETTINGS]
    address = client_address(
        request.remote,
        request.headers.get("X-Forwarded-For"),
        parse_networks(settings.trusted_proxies),
    )
    result = await request.app[LOGIN](body, address=address)
    return envelope(result.wire(), message="Signed in.")


async def logout(request: web.Request) -> web.Response:
    """Revoke the bearer token. A disabled token may still be ended by its holder: revoking
    takes rights away, it never gives any."""
    token = bearer_token(request)
    authenticator = request.app[AUTHENTICATOR]
    claims = await authenticator.verifier.verify(token)
    with contextlib.suppress(errors.TokenDisabled):
        await authenticator.gate.check(token, claims)
    try:
        change = await request.app[REGISTRY].revoke_token(
            claims.jti, reason="logout", actor_id=claims.sub, actor_name=claims.name
        )
    except RegistryError as exc:
        raise errors.TokenInvalid() from exc
    if change.get("eventSeq") is None:
        raise errors.TokenRevoked()
    return envelope(True, message="Signed out.")


async def jwks(request: web.Request) -> web.Response:
    document = await request.app[KEYSTORE].jwks()
    return web.json_response(document, headers={"Cache-Control": "public, max-age=60"})


# --- admin API ----------------------------------------------------------------------------


async def list_users(request: web.Request) -> web.Response:
    await require_admin(request)
    page = await users.list_users(request.app[POOL], query=read_query(request, UserListQuery))
    return envelope(page.wire())


async def create_user(request: web.Request) -> web.Response:
    await require_admin(request)
    body = await read_json(request, NewUser)
    user = await users.create_user(
        request.app[POOL],
        request.app[PASSWORDS],
        body=body,
        min_length=request.app[SETTINGS].password_min_length,
    )
    return envelope(user.wire(), message="User created.", status=201)


async def get_user(request: web.Request) -> web.Response:
    await require_admin(request)
    user = await users.get_user(request.app[POOL], user_id=path_user_id(request))
    return envelope(user.wire())


async def update_user(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    user_id = path_user_id(request)
    patch = await read_json(request, UserPatch)
    user = await users.update_user(
        request.app[POOL], request.app[REGISTRY], user_id=user_id, patch=patch, actor=actor
    )
    return envelope(user.wire(), message="User updated.")


async def set_password(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    user_id = path_user_id(request)
    body = await read_json(request, PasswordChange)
    user = await users.set_password(
        request.app[POOL],
        request.app[PASSWORDS],
        request.app[REGISTRY],
        user_id=user_id,
        password=body.password.get_secret_value(),
        min_length=request.app[SETTINGS].password_min_length,
        actor=actor,
    )
    return envelope(user.wire(), message="Password changed; the user's tokens are revoked.")


async def list_keys(request: web.Request) -> web.Response:
    await require_admin(request)
    keystore = request.app[KEYSTORE]
    await keystore.jwks()
    return envelope([KeyInfo(**item).wire() for item in keystore.describe()])


async def rotate_keys(request: web.Request) -> web.Response:
    await require_admin(request)
    key = await request.app[KEYSTORE].rotate()
    return envelope({"kid": key.kid, "algorithm": key.algorithm}, message="Signing key rotated.")


# --- internal API -----------------------------------------------------------------------------


async def sign(request: web.Request) -> web.Response:
    require_service_credential(request, request.app[SETTINGS].internal_token)
    body = await read_json(request, SignRequest)
    user = await users.get_user(request.app[POOL], user_id=body.user_id)
    if user.disabled:
        raise errors.UserDisabled()
    await request.app[KEYSTORE].reload_if_due()
    signed = request.app[ISSUER].sign_access(user, body)
    return envelope(signed.wire(), message="Token signed.")
