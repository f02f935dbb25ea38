"""Thin handlers: parse, call the rules, render the envelope. Who may call each is declared
with its route (`routes.py`) and checked before the handler runs."""

from uuid import UUID

from aiohttp import web

from latchkey.auth import users
from latchkey.auth.appkeys import (
    ISSUER,
    KEYSTORE,
    LOGIN,
    NETWORK,
    PASSWORDS,
    REGISTRY,
    REVOCATIONS,
    SETTINGS,
)
from latchkey.auth.models import (
    KeyInfo,
    LoginRequest,
    NewUser,
    PasswordChange,
    PasswordCheck,
    PasswordChecked,
    SignRequest,
    UserListQuery,
    UserPatch,
)
from latchkey.auth.repository import UserNotFound
from latchkey.common import errors
from latchkey.common.appkeys import CREDENTIALS, POOL
from latchkey.common.auth_client import CLIENT_ADDRESS_HEADER
from latchkey.common.contracts import ServiceRevoke
from latchkey.common.guard import claims
from latchkey.common.network import canonical_address
from latchkey.common.registry_client import RegistryError
from latchkey.common.web import envelope, read_json, read_query


def path_user_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["user_id"])
    except ValueError:
        raise UserNotFound() from None


def client_address(request: web.Request) -> str:
    """Who is signing in: the router says so for its sign-in form (believed because it
    presents the router's credential, never because of where it calls from); anyone else is
    the peer, or what trusted proxies in front of auth say."""
    if request.app[CREDENTIALS].caller(request) == "router":
        named = canonical_address(request.headers.get(CLIENT_ADDRESS_HEADER, ""))
        if named is not None:
            return named
    return request.app[NETWORK].client_of(request)


def changed(result: users.UserChanged, message: str) -> web.Response:
    if result.revoked is False:
        message += (
            " Revoking the user's tokens is pending (the registry cannot be reached); it is "
            "retried until it takes it."
        )
    return envelope(result.user.wire(), message=message)


# --- what existing clients call --------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginRequest)
    result = await request.app[LOGIN](body, address=client_address(request))
    return envelope(result.wire(), message="Signed in.")


async def logout(request: web.Request) -> web.Response:
    """Revoke the bearer token. A disabled token may still be ended by its holder (the route
    admits it): revoking takes rights away, it never gives any."""
    holder = claims(request)
    try:
        change = await request.app[REGISTRY].revoke_token(
            holder.jti,
            ServiceRevoke(reason="logout", actor_id=holder.sub, actor_name=holder.name),
        )
    except RegistryError as exc:
        raise errors.TokenInvalid() from exc
    if change.event_seq is None:
        raise errors.TokenRevoked()
    return envelope(True, message="Signed out.")


async def jwks(request: web.Request) -> web.Response:
    document = await request.app[KEYSTORE].jwks()
    return web.json_response(document, headers={"Cache-Control": "public, max-age=60"})


# --- admin API ----------------------------------------------------------------------------


async def list_users(request: web.Request) -> web.Response:
    page = await users.list_users(request.app[POOL], query=read_query(request, UserListQuery))
    return envelope(page.wire())


async def create_user(request: web.Request) -> web.Response:
    body = await read_json(request, NewUser)
    settings = request.app[SETTINGS]
    user = await users.create_user(
        request.app[POOL],
        request.app[PASSWORDS],
        body=body,
        min_length=settings.password_min_length,
        portals=settings.portals,
    )
    return envelope(user.wire(), message="User created.", status=201)


async def get_user(request: web.Request) -> web.Response:
    user = await users.get_user(request.app[POOL], user_id=path_user_id(request))
    return envelope(user.wire())


async def update_user(request: web.Request) -> web.Response:
    user_id = path_user_id(request)
    patch = await read_json(request, UserPatch)
    result = await users.update_user(
        request.app[POOL],
        request.app[REVOCATIONS],
        user_id=user_id,
        patch=patch,
        actor=claims(request).actor(),
    )
    return changed(result, "User updated.")


async def set_password(request: web.Request) -> web.Response:
    user_id = path_user_id(request)
    body = await read_json(request, PasswordChange)
    result = await users.set_password(
        request.app[POOL],
        request.app[PASSWORDS],
        request.app[REVOCATIONS],
        user_id=user_id,
        password=body.password.get_secret_value(),
        min_length=request.app[SETTINGS].password_min_length,
        actor=claims(request).actor(),
    )
    return changed(result, "Password changed; the user's tokens are revoked.")


async def list_keys(request: web.Request) -> web.Response:
    keystore = request.app[KEYSTORE]
    await keystore.jwks()
    return envelope([KeyInfo(**item).wire() for item in keystore.describe()])


async def rotate_keys(request: web.Request) -> web.Response:
    key = await request.app[KEYSTORE].rotate()
    return envelope({"kid": key.kid, "algorithm": key.algorithm}, message="Signing key rotated.")


# --- internal API -----------------------------------------------------------------------------


async def sign(request: web.Request) -> web.Response:
    body = await read_json(request, SignRequest)
    user = await users.get_user(request.app[POOL], user_id=body.user_id)
    if user.disabled:
        raise errors.UserDisabled()
    await request.app[KEYSTORE].reload_if_due()
    signed = request.app[ISSUER].sign_access(user, body)
    return envelope(signed.wire(), message="Token signed.")


async def check_password(request: web.Request) -> web.Response:
    """Whether an admin typed their own password (the console's confirm-access step); counted
    against the account like any sign-in, so it cannot be used to guess."""
    user_id = path_user_id(request)
    body = await read_json(request, PasswordCheck)
    user = await users.get_user(request.app[POOL], user_id=user_id)
    if user.disabled:
        raise errors.UserDisabled()
    await request.app[LOGIN].check_password(
        user.username, body.password.get_secret_value(), address=None
    )
    return envelope(PasswordChecked().wire(), message="Password confirmed.")
