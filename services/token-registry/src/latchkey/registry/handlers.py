"""Thin handlers: check the caller, parse, call the service layer, render the envelope."""

from uuid import UUID

from aiohttp import web

from latchkey.common import errors
from latchkey.common.credentials import bearer_token, require_service_credential
from latchkey.common.events import InstanceReport
from latchkey.common.models import Actor
from latchkey.common.tokens import Claims
from latchkey.common.web import envelope, read_json, read_query
from latchkey.registry import policy, receipts, state, tokens
from latchkey.registry.keys import AUTH, POOL, SETTINGS, VERIFIER
from latchkey.registry.models import (
    AuditQuery,
    DomainPolicyUpdate,
    EventsQuery,
    GenerateTokenRequest,
    InternalRevokeRequest,
    IntrospectRequest,
    NewTokenRecord,
    RevokeRequest,
    TokenListQuery,
    TokenPatch,
)
from latchkey.registry.repository import TokenNotFound

USER_ID_MAX = 128


async def admin_claims(request: web.Request) -> Claims:
    """The claims of the admin behind the bearer token, checked against the registry's own
    records; 401 for a bad token, 403 without the admin role."""
    claims = await state.authenticate(
        request.app[POOL], request.app[VERIFIER], bearer_token(request)
    )
    if not claims.has_role("admin"):
        raise errors.Forbidden("This needs the admin role.")
    return claims


async def require_admin(request: web.Request) -> Actor:
    claims = await admin_claims(request)
    return claims.actor()


def require_service(request: web.Request) -> None:
    require_service_credential(request, request.app[SETTINGS].internal_token)


def service_actor(body: InternalRevokeRequest) -> Actor:
    """Who a service acts for: the user or admin it names, else the service itself."""
    actor_id = body.actor_id or "service"
    return Actor(id=actor_id, name=body.actor_name or actor_id)


def path_jti(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["jti"])
    except ValueError:
        raise TokenNotFound() from None


SEQ_MAX = 2**63 - 1
"""Sequence numbers are PostgreSQL bigints: anything larger names no change."""


def path_seq(request: web.Request) -> int:
    """The change a path names (`{seq}`); 404 for what cannot be one."""
    text = request.match_info["seq"]
    if not (text.isascii() and text.isdigit()) or int(text) > SEQ_MAX:
        raise errors.NotFound("No change has this sequence number.")
    return int(text)


def path_user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    if not user_id or len(user_id) > USER_ID_MAX:
        raise errors.NotFound("No user has this id.")
    return user_id


# --- admin API ------------------------------------------------------------------------------


async def list_tokens(request: web.Request) -> web.Response:
    await require_admin(request)
    query = read_query(request, TokenListQuery)
    page = await tokens.list_tokens(
        request.app[POOL], query=query, max_page=request.app[SETTINGS].max_page_size
    )
    return envelope(page.wire())


async def generate_token(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    body = await read_json(request, GenerateTokenRequest)
    generated = await tokens.generate_token(
        request.app[POOL], request.app[AUTH], request=body, actor=actor
    )
    return envelope(
        generated.wire(),
        message="Token generated. Copy it now: it will not be shown again.",
        status=201,
        headers={"Cache-Control": "no-store"},
    )


async def get_token(request: web.Request) -> web.Response:
    await require_admin(request)
    record = await tokens.get_token(request.app[POOL], jti=path_jti(request))
    return envelope(record.wire())


async def update_token(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    jti = path_jti(request)
    patch = await read_json(request, TokenPatch)
    change = await tokens.update_token(request.app[POOL], jti=jti, patch=patch, actor=actor)
    return envelope(change.wire(), message="Token updated.")


async def revoke_token(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    jti = path_jti(request)
    body = await read_json(request, RevokeRequest)
    change = await tokens.revoke_token(request.app[POOL], jti=jti, actor=actor, reason=body.reason)
    message = "Token revoked." if change.event_seq is not None else "Token was already revoked."
    return envelope(change.wire(), message=message)


async def revoke_user(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    user_id = path_user_id(request)
    body = await read_json(request, RevokeRequest)
    result = await tokens.revoke_user(
        request.app[POOL], user_id=user_id, actor=actor, reason=body.reason
    )
    return envelope(result.wire(), message=f"{result.revoked_tokens} tokens revoked.")


async def get_domain_policy(request: web.Request) -> web.Response:
    await require_admin(request)
    return envelope((await policy.get_policy(request.app[POOL])).wire())


async def put_domain_policy(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    body = await read_json(request, DomainPolicyUpdate)
    change = await policy.set_policy(request.app[POOL], domains=body.domains, actor=actor)
    return envelope(change.wire(), message="Domain policy updated.")


async def list_audit(request: web.Request) -> web.Response:
    await require_admin(request)
    page = await policy.list_audit(request.app[POOL], query=read_query(request, AuditQuery))
    return envelope(page.wire())


# --- internal API (service credential) ------------------------------------------------------


async def record_token(request: web.Request) -> web.Response:
    require_service(request)
    record = await read_json(request, NewTokenRecord)
    created = await tokens.record_token(request.app[POOL], record=record)
    return envelope(created.wire(), message="Token recorded.", status=201)


async def internal_revoke_token(request: web.Request) -> web.Response:
    require_service(request)
    jti = path_jti(request)
    body = await read_json(request, InternalRevokeRequest)
    actor = service_actor(body)
    change = await tokens.revoke_token(request.app[POOL], jti=jti, actor=actor, reason=body.reason)
    return envelope(change.wire(), message="Token revoked.")


async def use_deep_link(request: web.Request) -> web.Response:
    require_service(request)
    await tokens.use_deep_link(request.app[POOL], jti=path_jti(request))
    return envelope({"firstUse": True}, message="First use of this deep link.")


async def internal_revoke_user(request: web.Request) -> web.Response:
    require_service(request)
    user_id = path_user_id(request)
    body = await read_json(request, InternalRevokeRequest)
    actor = service_actor(body)
    result = await tokens.revoke_user(
        request.app[POOL], user_id=user_id, actor=actor, reason=body.reason
    )
    return envelope(result.wire(), message=f"{result.revoked_tokens} tokens revoked.")


async def introspect(request: web.Request) -> web.Response:
    require_service(request)
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        body = IntrospectRequest.model_validate({key: str(form[key]) for key in form})
    else:
        body = await read_json(request, IntrospectRequest)
    result = await state.introspect(request.app[POOL], request.app[VERIFIER], body.token)
    return envelope(result.model_dump(mode="json", by_alias=True, exclude_none=True))


async def token_state(request: web.Request) -> web.Response:
    require_service(request)
    return envelope((await state.snapshot(request.app[POOL])).wire())


async def events(request: web.Request) -> web.Response:
    require_service(request)
    query = read_query(request, EventsQuery)
    page = await state.events_after(request.app[POOL], after=query.after, limit=query.limit)
    return envelope(page.wire())


async def report(request: web.Request) -> web.Response:
    require_service(request)
    body = await read_json(request, InstanceReport)
    await receipts.record_report(request.app[POOL], report=body)
    return envelope(None, message="Noted.")


async def list_instances(request: web.Request) -> web.Response:
    await require_admin(request)
    found = await receipts.instances(
        request.app[POOL], timeout=request.app[SETTINGS].instance_timeout
    )
    return envelope([instance.wire() for instance in found])


async def event_delivery(request: web.Request) -> web.Response:
    await require_admin(request)
    receipt = await receipts.delivery(
        request.app[POOL], seq=path_seq(request), timeout=request.app[SETTINGS].instance_timeout
    )
    return envelope(receipt.wire())
