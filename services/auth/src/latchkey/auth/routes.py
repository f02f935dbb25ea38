"""Every URL of the auth service, with its models: the OpenAPI document is built from here."""

from aiohttp import web

from latchkey.auth import handlers
from latchkey.auth.models import (
    KeyInfo,
    LoginRequest,
    LoginResult,
    NewUser,
    PasswordChange,
    SignedToken,
    SignRequest,
    User,
    UserListQuery,
    UserPage,
    UserPatch,
)
from latchkey.common.openapi import Endpoint, add_endpoints

CLIENTS = ("clients",)
ADMIN = ("admin",)
INTERNAL = ("internal",)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/auth/v1/login",
        handlers.login,
        "Sign in with username and password; answers the access token",
        body=LoginRequest,
        response=LoginResult,
        errors=(401, 403, 429, 503),
        tags=CLIENTS,
    ),
    Endpoint(
        "POST",
        "/api/v1/user/logout",
        handlers.logout,
        "Revoke the bearer token",
        response=bool,
        security="bearer",
        errors=(503,),
        tags=CLIENTS,
    ),
    Endpoint(
        "GET",
        "/.well-known/jwks.json",
        handlers.jwks,
        "Public keys that verify tokens (RFC 7517), not in the envelope",
        tags=CLIENTS,
        extra_responses={200: "The JWK set"},
    ),
    Endpoint(
        "GET",
        "/auth/v1/users",
        handlers.list_users,
        "List users by username",
        query=UserListQuery,
        response=UserPage,
        security="bearer",
        errors=(403,),
        tags=ADMIN,
    ),
    Endpoint(
        "POST",
        "/auth/v1/users",
        handlers.create_user,
        "Create a user",
        body=NewUser,
        response=User,
        status=201,
        security="bearer",
        errors=(403, 409),
        tags=ADMIN,
    ),
    Endpoint(
        "GET",
        "/auth/v1/users/{user_id}",
        handlers.get_user,
        "One user",
        response=User,
        security="bearer",
        errors=(403, 404),
        tags=ADMIN,
    ),
    Endpoint(
        "PATCH",
        "/auth/v1/users/{user_id}",
        handlers.update_user,
        "Change display name, roles, portals or disabled (fewer rights revoke their tokens)",
        body=UserPatch,
        response=User,
        security="bearer",
        errors=(403, 404, 503),
        tags=ADMIN,
    ),
    Endpoint(
        "PUT",
        "/auth/v1/users/{user_id}/password",
        handlers.set_password,
        "Set a user's password (revokes their tokens)",
        body=PasswordChange,
        response=User,
        security="bearer",
        errors=(403, 404, 503),
        tags=ADMIN,
    ),
    Endpoint(
        "GET",
        "/auth/v1/keys",
        handlers.list_keys,
        "Published signing keys",
        response=list[KeyInfo],
        security="bearer",
        errors=(403,),
        tags=ADMIN,
    ),
    Endpoint(
        "POST",
        "/auth/v1/keys/rotate",
        handlers.rotate_keys,
        "Sign with a new key from now on; the old one stays published",
        security="bearer",
        errors=(403, 409),
        tags=ADMIN,
    ),
    Endpoint(
        "POST",
        "/internal/v1/sign",
        handlers.sign,
        "Sign an access token for a user (the registry records it)",
        body=SignRequest,
        response=SignedToken,
        security="service",
        errors=(403, 404),
        tags=INTERNAL,
    ),
]


def setup_routes(app: web.Application) -> None:
    add_endpoints(app, ENDPOINTS)
