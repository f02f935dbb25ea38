"""Every URL of the router: the portals (one route pair each), sign-in, forward-auth."""

from aiohttp import web

from latchkey.common.openapi import Endpoint, add_endpoints
from latchkey.portal import handlers
from latchkey.portal.responses import with_error_pages
from latchkey.portal.settings import RouterSettings


def setup_routes(app: web.Application, settings: RouterSettings) -> None:
    add_endpoints(
        app,
        [
            Endpoint(
                "GET",
                "/_latchkey/verify",
                handlers.verify,
                "Forward-auth (nginx auth_request, Traefik ForwardAuth): 200 with identity "
                "headers, 401 or 403 otherwise",
                errors=(401, 403),
                tags=("forward-auth",),
            ),
            Endpoint(
                "GET",
                "/_latchkey/static/portal.css",
                handlers.stylesheet,
                "The router's own pages' stylesheet",
                in_schema=False,
            ),
        ],
    )
    pattern = "{portal:" + "|".join(sorted(settings.portals)) + "}"
    pages = with_error_pages
    app.router.add_get(f"/{pattern}/auth/login", pages(handlers.login_form))
    app.router.add_post(f"/{pattern}/auth/login", pages(handlers.login))
    app.router.add_get(f"/{pattern}/auth/logout", pages(handlers.logout_form))
    app.router.add_post(f"/{pattern}/auth/logout", pages(handlers.logout))
    app.router.add_route("*", f"/{pattern}", pages(handlers.portal_page))
    app.router.add_route("*", f"/{pattern}/{{tail:.*}}", pages(handlers.portal_page))
