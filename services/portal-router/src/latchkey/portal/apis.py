"""API routes: programs (and browser apps on other sites) calling an upstream's API through
the router with a bearer token. Never a session cookie, never a redirect: refusals are the
envelope (401 with its `WWW-Authenticate` challenge, 403), with the reasons portals use.

CORS (Fetch standard): a preflight is answered by the router for any site, for it carries no
token and says nothing; the request itself is admitted, and a site other than the router's
own must be one the token's allowed domains (or the global policy) name, or it is refused.
Only then does the answer carry `Access-Control-Allow-Origin`. Credentials (cookies) are
never allowed across sites: the token travels in the Authorization header.
"""

from aiohttp import web

from latchkey.common import errors
from latchkey.common.domains import origin_host_port
from latchkey.common.web import error_response
from latchkey.portal.admission import allows_site
from latchkey.portal.origins import own_host_port

ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, Accept"
PREFLIGHT_MAX_AGE = "600"


def cross_site_origin(request: web.BaseRequest) -> str | None:
    """The Origin of a request from another site than the router's own, if it is one."""
    origin = request.headers.get("Origin")
    if origin is None or origin_host_port(origin) == own_host_port(request):
        return None
    return origin


def preflight(request: web.BaseRequest) -> web.Response | None:
    """The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`)."""
    origin = request.headers.get("Origin")
    if request.method != "OPTIONS" or origin is None:
        return None
    if "Access-Control-Request-Method" not in request.headers:
        return None
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            "Vary": "Origin",
        },
    )


def refusal(error: errors.ApiError, origin: str | None) -> web.Response:
    """The envelope, readable by the calling site's script (it says nothing a token could
    not: the app learns why its call failed, as RFC 6750 means it to)."""
    response = error_response(error)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
        response.headers["Vary"] = "Origin"
    return response


def cors_headers(origin: str | None, domains: tuple[str, ...]) -> dict[str, str]:
    """The headers that let a site the domains allow read the answer; 403 for any other."""
    if origin is None:
        return {}
    if not domains or not allows_site(domains, origin):
        raise errors.DomainNotAllowed("This site may not call this API with this access token.")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
