"""The router's own HTML pages: sign-in, errors a person understands, who is signed in.

Jinja2 templates (in `templates/`) with everything escaped; every page says
`Cache-Control: no-store` and `Referrer-Policy: no-referrer` (unless it holds a form, which
names its origin with `same-origin`) and carries a strict Content-Security-Policy.
"""

from typing import Any

import jinja2
from aiohttp import web

from latchkey.common import errors

STYLESHEET = "/_latchkey/static/portal.css"
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'"
)
SCRIPTED_CSP = PAGE_CSP + "; script-src 'self'; connect-src 'self'"
"""For the one page with a script (the router's own file, nothing inline)."""
NOT_FRAMED = "frame-ancestors 'self'"

environment = jinja2.Environment(
    loader=jinja2.PackageLoader("latchkey.portal", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# What a person reads for each reason: a title and a sentence.
EXPLANATIONS: dict[str, tuple[str, str]] = {
    "token_expired": ("This link has expired", "Ask for a new link, or sign in."),
    "token_revoked": (
        "This access has been revoked",
        "The link or session you used was withdrawn. Sign in again or ask for a new link.",
    ),
    "token_disabled": (
        "This access is disabled",
        "An administrator has paused the link you used. Ask them to enable it again.",
    ),
    "token_invalid": ("This link is not valid", "Check that you copied the whole link."),
    "token_missing": ("Please sign in", "You need to sign in to open this page."),
    "portal_not_allowed": (
        "This link does not open this portal",
        "The access you have does not include this part of the site.",
    ),
    "domain_not_allowed": (
        "This site may not sign you in here",
        "The page that sent you here is not among the sites allowed to use this access.",
    ),
    "link_already_used": (
        "This link has already been used",
        "Links to this portal work only once. Ask for a new one, or sign in.",
    ),
    "bad_link": ("This link is not well formed", "Check that you copied the whole link."),
    "token_state_stale": (
        "Please try again in a moment",
        "We cannot confirm your access right now.",
    ),
    "wrong_origin": (
        "This portal is not served here",
        "Open it at its own address instead.",
    ),
    "upstream_unavailable": (
        "This page is not available right now",
        "The application behind this portal cannot be reached. Try again in a moment.",
    ),
    "frame_not_allowed": ("This portal cannot be shown here", ""),
    "embedding_needs_https": ("This portal cannot be shown here", ""),
    "portal_not_embeddable": ("This portal cannot be shown here", ""),
    "upstream_timeout": (
        "This page took too long",
        "The application behind this portal did not answer in time. Try again in a moment.",
    ),
}


SAID_BY_THE_ERROR = frozenset(
    {"frame_not_allowed", "embedding_needs_https", "portal_not_embeddable"}
)
"""Refusals whose message names the site and the setting: shown as they are."""


def page(
    template: str,
    *,
    title: str,
    status: int = 200,
    frame_ancestors: str = NOT_FRAMED,
    referrer_policy: str = "no-referrer",
    scripted: bool = False,
    **context: Any,
) -> web.Response:
    html = environment.get_template(template).render(title=title, stylesheet=STYLESHEET, **context)
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers.update(
        {
            "Cache-Control": "no-store",
            "Referrer-Policy": referrer_policy,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": f"{SCRIPTED_CSP if scripted else PAGE_CSP}; "
            + frame_ancestors,
        }
    )
    return response


def error_page(
    error: errors.ApiError,
    *,
    login_url: str | None,
    frame_ancestors: str = NOT_FRAMED,
    open_top_level: str | None = None,
) -> web.Response:
    title, advice = EXPLANATIONS.get(error.reason, ("Something went wrong", error.detail))
    if error.reason in SAID_BY_THE_ERROR:
        advice = error.detail
    response = page(
        "error.html",
        title=title,
        status=error.status,
        frame_ancestors=frame_ancestors,
        advice=advice,
        reason=error.reason,
        login_url=login_url if error.status in (401, 403) and not open_top_level else None,
        open_top_level=open_top_level,
    )
    response.headers.extend(error.headers)
    return response


def login_page(
    *, portal: str, action: str, redirect: str, csrf: str, problem: str | None, status: int
) -> web.Response:
    # Same-origin, not no-referrer: the form's POST then names us as its origin. This page
    # never carries a token (a deep link to /auth/login is answered with a 303 first).
    return page(
        "login.html",
        title=f"Sign in to {portal}",
        status=status,
        referrer_policy="same-origin",
        portal=portal,
        action=action,
        redirect=redirect,
        csrf=csrf,
        problem=problem,
    )


def signed_in_page(
    *,
    name: str,
    user_id: str,
    portal: str,
    roles: tuple[str, ...],
    expires: str,
    logout: str,
    frame_ancestors: str,
) -> web.Response:
    return page(
        "signed_in.html",
        title=f"Signed in to {portal}",
        frame_ancestors=frame_ancestors,
        referrer_policy="same-origin",
        name=name,
        user_id=user_id,
        portal=portal,
        roles=roles,
        expires=expires,
        logout=logout,
    )


def signed_out_page(*, login: str) -> web.Response:
    return page("signed_out.html", title="Signed out", login=login)


def logout_confirm_page(*, action: str) -> web.Response:
    return page("logout.html", title="Sign out", referrer_policy="same-origin", action=action)


def framed_sign_in_page(
    *,
    portal: str,
    target: str,
    deep_link: str,
    check: str,
    problem: str | None,
    frame_ancestors: str,
) -> web.Response:
    """Signing in where a frame may be in the way: the session cookie rides on this page, and
    its script goes on to `target` at top level at once, inside a frame once the browser kept
    the cookie; else it says why (`problem`) or offers what else can be done."""
    return page(
        "framed.html",
        title=f"Signing in to {portal}",
        frame_ancestors=frame_ancestors,
        scripted=True,
        portal=portal,
        target=target,
        deep_link=deep_link,
        check=check,
        problem=problem,
    )
