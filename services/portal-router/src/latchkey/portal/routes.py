"""Every URL of the router: the portals (one route pair each), sign-in, forward-auth."""

import functools

from aiohttp import web

from latchkey.common.edge import add_route
from latchkey.common.openapi import Endpoint, add_endpoints
from latchkey.portal import handlers
from latchkey.portal.responses import error_page
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
                errors=(400, 401, 403),
                tags=("forward-auth",),
                extra_responses={200: "Signed in: the identity headers, and no body"},
            ),
            Endpoint(
                "GET",
                "/_latchkey/static/{name}",
                handlers.static,
                "The router's own pages' stylesheet and script",
                in_schema=False,
            ),
        ],
    )
    # API routes, each under its own literal prefix, answering envelopes only.
    for route in settings.api_routes():
        for path in (route.prefix, route.prefix + "/{tail:.*}"):
            add_route(app, "*", path, functools.partial(handlers.api, route=route))
    # Each portal's routes under its own literal prefix: aiohttp indexes them by it, so a
    # request finds its route in a look-up or two rather than by trying every pattern.
    for portal in sorted(settings.portals):
        pages = functools.partial(error_page, portal=portal)
        for method, path, handler in [
            ("GET", "/auth/login", handlers.login_form),
            ("POST", "/auth/login", handlers.login),
            ("GET", "/auth/logout", handlers.logout_form),
            ("GET", "/auth/cookies", handlers.cookies_kept),
            ("POST", "/auth/logout", handlers.logout),
            ("*", "", handlers.portal_page),
            ("*", "/{tail:.*}", handlers.portal_page),
        ]:
            add_route(
                app,
                method,
                f"/{portal}{path}",
                functools.partial(handler, portal=portal),
                error_page=pages,
            )
