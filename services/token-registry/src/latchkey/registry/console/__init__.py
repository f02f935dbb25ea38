"""The token console: plain HTML pages for admins, reached through the router's admin portal."""

from aiohttp import web

from latchkey.common.edge import Handler, add_route, unmatched
from latchkey.registry.console import handlers
from latchkey.registry.console.render import error_page

PREFIX = "/console"

PAGES: list[tuple[str, str, Handler]] = [
    ("GET", "", handlers.token_list),
    ("GET", "/", handlers.token_list),
    ("GET", "/new", handlers.generate_form),
    ("POST", "/new", handlers.generate),
    ("GET", "/t/{jti}", handlers.token_details),
    ("POST", "/t/{jti}/revoke", handlers.revoke),
    ("POST", "/t/{jti}/state", handlers.set_state),
    ("POST", "/t/{jti}/edit", handlers.edit),
    ("POST", "/users/{user_id}/revoke", handlers.revoke_user),
    ("GET", "/events/{seq}", handlers.receipt),
    ("GET", "/policy", handlers.policy_page),
    ("POST", "/policy", handlers.policy_update),
    ("GET", "/audit", handlers.audit_page),
    ("GET", "/static/{name}", handlers.static),
]


def setup_console(app: web.Application) -> None:
    """The console's URLs (kept out of the OpenAPI document: they answer HTML). The live
    receipt's JSON keeps the envelope; every other error under the prefix is a page."""
    add_route(app, "GET", PREFIX + "/events/{seq:\\d+}.json", handlers.receipt_json)
    for method, path, handler in PAGES:
        add_route(app, method, PREFIX + path, handler, error_page=error_page)
    add_route(app, "*", PREFIX + "/{tail:.*}", unmatched, error_page=error_page)
