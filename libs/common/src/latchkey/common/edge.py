"""What every request passes through: its errors rendered as the envelope and its time counted.

Done by wrapping each handler when its route is added, not by aiohttp middlewares: on
forward-auth, which answers every request of a site, aiohttp's middleware chain (a cached
chain looked up by hashing the apps, a partial and a coroutine per middleware, and its own
current-app middleware) cost about a quarter of the answer; the wrapper costs a few
microseconds (bench/results/README.md). So every route is added with `add_route`, and
requests no route matches get the same envelope from a last, catch-all route.
"""

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from latchkey.common import errors
from latchkey.common.metrics import METRICS, RequestStats
from latchkey.common.outages import Outages
from latchkey.common.web import as_api_error, error_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Wrapper = Callable[[Handler], Handler]
"""A service's own step around every handler, inside the edge (its errors get the envelope)."""
ErrorPage = Callable[[web.Request, errors.ApiError], web.StreamResponse | None]
"""A route's own rendering of an error (a page for people), or None for the envelope."""

UNMATCHED = "unmatched"
"""The route label of requests that no route matches."""


@dataclass(frozen=True)
class Edge:
    stats: RequestStats
    outages: Outages
    wrappers: Sequence[Wrapper] = ()


EDGE = web.AppKey("edge", Edge)
OUTAGES = web.AppKey("outages", Outages)


def setup_edge(app: web.Application, wrappers: Sequence[Wrapper] = ()) -> None:
    app[OUTAGES] = Outages()
    app[METRICS].registry.register(app[OUTAGES])
    app[EDGE] = Edge(app[METRICS].requests, app[OUTAGES], tuple(wrappers))
    app.on_startup.append(_add_fallback)


def add_route(
    app: web.Application,
    method: str,
    path: str,
    handler: Handler,
    *,
    error_page: ErrorPage | None = None,
) -> None:
    """Add a route behind the edge (GET routes answer HEAD too, as aiohttp's `add_get`)."""
    resource = app.router.add_resource(path)
    wrapped = _behind_edge(handler, app[EDGE], route=resource.canonical, error_page=error_page)
    if method == "GET":
        resource.add_route("HEAD", wrapped)
    resource.add_route(method, wrapped)


def _behind_edge(
    handler: Handler, edge: Edge, *, route: str, error_page: ErrorPage | None = None
) -> Handler:
    for wrapper in reversed(edge.wrappers):
        handler = wrapper(handler)
    observe = edge.stats.observe

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except Exception as exc:
            if isinstance(exc, web.HTTPException) and exc.status < 400:
                observe(route, request.method, exc.status, time.perf_counter() - started)
                raise
            response = _error_response(request, exc, edge.outages, error_page)
        observe(route, request.method, response.status, time.perf_counter() - started)
        return response

    return answer


def _error_response(
    request: web.Request, exc: Exception, outages: Outages, error_page: ErrorPage | None
) -> web.StreamResponse:
    """The envelope (or the route's page) for a known error; a plain 500 for the unexpected,
    logged with its trace (the log formatter masks tokens) but never sent. A dependency that
    cannot be reached is a 503 with its reason, logged once per outage rather than per request."""
    error = as_api_error(exc)
    if error is None:
        log.exception("unhandled error on %s %s", request.method, request.path)
        error = errors.InternalError()
    elif error.dependency is not None:
        outages.of(error.dependency).failed(exc)
    if error_page is not None:
        page = error_page(request, error)
        if page is not None:
            return page
    return error_response(error)


async def _add_fallback(app: web.Application) -> None:
    """Added at start, after every service's routes, so it only gets what they do not take."""
    fallback = app.router.add_resource("/{tail:.*}")
    fallback.add_route("*", _behind_edge(unmatched, app[EDGE], route=UNMATCHED))


async def unmatched(request: web.Request) -> web.StreamResponse:
    """For a catch-all route: 404, or 405 with `Allow` when another route has the path but
    not the method (aiohttp stops at the catch-all before saying so, so the routes are asked
    again, on errors only)."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is request.match_info.route.resource:
            continue
        _, methods = await resource.resolve(request)
        allowed |= methods - {"*"}  # another catch-all (the last fallback) allows nothing
    if allowed:
        raise errors.MethodNotAllowed(headers={"Allow": ",".join(sorted(allowed))})
    raise errors.NotFound()
