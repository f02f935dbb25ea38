"""The domain policy at the door: which sites may send a user in (Origin/Referer), and which
may frame the portal (`Content-Security-Policy: frame-ancestors`)."""

from functools import lru_cache

from aiohttp import web

from latchkey.common import errors
from latchkey.common.domains import (
    DomainPattern,
    DomainPatternError,
    is_allowed,
    origin_host_port,
    parse_domain_pattern,
)

FRAME_DESTINATIONS = frozenset({"iframe", "frame", "embed", "object"})


@lru_cache(maxsize=4096)
def patterns_of(domains: tuple[str, ...]) -> tuple[DomainPattern, ...]:
    parsed = []
    for domain in domains:
        try:
            parsed.append(parse_domain_pattern(domain))
        except DomainPatternError:
            continue  # validated when stored; an unreadable entry allows nothing
    return tuple(parsed)


@lru_cache(maxsize=4096)
def frame_ancestors(domains: tuple[str, ...]) -> str:
    """`frame-ancestors 'self' ...`: only the allowed sites may embed the portal."""
    sources = ["'self'", *(pattern.csp_source() for pattern in patterns_of(domains))]
    return "frame-ancestors " + " ".join(sources)


def is_framed(request: web.BaseRequest) -> bool:
    return request.headers.get("Sec-Fetch-Dest", "") in FRAME_DESTINATIONS


def check_sender(
    request: web.BaseRequest,
    domains: tuple[str, ...],
    *,
    allow_bare_navigation: bool,
    allow_bare_frame: bool,
) -> None:
    """Refuse (403 domain_not_allowed) a request sent from a site the domains do not allow.

    With no domains at all (neither the token's nor a global policy) any site may link in;
    the portal still cannot be framed by others (frame-ancestors 'self').
    """
    origin = request.headers.get("Origin")
    sender = origin if origin is not None else request.headers.get("Referer")
    if sender is None:
        allowed = allow_bare_frame if is_framed(request) else allow_bare_navigation
        if not allowed:
            raise errors.DomainNotAllowed(
                "This page can only be opened from a site that identifies itself."
            )
        return
    found = origin_host_port(sender)
    if found is None:
        raise errors.DomainNotAllowed()
    host, port = found
    if (host, port) == own_host_port(request):
        return
    if domains and not is_allowed(list(patterns_of(domains)), host, port):
        raise errors.DomainNotAllowed()


def own_host_port(request: web.BaseRequest) -> tuple[str, int] | None:
    """The portal's own origin as this request reached it (links inside it are fine)."""
    return origin_host_port(f"{request.scheme}://{request.host}")
