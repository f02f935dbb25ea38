"""Thin handlers: parse, call the service layer, render the envelope. Who may call each is
declared with its route (`routes.py`) and checked before the handler runs."""

from uuid import UUID

from aiohttp import web

from latchkey.common import errors
from latchkey.common.appkeys import POOL, VERIFIER
from latchkey.common.events import InstanceReport
from latchkey.common.guard import caller, claims
from latchkey.common.models import Actor
from latchkey.common.web import envelope, read_json, read_query
from latchkey.registry import policy, receipts, state, tokens
from latchkey.registry.appkeys import AUTH, EVENT_KEYS, RECORDS_DIGEST, SETTINGS
from latchkey.registry.models import (
    BIGINT_MAX,
    AuditQuery,
    DomainPolicyUpdate,
    EventsQuery,
    GenerateTokenRequest,
    IntrospectRequest,
    NewTokenRecord,
    RevokeRequest,
    ServiceRevoke,
    TokenListQuery,
    TokenPatch,
)
from latchkey.registry.repository import TokenNotFound

USER_ID_MAX = 128


def admin(request: web.Request) -> Actor:
    """The admin behind the request (the route admitted their token and its admin role)."""
    return claims(request).actor()


def service_actor(request: web.Request, body: ServiceRevoke) -> Actor:
    """Who a service acts for: the user or admin it names, else the service itself."""
    actor_id = body.actor_id or caller(request)
    return Actor(id=actor_id, name=body.actor_name or actor_id)


def path_jti(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["jti"])
    except ValueError:
        raise TokenNotFound() from None


def path_seq(request: web.Request) -> int:
    """The change a path names (`{seq}`); 404 for what cannot be one."""
    text = request.match_info["seq"]
    if not (text.isascii() and text.isdigit()) or int(text) > BIGINT_MAX:
        raise errors.NotFound("No change has this sequence number.")
    return int(text)


def path_user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    if not user_id or len(user_id) > USER_ID_MAX or not user_id.isprintable():
        raise errors.NotFound("No user has this id.")
    return user_id


# --- admin API ------------------------------------------------------------------------------


async def list_tokens(request: web.Request) -> web.Response:
    query = read_query(request, TokenListQuery)
    page = await tokens.list_tokens(
        request.app[POOL], query=query, max_page=request.app[SETTINGS].max_page_size
    )
    return envelope(page.wire())


async def generate_token(request: web.Request) -> web.Response:
    body = await read_json(request, GenerateTokenRequest)
    pool = request.app[POOL]
    generated = await tokens.generate_token(
        pool,
        request.app[AUTH],
        request=body,
        actor=admin(request),
        embeddable=request.app[SETTINGS].embeddable_portals(),
    )
    message = "Token generated. Copy it now: it will not be shown again."
    if generated.framing:
        message += " " + generated.framing
    return envelope(
        generated.wire(), message=message, status=201, headers={"Cache-Control": "no-store"}
    )


async def get_token(request: web.Request) -> web.Response:
    record = await tokens.get_token(request.app[POOL], jti=path_jti(request))
    return envelope(record.wire())


async def update_token(request: web.Request) -> web.Response:
    jti = path_jti(request)
    patch = await read_json(request, TokenPatch)
    change = await tokens.update_token(
        request.app[POOL], jti=jti, patch=patch, actor=admin(request)
    )
    return envelope(change.wire(), message="Token updated.")


async def revoke_token(request: web.Request) -> web.Response:
    jti = path_jti(request)
    body = await read_json(request, RevokeRequest)
    change = await tokens.revoke_token(
        request.app[POOL], jti=jti, actor=admin(request), reason=body.reason
    )
    message = "Token revoked." if change.event_seq is not None else "Token was already revoked."
    return envelope(change.wire(), message=message)


