"""Console pages: list, details, generate (shown once), revoke with a live delivery receipt,
disable/enable, edit, revoke a user's tokens, the domain policy, the audit log."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from aiohttp import web
from pydantic import ValidationError

from latchkey.common import errors
from latchkey.common.appkeys import POOL
from latchkey.common.credentials import bearer_token
from latchkey.common.domains import DomainPatternError, normalise_domain_list
from latchkey.common.guard import claims
from latchkey.common.models import Actor
from latchkey.common.service_client import ServiceError
from latchkey.common.verification import Claims
from latchkey.common.web import validation_details
from latchkey.registry import policy, receipts, tokens
from latchkey.registry.appkeys import AUTH, CSRF, SETTINGS
from latchkey.registry.console import confirm
from latchkey.registry.console.render import browser_origin, page, prefix_of, see_other
from latchkey.registry.handlers import path_jti, path_seq, path_user_id
from latchkey.registry.models import (
    AuditQuery,
    GenerateTokenRequest,
    RevokeRequest,
    TokenKind,
    TokenListQuery,
    TokenPatch,
    TokenRecord,
    TokenStatus,
)

STATIC = Path(__file__).parent / "static"
EXPIRY_CHOICES = {"1": "1 day", "7": "7 days", "30": "30 days", "90": "90 days", "365": "1 year"}


@dataclass(frozen=True)
class Admin:
    actor: Actor
    claims: Claims
    csrf: str


async def admin(request: web.Request) -> Admin:
    """The admin the route admitted (their token carries the admin role)."""
    found = claims(request)
    return Admin(found.actor(), found, request.app[CSRF].token_for(found.jti))


async def confirmed(request: web.Request, who: Admin, form: dict[str, str]) -> str | None:
    """None when the admin's access is confirmed (see `confirm`); else the problem to show."""
    return await confirm.confirm(
        request.app[POOL],
        request.app[AUTH],
        jti=who.claims.jti,
        user_id=who.claims.sub,
        password=form.get("password", ""),
        lasts=request.app[SETTINGS].console_confirm_seconds,
    )


async def needs_password(request: web.Request, who: Admin) -> bool:
    return not await confirm.is_confirmed(request.app[POOL], jti=who.claims.jti)


async def form_of(request: web.Request, who: Admin) -> dict[str, str]:
    form = await request.post()
    request.app[CSRF].check(request, who.claims.jti, str(form.get("csrf", "")))
    return {key: str(value) for key, value in form.items()}


def lines(text: str) -> list[str]:
    return [item.strip() for item in text.replace(",", "\n").splitlines() if item.strip()]


# --- reading ----------------------------------------------------------------------------------


async def token_list(request: web.Request) -> web.Response:
    who = await admin(request)
    raw = {key: value for key, value in request.query.items() if value}
    query = TokenListQuery.model_validate(raw)  # refused as a page by the edge
    found = await tokens.list_tokens(
        request.app[POOL], query=query, max_page=request.app[SETTINGS].max_page_size
    )
    next_link = None
    if found.next_cursor:
        next_link = "?" + urlencode({**raw, "cursor": found.next_cursor})
    return page(
        request,
        "list.html",
        current="/",
        who=who,
        items=found.items,
        filters=raw,
        kinds=[kind.value for kind in TokenKind],
        statuses=[status.value for status in TokenStatus],
        next_link=next_link,
    )


async def token_details(request: web.Request) -> web.Response:
    who = await admin(request)
    record = await tokens.get_token(request.app[POOL], jti=path_jti(request))
    return await _details_page(request, who, record)


