"""Endpoint security, enforced where it is declared: an `Endpoint` that says `security="service"`
names the services that may call it, one that says `security="bearer"` the role it needs, and
`add_endpoints` puts this check in front of its handler, so no handler can forget it.

The handler then finds who called in the request: `caller(request)` (a service) or
`claims(request)` (a token holder).
"""

from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web

from latchkey.common import errors
from latchkey.common.admission import Admission
from latchkey.common.credentials import ServiceCredentials, bearer_token
from latchkey.common.verification import Claims

Security = Literal["none", "bearer", "service"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CREDENTIALS = web.AppKey("service_credentials", ServiceCredentials)
"""This service's own credential and its callers': who service endpoints let in."""
ADMISSION = web.AppKey("admission", Admission)
"""Who bearer-token endpoints let in."""
CALLER = web.RequestKey("caller", str)
CLAIMS = web.RequestKey("claims", Claims)


class RoleRequired(errors.Forbidden):
    def __init__(self, role: str) -> None:
        super().__init__(f"This needs the {role} role.")


def guard(
    handler: Handler,
    *,
    security: Security,
    callers: tuple[str, ...] = (),
    role: str | None = None,
    allow_disabled: bool = False,
) -> Handler:
    """`handler` behind the check its declaration asks for."""
    if security == "none":
        return handler
    if security == "service":
        if not callers:
            raise ValueError(f"{handler.__name__}: a service endpoint must name its callers")

        async def service_only(request: web.Request) -> web.StreamResponse:
            request[CALLER] = request.app[CREDENTIALS].require(request, callers)
            return await handler(request)

        return service_only

    async def bearer_only(request: web.Request) -> web.StreamResponse:
        found = await request.app[ADMISSION].admit(
            bearer_token(request), allow_disabled=allow_disabled
        )
        if role is not None and not found.has_role(role):
            raise RoleRequired(role)
        request[CLAIMS] = found
        return await handler(request)

    return bearer_only


def caller(request: web.Request) -> str:
    """The service that called a `security="service"` endpoint."""
    return request[CALLER]


def claims(request: web.Request) -> Claims:
    """The admitted token of a `security="bearer"` endpoint's caller."""
    return request[CLAIMS]
