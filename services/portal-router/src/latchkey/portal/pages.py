"""The router's own HTML pages: sign-in, errors a person understands, who is signed in.

Everything shown is escaped; every page says `Cache-Control: no-store` and
`Referrer-Policy: no-referrer` and carries a strict Content-Security-Policy.
"""

from html import escape

from aiohttp import web

from latchkey.common import errors

STYLESHEET = "/_latchkey/static/portal.css"
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'"
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
}


def page(
    title: str,
    body: str,
    *,
    status: int = 200,
    frame_ancestors: str = "frame-ancestors 'self'",
    referrer_policy: str = "no-referrer",
) -> web.Response:
    """A complete page around `body` (already escaped HTML)."""
    html = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="{STYLESHEET}">'
        f'</head><body><main><div class="card">{body}</div></main></body></html>'
    )
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers.update(
        {
            "Cache-Control": "no-store",
            "Referrer-Policy": referrer_policy,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": f"{PAGE_CSP}; {frame_ancestors}",
        }
    )
    return response


def error_page(
    error: errors.ApiError, *, login_url: str | None, frame_ancestors: str
) -> web.Response:
    title, advice = EXPLANATIONS.get(error.reason, ("Something went wrong", error.detail))
    action = (
        f'<a class="button" href="{escape(login_url)}">Sign in</a>'
        if login_url and error.status in (401, 403)
        else ""
    )
    body = (
        f'<div class="error"><h1>{escape(title)}</h1><p>{escape(advice)}</p></div>'
        f'<p class="muted">Reason: {escape(error.reason)}</p>{action}'
    )
    response = page(title, body, status=error.status, frame_ancestors=frame_ancestors)
    response.headers.extend(error.headers)
    return response


def login_page(
    *, portal: str, action: str, redirect: str, csrf: str, problem: str | None = None
) -> web.Response:
    notice = f'<p class="error" role="alert">{escape(problem)}</p>' if problem else ""
    body = (
        f"<h1>Sign in to {escape(portal)}</h1>{notice}"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="redirect" value="{escape(redirect)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<label for="username">Username</label>'
        '<input id="username" name="username" type="text" autocomplete="username" required>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>'
    )
    # Same-origin, not no-referrer: the form's POST then names us as its origin. This page
    # never carries a token (a deep link to /auth/login is answered with a 303 first).
    return page(f"Sign in to {portal}", body, status=401, referrer_policy="same-origin")


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
    body = (
        f"<h1>Signed in to {escape(portal)}</h1>"
        "<dl>"
        f"<dt>User</dt><dd>{escape(name)}</dd>"
        f"<dt>User id</dt><dd>{escape(user_id)}</dd>"
        f"<dt>Roles</dt><dd>{escape(', '.join(roles))}</dd>"
        f"<dt>Until</dt><dd>{escape(expires)}</dd>"
        "</dl>"
        f'<p class="muted">No application is configured for this portal yet.</p>'
        f"{_sign_out_form(logout)}"
    )
    return page(
        f"Signed in to {portal}",
        body,
        frame_ancestors=frame_ancestors,
        referrer_policy="same-origin",
    )


def signed_out_page(*, login: str) -> web.Response:
    body = (
        "<h1>You are signed out</h1><p>Your session has ended and its access was revoked.</p>"
        f'<a class="button" href="{escape(login)}">Sign in again</a>'
    )
    return page("Signed out", body)


def logout_confirm_page(*, action: str) -> web.Response:
    body = (
        "<h1>Sign out?</h1><p>This ends your session and revokes its access.</p>"
        f"{_sign_out_form(action)}"
    )
    return page("Sign out", body, referrer_policy="same-origin")


def _sign_out_form(action: str) -> str:
    return (
        f'<form method="post" action="{escape(action)}">'
        '<button type="submit">Sign out</button></form>'
    )
