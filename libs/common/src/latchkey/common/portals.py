"""Portals and their origins: `LATCHKEY_PORTALS`, read by the router (which serves them), the
registry (whose console links into them) and auth (which portals a role opens).

Each portal is served on an origin of its own, so that a page of one portal (whatever its
upstream serves) cannot read or drive another: browsers isolate origins, and nothing else
(a cookie's path least of all) isolates pages. A portal is bound either to a host name
(`"host": "admin.example.com"`: requests whose Host is that name, on any router port; for
deployments behind a proxy) or to a router port (`"port": 9004`: requests to that port, for
any host not bound to another portal). A portal bound to neither is served on the router's
own port, `LATCHKEY_ROUTER_PORT`. Portals served on one origin share it (the router refuses to
start with the token console on an origin shared with a proxied upstream, unless told to).
"""

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from latchkey.common.domains import DomainPatternError, normalise_host, origin_host_port

PORTAL_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
RESERVED = {"_latchkey", "healthz", "readyz", "metrics", "internal", "openapi.json", "api"}


def _host(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        host = normalise_host(value)
    except DomainPatternError as exc:
        raise ValueError(str(exc)) from None
    if ":" in value.strip("[]"):
        raise ValueError("a portal's host is a name without a port (bind a port with `port`)")
    return host


class PortalConfig(BaseModel):
    """How one portal behaves: where it is served, where its home is, whether others may
    frame it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    host: Annotated[str | None, AfterValidator(_host)] = Field(
        None, description="Host name browsers reach this portal at (any router port)."
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="Router port this portal is served on."
    )
    home: str = Field("", description="Where /{portal}/auth/login lands; default /{portal}/.")
    embeddable: bool = Field(
        False, description="Sessions work in cross-site iframes (SameSite=None; Partitioned)."
    )
    single_use_links: bool = Field(False, description="A token's deep link works once.")

    @model_validator(mode="after")
    def _one_binding(self) -> "PortalConfig":
        if self.host is not None and self.port is not None:
            raise ValueError("bind a portal to a host or to a port, not both")
        return self


DEFAULT_PORTALS = {
    "agent": PortalConfig(embeddable=True),
    "admin": PortalConfig(port=9004),
}
"""The agent portal on the router's port (9005), the admin portal and its token console on
9004, where existing clients' admin links point."""


def _check_portals(value: dict[str, PortalConfig]) -> dict[str, PortalConfig]:
    for name in value:
        if not PORTAL_NAME.match(name) or name in RESERVED:
            raise ValueError(f"{name!r} cannot be a portal name")
    hosts = [config.host for config in value.values() if config.host is not None]
    ports = [config.port for config in value.values() if config.port is not None]
    for kind, bound in (("host", hosts), ("port", ports)):
        if len(bound) != len(set(bound)):
            raise ValueError(f"two portals are bound to one {kind}: give each its own origin")
    return value


class PortalsSettings(BaseModel):
    portals: Annotated[dict[str, PortalConfig], AfterValidator(_check_portals)] = Field(
        default_factory=lambda: dict(DEFAULT_PORTALS),
        description="Portals by name, as JSON: per portal its `host` or `port`, `home`, "
        "`embeddable`, `singleUseLinks`.",
    )
    router_port: int = Field(
        9005, ge=1, le=65535, description="The router's port (and that of unbound portals)."
    )

    def embeddable_portals(self) -> frozenset[str]:
        """The portals other sites may frame (when a token's domains allow them)."""
        return frozenset(name for name, config in self.portals.items() if config.embeddable)

    def portal_ports(self) -> set[int]:
        """Every router port a portal is served on."""
        return {config.port or self.router_port for config in self.portals.values()
                if config.host is None}  # fmt: skip

    def origin_of(self, portal: str, *, scheme: str, host: str) -> str:
        """Where browsers find `portal`, seen from a request that reached `host` (Host
        header) over `scheme`."""
        config = self.portals[portal]
        if config.host is not None:
            return f"{scheme}://{config.host}"
        found = origin_host_port("http://" + host)
        hostname = found[0] if found else "127.0.0.1"
        return f"{scheme}://{hostname}:{config.port or self.router_port}"


class PortalOrigins:
    """Which portals each origin serves, worked out once from the settings: the router asks on
    every request. Made from settings that no longer change (a service's, once built)."""

    def __init__(self, settings: PortalsSettings) -> None:
        self.settings = settings
        self._by_host: dict[str, tuple[str, ...]] = {}
        self._by_port: dict[int, tuple[str, ...]] = {}
        for portal, config in settings.portals.items():
            if config.host is not None:
                self._by_host.setdefault(config.host, (portal,))
            else:
                port = config.port or settings.router_port
                self._by_port[port] = (*self._by_port.get(port, ()), portal)

    def served_at(self, host: str | None, port: int | None) -> tuple[str, ...]:
        """The portals served on this origin: the one bound to its host, else those served
        on its (router) port."""
        if host:
            found = origin_host_port("http://" + host)
            if found is not None:
                bound = self._by_host.get(found[0])
                if bound is not None:
                    return bound
        return self._by_port.get(port, ()) if port is not None else ()
