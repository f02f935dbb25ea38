"""The router's settings (`LATCHKEY_*`), on top of what every service reads."""

import ssl
from pathlib import Path
from typing import Annotated, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import NoDecode
from yarl import URL

from latchkey.common.portals import PortalsSettings
from latchkey.common.settings import (
    SPLIT_COMMAS,
    AuthUrl,
    CommonSettings,
    RegistryUrl,
    RouterCredential,
    TrustedProxiesSettings,
    split_comma_list,
)


class Route(BaseModel):
    """Requests under `prefix` go to `upstream` (longest prefix wins). A portal's route sits
    under the portal (`/agent/app`); an API route (`api`) sits anywhere else (`/api/tickets`)
    and takes bearer tokens only: never a session cookie, never a redirect, CORS for the
    sites the token's (or the policy's) allowed domains name."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    prefix: str
    upstream: str
    pass_token: bool = Field(False, description="Send the user's bearer token upstream.")
    api: bool = Field(False, description="Bearer tokens only, answered with envelopes.")
    portals: list[str] = Field(
        default_factory=list,
        description="For an API: tokens that open one of these portals (none: any valid token).",
    )

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.startswith("/") or "//" in value or ".." in value or "?" in value:
            raise ValueError("a route prefix is a plain absolute path such as /admin/tokens")
        return value.rstrip("/") or "/"

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, value: str) -> str:
        url = URL(value)
        if url.scheme not in ("http", "https") or not url.host or url.query_string or url.fragment:
            raise ValueError("an upstream is an http(s) URL without query or fragment")
        return value.rstrip("/")

    @property
    def portal(self) -> str:
        return self.prefix.strip("/").split("/")[0]


def _parse_routes(value: object) -> object:
    """`/prefix=http://upstream[+token][+api],...` or a JSON list of route objects."""
    if isinstance(value, str) and not value.strip().startswith("["):
        routes = []
        for item in str(value).split(","):
            if not item.strip():
                continue
            prefix, _, upstream = item.strip().partition("=")
            upstream, *flags = upstream.split("+")
            routes.append(
                {
                    "prefix": prefix,
                    "upstream": upstream,
                    "passToken": "token" in flags,
                    "api": "api" in flags,
                }
            )
        return routes
    return split_comma_list(value) if isinstance(value, str) else value


class RouterSettings(
    CommonSettings, AuthUrl, RegistryUrl, RouterCredential, TrustedProxiesSettings, PortalsSettings
):
    SERVICE = "router"

    router_extra_ports: Annotated[list[int], NoDecode, SPLIT_COMMAS] = Field(
        default_factory=list,
        description="More ports to listen on (portals' own ports are listened on anyway).",
    )
    routes: Annotated[list[Route], NoDecode] = Field(
        default_factory=list, description="Upstreams by path prefix."
    )
    session_keys: Annotated[list[SecretStr], NoDecode, SPLIT_COMMAS] = Field(
        default_factory=list,
        description="Fernet keys for session cookies; the first encrypts, all decrypt.",
    )
    session_max_lifetime: int = Field(
        12 * 3600, ge=60, description="Longest session, even for a longer-lived token."
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure cookies: over HTTPS (auto), always, or never."
    )
    allow_no_origin_navigation: bool = Field(
        True, description="Accept a deep link without Origin/Referer as a top-level page."
    )
    allow_no_origin_iframe: bool = Field(
        False, description="Accept a deep link without Origin/Referer inside an iframe."
    )
    max_path_length: int = Field(2048, ge=64, description="Longest deep-link path accepted.")
    forward_auth_uri_header: str = Field(
        "X-Original-URI",
        pattern=r"^[A-Za-z0-9-]+$",
        description="The one header forward-auth reads the original URI from (X-Forwarded-Uri "
        "for Traefik). Only one: a proxy passes other client headers on as sent.",
    )
    console_prefix: str = Field(
        "/admin/tokens",
        description="Where the registry's token console appears (empty: not routed).",
    )
    upstream_connect_timeout: float = Field(
        5, gt=0, description="Seconds to connect to an upstream before answering 502."
    )
    upstream_read_timeout: float = Field(
        300,
        gt=0,
        description="Seconds an upstream may go silent (before its answer, or between two "
        "parts of it) before the router answers 504 or cuts the answer.",
    )
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate (chain) to serve HTTPS with, on every router port."
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of that certificate.")
    allow_console_shared_origin: bool = Field(
        False,
        description="Start even though the token console shares its origin with a proxied "
        "upstream's pages (they could then read console pages with an admin's cookie).",
    )

    @field_validator("routes", mode="before")
    @classmethod
    def _routes(cls, value: object) -> object:
        return _parse_routes(value)

    @model_validator(mode="after")
    def _tls_needs_both_files(self) -> "RouterSettings":
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "set both LATCHKEY_TLS_CERT_FILE and LATCHKEY_TLS_KEY_FILE, or neither"
            )
        return self

    def upstream_timeouts(self) -> aiohttp.ClientTimeout:
        """No bound on a whole answer (downloads, streams): on connecting and on silence."""
        return aiohttp.ClientTimeout(
            total=None,
            connect=self.upstream_connect_timeout,
            sock_connect=self.upstream_connect_timeout,
            sock_read=self.upstream_read_timeout,
        )

    def tls_context(self) -> ssl.SSLContext | None:
        """The server's TLS context, when a certificate is configured."""
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"LATCHKEY_TLS_CERT_FILE ({self.tls_cert_file}) and LATCHKEY_TLS_KEY_FILE "
                f"({self.tls_key_file}) are not a readable PEM certificate and its key: "
                f"{exc.strerror or exc}"
            ) from None
        return context

    @model_validator(mode="after")
    def _routes_belong_to_portals(self) -> "RouterSettings":
        for route in self.all_routes():
            if route.api and route.portal in self.portals:
                raise ValueError(
                    f"API route {route.prefix} is under a portal: give it a path of its own"
                )
            if not route.api and route.portal not in self.portals:
                raise ValueError(f"route {route.prefix} is under no configured portal")
            unknown = set(route.portals) - set(self.portals)
            if unknown:
                raise ValueError(f"route {route.prefix} names unknown portals {sorted(unknown)}")
        shared = self.console_shares_origin_with()
        if shared and not self.allow_console_shared_origin:
            raise ValueError(
                f"the token console ({self.console_prefix}) would share its origin with the "
                f"proxied pages of {', '.join(shared)}: a page there could read the console "
                "with an admin's cookie. Give the admin portal an origin of its own in "
                'LATCHKEY_PORTALS (e.g. "admin": {"port": 9004} or {"host": '
                '"admin.example.com"}), or set LATCHKEY_ALLOW_CONSOLE_SHARED_ORIGIN=true to '
                "accept it (the console then still refuses framing and scripts, and asks for "
                "the password before generating tokens)"
            )
        return self

    def console_shares_origin_with(self) -> list[str]:
        """The proxied routes whose pages are served on the token console's origin."""
        if not self.console_prefix:
            return []
        console = self.console_prefix.rstrip("/")
        portal = console.strip("/").split("/")[0]
        if portal not in self.portals:
            return []
        shared = {name for name in self.portals if self.same_origin(portal, name)}
        return sorted(
            route.prefix
            for route in self.routes
            if not route.api and route.portal in shared and route.prefix.rstrip("/") != console
        )

    def same_origin(self, first: str, second: str) -> bool:
        """Whether two portals are served on one origin (bindings are distinct by
        validation, so only portals bound alike to the router's port share one)."""
        if first == second:
            return True
        a, b = self.portals[first], self.portals[second]
        if a.host is not None or b.host is not None:
            return False
        return (a.port or self.router_port) == (b.port or self.router_port)

    def listening_ports(self) -> list[int]:
        """The router's own port, every port a portal is served on, and the extra ones."""
        ports = {self.router_port, *self.portal_ports(), *self.router_extra_ports}
        return [self.router_port, *sorted(ports - {self.router_port})]

    def api_routes(self) -> list[Route]:
        return [route for route in self.routes if route.api]

    def all_routes(self) -> list[Route]:
        """The configured routes, plus the token console unless disabled or routed already."""
        routes = list(self.routes)
        prefixes = {route.prefix for route in routes}
        if self.console_prefix and self.console_prefix.rstrip("/") not in prefixes:
            routes.append(
                Route(
                    prefix=self.console_prefix,
                    upstream=self.registry_url + "/console",
                    pass_token=True,
                )
            )
        return routes

    def home_of(self, portal: str) -> str:
        return self.portals[portal].home or f"/{portal}/"
