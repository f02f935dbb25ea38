"""The router's admission rules beyond the token itself, as plain data in and out (no HTTP):
who a request is from (`Identity`), whether the site that sent it may (`Sender`), which sites
may frame the portal, and refusals that carry what their page needs (`Refused`).

Whether the token may be used at all is `latchkey.common.admission`'s to say; the router adds
the sender and the frame: a token's allowed domains (as an admin last set them), else the
global policy, name the sites that may send a user in with it and frame the portal.
"""

from functools import lru_cache
from typing import NamedTuple

from latchkey.common import errors
from latchkey.common.domains import (
    DomainPattern,
    DomainPatternError,
    is_allowed,
    origin_host_port,
    parse_domain_pattern,
)
from latchkey.common.verification import Claims
from latchkey.portal.sessions import Session

FRAME_DESTINATIONS = frozenset({"iframe", "frame", "embed", "object", "fencedframe"})


class Identity(NamedTuple):
    """Who a request is from. A named tuple: made on every request, and cheaper to make
    than a frozen dataclass."""

    claims: Claims
    token: str
    portal: str
    domains: tuple[str, ...]
    """The allowed domains in force now: changed by an admin, the token's, else the policy."""
    session: Session | None = None


class Refused(Exception):
    """A refusal and what its page needs: the sites that may frame it (those the token allows,
    so a person sees why inside the partner's frame rather than a blank one; or the very site
    that framed it, when the refusal is about being framed), a way to open the page top level
    instead, and whether the session it came with is over."""

    def __init__(
        self,
        error: errors.ApiError,
        *,
        frame_domains: tuple[str, ...] = (),
        framed_by: str | None = None,
        open_top_level: str | None = None,
        end_session: bool = False,
    ) -> None:
        super().__init__(error.detail)
        self.error = error
        self.frame_domains = frame_domains
        self.framed_by = framed_by
        self.open_top_level = open_top_level
        self.end_session = end_session

    def frame_ancestors(self) -> str:
        """`frame-ancestors` for the refusal's page: the site that framed it may show it when
        the refusal is about that site (or `*` when it did not say who it is: the page holds
        nothing but the explanation); else the sites the token allows."""
        if self.framed_by is not None:
            return f"frame-ancestors 'self' {self.framed_by}"
        return frame_ancestors(self.frame_domains)


class FramingNotAllowed(errors.Forbidden):
    reason = "frame_not_allowed"
    message = "This portal may not be shown inside this site."


class FramingNeedsHttps(errors.Forbidden):
    reason = "embedding_needs_https"
    message = "This portal can be shown inside another site only when it is served over HTTPS."


class NotEmbeddable(errors.Forbidden):
    reason = "portal_not_embeddable"
    message = "This portal is not set up to be shown inside other sites."


class Sender(NamedTuple):
    """What a request says about the page that sent it. A named tuple: made on every
    request, and cheaper to make than a frozen dataclass."""

    origin: str | None
    referer: str | None
    fetch_site: str | None
    fetch_dest: str | None
    own: tuple[str, int] | None
    """The portal's own origin as the request reached it; only read beside the sender it
    names (`named`), so left None when the request names none."""

    @property
    def framed(self) -> bool:
        return (self.fetch_dest or "") in FRAME_DESTINATIONS

    @property
    def own_site(self) -> bool:
        """Whether the sender it names is the portal's own origin."""
        named = self.named
        return named is not None and origin_host_port(named) == self.own

    @property
    def named(self) -> str | None:
        """The sender's URL: the Origin, else the Referer ("null" origins name nobody)."""
        return self.origin if self.origin is not None else self.referer


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
    sources = [
        "'self'",
        *(source for pattern in patterns_of(domains) for source in pattern.csp_sources()),
    ]
    return "frame-ancestors " + " ".join(sources)


def allows_site(domains: tuple[str, ...], sender_url: str) -> bool:
    found = origin_host_port(sender_url)
    return found is not None and is_allowed(list(patterns_of(domains)), *found)


