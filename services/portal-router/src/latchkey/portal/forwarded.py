"""Behind a trusted reverse proxy, the scheme and host the browser used come from
X-Forwarded-Proto / X-Forwarded-Host; from anyone else those headers are ignored."""

import ipaddress
from typing import Any

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def forwarded_middleware(trusted: list[str]) -> Any:
    networks: list[Network] = [ipaddress.ip_network(item, strict=False) for item in trusted]

    def from_trusted(remote: str | None) -> bool:
        try:
            address = ipaddress.ip_address(remote or "")
        except ValueError:
            return False
        return any(address in network for network in networks)

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if networks and from_trusted(request.remote):
            changes: dict[str, str] = {}
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
            if proto in ("http", "https"):
                changes["scheme"] = proto
            host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
            if host:
                changes["host"] = host
            if changes:
                request = request.clone(**changes)  # type: ignore[arg-type]
        response: web.StreamResponse = await handler(request)
        return response

    return middleware
