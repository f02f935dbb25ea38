"""The router's settings (`LATCHKEY_*`), on top of what every service reads."""

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import NoDecode
from yarl import URL

from latchkey.common.settings import SPLIT_COMMAS, CommaList, CommonSettings, split_comma_list

PORTAL_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
RESERVED = {"_latchkey", "healthz", "readyz", "metrics", "internal", "openapi.json", "api"}


class PortalConfig(BaseModel):
    """How one portal behaves: where its home is, whether others may frame it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    home: str = Field("", description="Where /{portal}/auth/login lands; default /{portal}/.")
    embeddable: bool = Field(
        False, description="Sessions work in cross-site iframes (SameSite=None; Partitioned)."
    )
    single_use_links: bool = Field(False, description="A token's deep link works once.")


class Route(BaseModel):
    """Requests under `prefix` go to `upstream` (longest prefix wins)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    prefix: str
    upstream: str
    pass_token: bool = Field(False, description="Send the user's bearer token upstream.")

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
    """`/prefix=http://upstream,...` or a JSON list of route objects."""
    if isinstance(value, str) and not value.strip().startswith("["):
        routes = []
        for item in str(value).split(","):
            if not item.strip():
                continue
            prefix, _, upstream = item.strip().partition("=")
            pass_token = upstream.endswith("+token")
            routes.append(
                {
                    "prefix": prefix,
                    "upstream": upstream.removesuffix("+token"),
                    "passToken": pass_token,
                }
            )
        return routes
    return split_comma_list(value) if isinstance(value, str) else value


class RouterSettings(CommonSettings):
    router_port: int = Field(9005, ge=1, le=65535, description="Port the router listens on.")
    router_extra_ports: Annotated[list[int], NoDecode, SPLIT_COMMAS] = Field(
        default_factory=list, description="More ports to listen on (e.g. 9004 for old links)."
    )
    portals: dict[str, PortalConfig] = Field(
        default_factory=lambda: {
            "agent": PortalConfig(embeddable=True),
            "admin": PortalConfig(),
        },
        description="Portals by name, as JSON.",
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
    trusted_proxies: CommaList = Field(
        default_factory=list, description="Addresses whose X-Forwarded-Proto/-Host are believed."
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

    @field_validator("routes", mode="before")
    @classmethod
    def _routes(cls, value: object) -> object:
        return _parse_routes(value)

    @field_validator("portals")
    @classmethod
    def _portal_names(cls, value: dict[str, PortalConfig]) -> dict[str, PortalConfig]:
        for name in value:
            if not PORTAL_NAME.match(name) or name in RESERVED:
                raise ValueError(f"{name!r} cannot be a portal name")
        return value

    @model_validator(mode="after")
    def _routes_belong_to_portals(self) -> "RouterSettings":
        for route in self.all_routes():
            if route.portal not in self.portals:
                raise ValueError(f"route {route.prefix} is under no configured portal")
        return self

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
