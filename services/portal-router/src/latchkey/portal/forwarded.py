"""Behind a trusted reverse proxy, the scheme and host the browser used come from
X-Forwarded-Proto / X-Forwarded-Host; from anyone else those headers are ignored."""

import functools
import ipaddress

from aiohttp import web

from latchkey.common.edge import Handler, Wrapper

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trust_forwarded(trusted: list[str]) -> Wrapper:
    """A wrapper for every handler that takes the scheme and host from trusted proxies."""
    networks: list[Network] = [ipaddress.ip_network(item, strict=False) for item in trusted]

    def from_trusted(remote: str | None) -> bool:
        try:
            address = ipaddress.ip_address(remote or "")
        except ValueError:
            return False
        return any(address in network for network in networks)

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            return await handler(forwarded(request))

        return wrapped

    def forwarded(request: web.Request) -> web.Request:
        if from_trusted(request.remote):
            changes: dict[str, str] = {}
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
            if proto in ("http", "https"):
                changes["scheme"] = proto
            host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
            if host:
                changes["host"] = host
            if changes:
                return request.clone(**changes)  # type: ignore[arg-type]
        return request

    return wrap