def sender_refusal(
    sender: Sender,
    domains: tuple[str, ...],
    *,
    signing_in: bool,
    allow_bare_navigation: bool,
    allow_bare_frame: bool,
) -> errors.DomainNotAllowed | None:
    """Why the site that sent this request may not (403 domain_not_allowed), or None.

    With no domains at all (neither the token's nor a global policy) any site may link in;
    the portal still cannot be framed by others (frame-ancestors 'self'). A request that
    names no sender is judged by the settings, except that a sign-in the browser says is
    cross-site is refused when domains restrict the token: hiding which site sent it
    (`Referrer-Policy: no-referrer`) must not pass for being allowed. (Inside a session, the
    requests after a `no-referrer` redirect name no sender either; the session's cookie is
    confined to the site it was set for, by SameSite or its iframe partition.)
    """
    named = sender.named
    if named is None:
        if signing_in and domains and sender.fetch_site == "cross-site":
            return errors.DomainNotAllowed(
                "The page that sent you here does not say which site it is, and this access "
                "may only be used from the sites it names."
            )
        allowed = allow_bare_frame if sender.framed else allow_bare_navigation
        if not allowed:
            return errors.DomainNotAllowed(
                "This page can only be opened from a site that identifies itself."
            )
        return None
    found = origin_host_port(named)
    if found is None:
        return errors.DomainNotAllowed()
    if found == sender.own:
        return None
    if domains and not is_allowed(list(patterns_of(domains)), *found):
        return errors.DomainNotAllowed()
    return None


def frame_source(sender: Sender) -> str:
    """The framing site as a CSP source (`https://crm.example:8443`), `*` when unnamed."""
    named = sender.named
    found = origin_host_port(named) if named else None
    if named is None or found is None:
        return "*"
    scheme = named.split(":", 1)[0].lower()
    host, port = found
    return f"{scheme}://{host}:{port}"


def framing_refusal(
    sender: Sender, domains: tuple[str, ...], *, embeddable: bool, secure: bool
) -> errors.ApiError | None:
    """Why a deep link arriving in another site's frame would not work there, or None.
    Browsers would otherwise show a broken frame (`frame-ancestors` refused) or loop on the
    sign-in page (a cookie they do not keep in frames)."""
    if not sender.framed or sender.fetch_site not in ("cross-site", "same-site"):
        return None
    if not embeddable:
        return NotEmbeddable(
            "This portal is not set up to be shown inside other sites: an operator can make "
            'it embeddable ("embeddable": true in LATCHKEY_PORTALS). Open it in a tab of '
            "its own instead."
        )
    named = sender.named
    if named is None or not (domains and allows_site(domains, named)):
        site = frame_source(sender)
        who = "this site" if site == "*" else site.split("://", 1)[1]
        return FramingNotAllowed(
            f"This portal may not be shown inside {who}: an administrator can allow it by "
            "adding the site to this access's allowed domains, or to the global domain "
            "policy. Open it in a tab of its own instead."
        )
    if not secure:
        return FramingNeedsHttps(
            "This portal can be shown inside another site only when it is served over HTTPS "
            "(browsers keep no cookie inside a frame otherwise). Open it in a tab of its own, "
            "or ask an operator to serve it over HTTPS."
        )
    return None


class CrossSiteWebSocket(errors.Forbidden):
    reason = "cross_site_websocket"
    message = "This connection can only be opened from this portal or a site it allows."


def websocket_refusal(sender: Sender, domains: tuple[str, ...]) -> errors.ApiError | None:
    """A WebSocket upgrade must come from the portal's own pages or an allowed site, with or
    without a domain policy: browsers send the cookie with any site's upgrade, so otherwise
    any page could talk to the portal as its user. Programs send no Origin; they pass."""
    if sender.origin is None:
        return None
    found = origin_host_port(sender.origin)
    if found is not None and (
        found == sender.own or (domains and allows_site(domains, sender.origin))
    ):
        return None
    return CrossSiteWebSocket()