async def _details_page(
    request: web.Request,
    who: Admin,
    record: TokenRecord,
    *,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    extra = {"problem": problem} if problem else {}
    return page(
        request,
        "details.html",
        status=status,
        who=who,
        token=record,
        needs_password=await needs_password(request, who),
        **extra,
    )


# --- generating -------------------------------------------------------------------------------


async def generate_form(request: web.Request) -> web.Response:
    who = await admin(request)
    return await _generate_page(request, who, values={})


async def _generate_page(
    request: web.Request,
    who: Admin,
    *,
    values: dict[str, Any],
    problems: list[dict[str, str]] | None = None,
) -> web.Response:
    try:
        users = (await request.app[AUTH].list_users(bearer=bearer_token(request))).items
    except (ServiceError, errors.ServiceUnavailable):
        users = []
    return page(
        request,
        "generate.html",
        current="/new",
        status=422 if problems else 200,
        who=who,
        users=[user.wire() for user in users],
        portals=sorted(request.app[SETTINGS].portals),
        needs_password=await needs_password(request, who),
        expiries=EXPIRY_CHOICES,
        values=values,
        problems=problems or [],
    )


async def generate(request: web.Request) -> web.Response:
    who = await admin(request)
    form = await form_of(request, who)
    multi = await request.post()
    portals = [str(value) for value in multi.getall("portals", [])]
    values = {**form, "portals": portals, "password": ""}
    problem = await confirmed(request, who, form)
    if problem is not None:
        return await _generate_page(
            request, who, values=values, problems=[{"field": "password", "message": problem}]
        )
    try:
        days = form.get("expiresDays", "30")
        if days not in EXPIRY_CHOICES:
            raise errors.ValidationFailed(
                data=[{"field": "expiresDays", "message": "choose one of the offered expiries"}]
            )
        generated = await tokens.generate_token(
            request.app[POOL],
            request.app[AUTH],
            embeddable=request.app[SETTINGS].embeddable_portals(),
            request=GenerateTokenRequest(
                user_id=form.get("userId", ""),
                name=form.get("name", ""),
                description=form.get("description", ""),
                expires_at=datetime.now(UTC) + timedelta(days=int(days)),
                portals=portals or None,
                allowed_domains=lines(form.get("allowedDomains", "")),
            ),
            actor=who.actor,
        )
    except ValidationError as exc:
        return await _generate_page(request, who, values=values, problems=validation_details(exc))
    except (errors.ValidationFailed, errors.NotFound, errors.Forbidden, ValueError) as exc:
        detail = exc.detail if isinstance(exc, errors.ApiError) else str(exc)
        data = exc.data if isinstance(exc, errors.ApiError) and exc.data else None
        return await _generate_page(
            request, who, values=values, problems=data or [{"field": "form", "message": detail}]
        )
    scheme, host = browser_origin(request)
    settings = request.app[SETTINGS]
    links = {
        portal: f"{settings.origin_of(portal, scheme=scheme, host=host)}/{portal}/"
        f"?accessToken={generated.access_token}"
        for portal in generated.token.portals
        if portal in settings.portals
    }
    return page(request, "generated.html", who=who, generated=generated, links=links)


# --- changing state -----------------------------------------------------------------------------


async def revoke(request: web.Request) -> web.Response:
    who = await admin(request)
    jti = path_jti(request)
    form = await form_of(request, who)
    body = RevokeRequest(reason=form.get("reason", "").strip() or "revoked in the console")
    change = await tokens.revoke_token(
        request.app[POOL], jti=jti, actor=who.actor, reason=body.reason
    )
    raise _after_change(request, jti, change.event_seq)


async def set_state(request: web.Request) -> web.Response:
    who = await admin(request)
    jti = path_jti(request)
    form = await form_of(request, who)
    patch = TokenPatch(disabled=form.get("disabled") == "true")
    change = await tokens.update_token(request.app[POOL], jti=jti, patch=patch, actor=who.actor)
    raise _after_change(request, jti, change.event_seq)


async def edit(request: web.Request) -> web.Response:
    who = await admin(request)
    jti = path_jti(request)
    form = await form_of(request, who)
    try:
        patch = TokenPatch(
            name=form.get("name", ""),
            description=form.get("description", ""),
            allowed_domains=lines(form.get("allowedDomains", "")),
        )
    except ValidationError as exc:  # its details name the field, never echo the value
        problem = "; ".join(item["message"] for item in validation_details(exc))
        record = await tokens.get_token(request.app[POOL], jti=jti)
        return await _details_page(request, who, record, problem=problem, status=422)
    change = await tokens.update_token(request.app[POOL], jti=jti, patch=patch, actor=who.actor)
    raise _after_change(request, jti, change.event_seq)


def _after_change(request: web.Request, jti: UUID, seq: int | None) -> web.HTTPSeeOther:
    """Show the delivery receipt of a change that caused an event, else the token again."""
    if seq is None:
        return see_other(request, f"/t/{jti}")
    return see_other(request, f"/events/{seq}?token={jti}")


async def revoke_user(request: web.Request) -> web.Response:
    who = await admin(request)
    user_id = path_user_id(request)
    form = await form_of(request, who)
    problem = await confirmed(request, who, form)
    if problem is not None:
        return await _user_problem(request, who, form, problem)
    body = RevokeRequest(
        reason=form.get("reason", "").strip() or "all tokens revoked in the console"
    )
    result = await tokens.revoke_user(
        request.app[POOL], user_id=user_id, actor=who.actor, reason=body.reason
    )
    raise see_other(request, f"/events/{result.seq}")


async def _user_problem(
    request: web.Request, who: Admin, form: dict[str, str], problem: str
) -> web.Response:
    """Back to the token the form was on, saying why nothing was revoked."""
    try:
        record = await tokens.get_token(request.app[POOL], jti=UUID(form.get("token", "")))
    except (ValueError, errors.NotFound):
        return page(
            request,
            "error.html",
            status=403,
            who=who,
            title="Nothing was revoked",
            message=problem,
            reason="confirmation_required",
        )
    return await _details_page(request, who, record, problem=problem, status=403)


# --- delivery receipts ----------------------------------------------------------------------


async def receipt(request: web.Request) -> web.Response:
    who = await admin(request)
    seq = path_seq(request)
    found = await receipts.delivery(
        request.app[POOL], seq=seq, timeout=request.app[SETTINGS].instance_timeout
    )
    return page(
        request,
        "receipt.html",
        who=who,
        receipt=found,
        token=request.query.get("token", ""),
        json_url=f"{prefix_of(request)}/events/{seq}.json",
    )


async def receipt_json(request: web.Request) -> web.Response:
    await admin(request)
    found = await receipts.delivery(
        request.app[POOL], seq=path_seq(request), timeout=request.app[SETTINGS].instance_timeout
    )
    return web.json_response(found.wire(), headers={"Cache-Control": "no-store"})


# --- the domain policy and the audit log --------------------------------------------------


async def policy_page(request: web.Request) -> web.Response:
    who = await admin(request)
    current = await policy.get_policy(request.app[POOL])
    return page(request, "policy.html", current="/policy", who=who, policy=current)


async def policy_update(request: web.Request) -> web.Response:
    who = await admin(request)
    form = await form_of(request, who)
    try:
        domains = normalise_domain_list(lines(form.get("domains", "")))
    except DomainPatternError as exc:
        current = await policy.get_policy(request.app[POOL])
        return page(
            request,
            "policy.html",
            current="/policy",
            status=422,
            who=who,
            policy=current,
            problem=str(exc),
        )
    change = await policy.set_policy(request.app[POOL], domains=domains, actor=who.actor)
    raise see_other(request, f"/events/{change.event_seq}")


async def audit_page(request: web.Request) -> web.Response:
    who = await admin(request)
    query = AuditQuery.model_validate({"limit": 50, "before": request.query.get("before") or None})
    found = await policy.list_audit(request.app[POOL], query=query)
    return page(
        request,
        "audit.html",
        current="/audit",
        who=who,
        entries=found.items,
        next_before=found.next_before,
    )


async def static(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in ("console.css", "console.js", "favicon.svg"):
        raise errors.NotFound()
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "public, max-age=300"})
