"""Asking one instance what it knows: `/internal/v1/token-state/check` (is this token honoured
here, and why not?) and `/internal/v1/token-state/status` (sequence number, mode, digest)."""

from aiohttp import web
from pydantic import Field

from latchkey.common import errors
from latchkey.common.admission import Admission
from latchkey.common.models import ApiModel, RequestModel
from latchkey.common.openapi import Endpoint, add_endpoints
from latchkey.common.settings import SERVICES
from latchkey.common.tokenstate.runtime import TOKEN_STATE
from latchkey.common.verification import VERIFIER
from latchkey.common.web import envelope, read_json


class TokenCheck(RequestModel):
    token: str = Field(min_length=1, max_length=8192)


class TokenCheckResult(ApiModel):
    honoured: bool
    reason: str | None
    seq: int
    mode: str
    instance_id: str


class TokenStateStatus(ApiModel):
    instance_id: str
    service: str
    seq: int
    latest_known: int
    mode: str
    staleness: float | None
    entries: int
    policy_domains: list[str]
    digest: str


async def check(request: web.Request) -> web.Response:
    body = await read_json(request, TokenCheck)
    state = request.app[TOKEN_STATE]
    reason = None
    try:
        await Admission(request.app[VERIFIER], state).admit(body.token)
    except errors.ApiError as exc:
        if exc.status >= 500:
            raise
        reason = exc.reason
    result = TokenCheckResult(
        honoured=reason is None,
        reason=reason,
        seq=state.view.seq,
        mode=state.mode(),
        instance_id=state.instance_id,
    )
    return envelope(result.wire())


async def status(request: web.Request) -> web.Response:
    state = request.app[TOKEN_STATE]
    staleness = state.sequencer.staleness()
    result = TokenStateStatus(
        instance_id=state.instance_id,
        service=state.service,
        seq=state.view.seq,
        latest_known=state.sequencer.latest_known,
        mode=state.mode(),
        staleness=None if staleness == float("inf") else staleness,
        entries=state.view.entries,
        policy_domains=list(state.view.policy_domains),
        digest=state.view.digest(),
    )
    return envelope(result.wire())


def setup_token_state_routes(app: web.Application) -> None:
    add_endpoints(
        app,
        [
            Endpoint("POST", "/internal/v1/token-state/check", check,
                     "Whether this instance honours a token, and why not",
                     body=TokenCheck, response=TokenCheckResult, security="service",
                     callers=SERVICES, tags=("internal",)),
            Endpoint("GET", "/internal/v1/token-state/status", status,
                     "This instance's token state: sequence number, mode, staleness, digest",
                     response=TokenStateStatus, security="service", callers=SERVICES,
                     tags=("internal",)),
        ],
    )  # fmt: skip