async def revoke_user(request: web.Request) -> web.Response:
    user_id = path_user_id(request)
    body = await read_json(request, RevokeRequest)
    result = await tokens.revoke_user(
        request.app[POOL], user_id=user_id, actor=admin(request), reason=body.reason
    )
    return envelope(result.wire(), message=f"{result.revoked_tokens} tokens revoked.")


async def get_domain_policy(request: web.Request) -> web.Response:
    return envelope((await policy.get_policy(request.app[POOL])).wire())


async def put_domain_policy(request: web.Request) -> web.Response:
    body = await read_json(request, DomainPolicyUpdate)
    change = await policy.set_policy(request.app[POOL], domains=body.domains, actor=admin(request))
    return envelope(change.wire(), message="Domain policy updated.")


async def list_audit(request: web.Request) -> web.Response:
    page = await policy.list_audit(request.app[POOL], query=read_query(request, AuditQuery))
    return envelope(page.wire())


async def list_instances(request: web.Request) -> web.Response:
    found = await receipts.instances(
        request.app[POOL], timeout=request.app[SETTINGS].instance_timeout
    )
    return envelope([instance.wire() for instance in found])


async def event_delivery(request: web.Request) -> web.Response:
    receipt = await receipts.delivery(
        request.app[POOL], seq=path_seq(request), timeout=request.app[SETTINGS].instance_timeout
    )
    return envelope(receipt.wire())


# --- internal API (service credentials) -----------------------------------------------------


async def record_token(request: web.Request) -> web.Response:
    record = await read_json(request, NewTokenRecord)
    created = await tokens.record_token(request.app[POOL], record=record)
    return envelope(created.wire(), message="Token recorded.", status=201)


async def internal_revoke_token(request: web.Request) -> web.Response:
    jti = path_jti(request)
    body = await read_json(request, ServiceRevoke)
    change = await tokens.revoke_token(
        request.app[POOL], jti=jti, actor=service_actor(request, body), reason=body.reason
    )
    return envelope(change.wire(), message="Token revoked.")


async def use_deep_link(request: web.Request) -> web.Response:
    await tokens.use_deep_link(request.app[POOL], jti=path_jti(request), service=caller(request))
    return envelope({"firstUse": True}, message="First use of this deep link.")


async def internal_revoke_user(request: web.Request) -> web.Response:
    user_id = path_user_id(request)
    body = await read_json(request, ServiceRevoke)
    result = await tokens.revoke_user(
        request.app[POOL], user_id=user_id, actor=service_actor(request, body), reason=body.reason
    )
    return envelope(result.wire(), message=f"{result.revoked_tokens} tokens revoked.")


async def introspect(request: web.Request) -> web.Response:
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        body = IntrospectRequest.model_validate({key: str(form[key]) for key in form})
    else:
        body = await read_json(request, IntrospectRequest)
    result = await state.introspect(request.app[POOL], request.app[VERIFIER], body.token)
    return envelope(result.model_dump(mode="json", by_alias=True, exclude_none=True))


async def token_state(request: web.Request) -> web.Response:
    return envelope((await state.snapshot(request.app[POOL])).wire())


async def events(request: web.Request) -> web.Response:
    query = read_query(request, EventsQuery)
    page = await state.events_after(request.app[POOL], after=query.after, limit=query.limit)
    return envelope(page.wire())


async def event_keys(request: web.Request) -> web.Response:
    return envelope(request.app[EVENT_KEYS].wire())


async def state_digest(request: web.Request) -> web.Response:
    found = await request.app[RECORDS_DIGEST].digest(request.app[POOL])
    return envelope(found.wire())


REPORTING_AS = {"auth": "auth", "router": "portal-router"}
"""The service name each caller's instances report under (a router cannot speak for auth)."""


async def report(request: web.Request) -> web.Response:
    body = await read_json(request, InstanceReport)
    if body.service != REPORTING_AS.get(caller(request)):
        raise errors.Forbidden("An instance reports under its own service's name only.")
    await receipts.record_report(request.app[POOL], report=body)
    return envelope(None, message="Noted.")
