"""Who is really asking, behind reverse proxies we trust: the client's address, and the scheme
and host the browser used. From anyone else, `X-Forwarded-*` headers are ignored."""

import ipaddress
from collections.abc import Sequence

from aiohttp import web

from latchkey.common.settings import Network


class TrustedProxies:
    """The proxies whose `X-Forwarded-For/-Proto/-Host` are believed, parsed once."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self._networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str | None) -> bool:
        try:
            parsed = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(parsed in network for network in self._networks)

    def client_address(self, remote: str | None, forwarded_for: str | None) -> str:
        """The peer, or, behind a trusted proxy, the last address in X-Forwarded-For that is
        not itself a trusted proxy (the ones before it are whatever the client wrote)."""
        peer = remote or "unknown"
        if not forwarded_for or not self.trusts(peer):
            return peer
        for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
            address = canonical_address(hop)
            if address is None:
                return peer
            if not self.trusts(address):
                return address
        return peer

    def client_of(self, request: web.BaseRequest) -> str:
        return self.client_address(request.remote, request.headers.get("X-Forwarded-For"))

    def as_browser_saw_it(self, request: web.Request) -> web.Request:
        """The request with the scheme and host a trusted proxy says the browser used."""
        if not self._networks or not self.trusts(request.remote):
            return request
        changes: dict[str, str] = {}
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            changes["scheme"] = proto
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        if host:
            changes["host"] = host
        return request.clone(**changes) if changes else request  # type: ignore[arg-type]


def canonical_address(text: str) -> str | None:
    """An IP address in its one canonical spelling (`::ffff:10.0.0.1` and `10.0.0.1` stay
    distinct, as the kernel reports them); None when `text` is not an address."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None
