"""Every URL of the token console, each for the admin role and one kind of browser request."""

from aiohttp import web

from latchkey.common.edge import Handler, add_route, unmatched
from latchkey.common.guard import guard
from latchkey.registry.console import handlers
from latchkey.registry.console.metadata import Kind, browser_kind
from latchkey.registry.console.render import error_page

PREFIX = "/console"

PAGES: list[tuple[str, str, Handler, Kind]] = [
    ("GET", "", handlers.token_list, Kind.PAGE),
    ("GET", "/", handlers.token_list, Kind.PAGE),
    ("GET", "/new", handlers.generate_form, Kind.PAGE),
    ("POST", "/new", handlers.generate, Kind.FORM),
    ("GET", "/t/{jti}", handlers.token_details, Kind.PAGE),
    ("POST", "/t/{jti}/revoke", handlers.revoke, Kind.FORM),
    ("POST", "/t/{jti}/state", handlers.set_state, Kind.FORM),
    ("POST", "/t/{jti}/edit", handlers.edit, Kind.FORM),
    ("POST", "/users/{user_id}/revoke", handlers.revoke_user, Kind.FORM),
    ("GET", "/events/{seq}", handlers.receipt, Kind.PAGE),
    ("GET", "/policy", handlers.policy_page, Kind.PAGE),
    ("POST", "/policy", handlers.policy_update, Kind.FORM),
    ("GET", "/audit", handlers.audit_page, Kind.PAGE),
]


def setup_console(app: web.Application) -> None:
    """The console's URLs (kept out of the OpenAPI document: they answer HTML), each for the
    admin role only and for one kind of browser request. The live receipt's JSON keeps the
    envelope; every other error under the prefix is a page."""

    def admins_only(handler: Handler, kind: Kind) -> Handler:
        return browser_kind(guard(handler, security="bearer", role="admin"), kind)

    add_route(
        app,
        "GET",
        PREFIX + "/events/{seq:\\d+}.json",
        admins_only(handlers.receipt_json, Kind.FETCH),
    )
    for method, path, handler, kind in PAGES:
        add_route(app, method, PREFIX + path, admins_only(handler, kind), error_page=error_page)
    add_route(
        app,
        "GET",
        PREFIX + "/static/{name}",
        browser_kind(handlers.static, Kind.ASSET),
        error_page=error_page,
    )
    add_route(app, "*", PREFIX + "/{tail:.*}", unmatched, error_page=error_page)
