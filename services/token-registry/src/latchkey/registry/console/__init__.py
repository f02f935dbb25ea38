"""The token console: plain HTML pages for admins, reached through the router's admin portal."""

from aiohttp import web

from latchkey.registry.console import handlers

PREFIX = "/console"


def setup_console(app: web.Application) -> None:
    """The console's URLs (kept out of the OpenAPI document: they answer HTML)."""
    router = app.router
    router.add_get(PREFIX, handlers.token_list)
    router.add_get(PREFIX + "/", handlers.token_list)
    router.add_get(PREFIX + "/new", handlers.generate_form)
    router.add_post(PREFIX + "/new", handlers.generate)
    router.add_get(PREFIX + "/t/{jti}", handlers.token_details)
    router.add_post(PREFIX + "/t/{jti}/revoke", handlers.revoke)
    router.add_post(PREFIX + "/t/{jti}/state", handlers.set_state)
    router.add_post(PREFIX + "/t/{jti}/edit", handlers.edit)
    router.add_post(PREFIX + "/users/{user_id}/revoke", handlers.revoke_user)
    router.add_get(PREFIX + "/events/{seq:\\d+}.json", handlers.receipt_json)
    router.add_get(PREFIX + "/events/{seq}", handlers.receipt)
    router.add_get(PREFIX + "/policy", handlers.policy_page)
    router.add_post(PREFIX + "/policy", handlers.policy_update)
    router.add_get(PREFIX + "/audit", handlers.audit_page)
    router.add_get(PREFIX + "/static/{name}", handlers.static)
