"""A small upstream portal of the tests' own: it shows what reached it, streams a large body,
redirects to itself, and echoes on a WebSocket."""

import hashlib
from typing import Any

from aiohttp import WSMsgType, web

BIG_BODY_MEGABYTES = 8
SEEN = web.AppKey("seen", list[dict[str, Any]])
PAGES = web.AppKey("pages", dict[str, str])
"""HTML the upstream serves at /pages/{name}: content of the app's (an attacker's, in tests of
the walls between portals)."""


def upstream_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    seen: list[dict[str, Any]] = []
    app[SEEN] = seen
    app[PAGES] = {}

    async def echo(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await websocket(request)
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_chunked(65536):
            digest.update(chunk)
            size += len(chunk)
        record = {
            "method": request.method,
            "path": request.path,
            "rawPath": request.raw_path,
            "query": request.query_string,
            "headers": {name: value for name, value in request.headers.items()},
            "bodyBytes": size,
            "bodySha256": digest.hexdigest(),
        }
        seen.append(record)
        response = web.json_response(record)
        response.headers["X-Upstream"] = "yes"
        response.headers["Connection"] = "keep-alive, X-Secret-Hop"
        response.headers["X-Secret-Hop"] = "must not pass"
        return response

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/octet-stream"
        await response.prepare(request)
        block = b"x" * (1024 * 1024)
        for _ in range(BIG_BODY_MEGABYTES):
            await response.write(block)
        await response.write_eof()
        return response

    async def broken(request: web.Request) -> web.StreamResponse:
        """Promises more than it sends, then hangs up: an upstream failing mid-answer."""
        response = web.StreamResponse(headers={"Content-Length": "100000"})
        await response.prepare(request)
        await response.write(b"partial")
        await response.write(b"")  # flush
        assert request.transport is not None
        request.transport.close()
        return response

    async def redirect(request: web.Request) -> web.Response:
        own = f"{request.scheme}://{request.host}"
        raise web.HTTPFound(own + "/landing")

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("user:" + request.headers.get("X-Latchkey-User", ""))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str("echo:" + message.data)
        return ws

    async def served_page(request: web.Request) -> web.Response:
        html = request.app[PAGES].get(request.match_info["name"])
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html, content_type="text/html")

    app.router.add_get("/pages/{name}", served_page)
    app.router.add_get("/big", big)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/broken", broken)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app
