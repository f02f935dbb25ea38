"""Each portal on its own origin: whether the origin a request reached serves the portal it
asks for, and where that portal is served instead (`latchkey.common.portals` says why).

A request for a portal on another portal's origin is refused (421 Misdirected Request,
RFC 9110 §15.5.20), or, for a top-level navigation, sent to the portal's own origin."""

from aiohttp import web

from latchkey.common import errors
from latchkey.common.domains import origin_host_port
from latchkey.common.portals import PortalOrigins
from latchkey.portal.admission import Sender


class WrongOrigin(errors.ApiError):
    status = 421
    reason = "wrong_origin"
    message = "This portal is not served at this address."


def local_port(request: web.BaseRequest) -> int | None:
    """The router port the request came in on (read once per connection where the server
    is latchkey.common.http_server's)."""
    known = getattr(request.protocol, "local_port", None)
    if known is not None:
        return known  # type: ignore[no-any-return]
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    return sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None


def own_host_port(request: web.BaseRequest) -> tuple[str, int] | None:
    """The portal's own origin as this request reached it (links inside it are fine)."""
    return origin_host_port(f"{request.scheme}://{request.host}")


def sender_of(request: web.BaseRequest) -> Sender:
    """What the request says of the page that sent it (made on every signed-in request: the
    portal's own origin is read only when there is a sender to compare it with)."""
    headers = request.headers
    origin = headers.get("Origin")
    referer = headers.get("Referer")
    return Sender(
        origin,
        referer,
        headers.get("Sec-Fetch-Site"),
        headers.get("Sec-Fetch-Dest"),
        own_host_port(request) if origin is not None or referer is not None else None,
    )


def is_top_level_navigation(request: web.BaseRequest) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate" and request.headers.get("Sec-Fetch-Dest") == "document"
    return "text/html" in request.headers.get("Accept", "")


def check_origin(request: web.BaseRequest, origins: PortalOrigins, portal: str) -> None:
    """Return when this origin serves `portal`; else redirect a top-level navigation to where
    it is served (307, the path and query as sent) or refuse with 421."""
    if portal in origins.served_at(request.host, local_port(request)):
        return
    target = origins.settings.origin_of(portal, scheme=request.scheme, host=request.host)
    elsewhere = origin_host_port(target) != own_host_port(request)
    if elsewhere and is_top_level_navigation(request):
        raise web.HTTPTemporaryRedirect(
            target + request.raw_path,
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )
    raise WrongOrigin(f"The {portal} portal is served at {target}.", data={"origin": target})
