"""The baselines as processes: `python -m bench.servers KIND --port N [options]`.

Each is the least a bare aiohttp application (uvloop, no access log, no middleware) needs
to give the same answer as the Latchkey endpoint it stands beside:

- verify:   forward-auth's 200 with the same identity headers, no checks at all;
- upstream: the portal behind the router (a small text page);
- proxy:    a minimal reverse proxy to the upstream, with the router's client settings;
- deeplink: a deep link done by hand: verify the JWT (PyJWT, no cache), seal a Fernet
            session cookie, answer 303 without the token;
- pg, introspect: the designs users pick instead (bench/designs.py).
"""

import argparse
import asyncio
import json
import os
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

import aiohttp
import jwt
import uvloop
from aiohttp import web
from cryptography.fernet import Fernet
from multidict import CIMultiDict
from yarl import URL

from bench import designs
from latchkey.portal.proxy import HOP_BY_HOP, NOT_INVENTED  # as the router
from latchkey.portal.settings import RouterSettings

UPSTREAM_BODY = ("<p>hello from the upstream portal</p>\n" * 3).encode()


def identity_headers(args: argparse.Namespace) -> dict[str, str]:
    return {
        "X-Latchkey-User": args.user_id,
        "X-Latchkey-User-Name": args.user_name,
        "X-Latchkey-Roles": "agent",
        "X-Latchkey-Portal": "agent",
        "Cache-Control": "no-store",
    }


def verify_app(args: argparse.Namespace) -> web.Application:
    headers = identity_headers(args)

    async def verify(request: web.Request) -> web.Response:
        return web.Response(headers=headers)

    app = web.Application()
    app.router.add_get("/_latchkey/verify", verify)
    return app


def upstream_app(args: argparse.Namespace) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        return web.Response(body=UPSTREAM_BODY, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    return app


def proxy_app(args: argparse.Namespace) -> web.Application:
    prefix, upstream = args.prefix.rstrip("/"), args.upstream.rstrip("/")
    session: aiohttp.ClientSession | None = None

    async def client(app: web.Application):  # type: ignore[no-untyped-def]
        nonlocal session
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=RouterSettings().upstream_timeouts(),
        ) as session:
            yield

    async def proxy(request: web.Request) -> web.StreamResponse:
        assert session is not None
        headers: CIMultiDict[str] = CIMultiDict(
            (name, value)
            for name, value in request.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() != "host"
        )
        target = URL(upstream + request.raw_path[len(prefix) :], encoded=True)
        body = request.content if request.body_exists else None
        async with session.request(
            request.method,
            target,
            headers=headers,
            data=body,
            allow_redirects=False,
            skip_auto_headers=NOT_INVENTED,
        ) as answer:
            response = web.StreamResponse(status=answer.status, reason=answer.reason)
            for name, value in answer.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    response.headers.add(name, value)
            if answer.content_length is not None:
                response.content_length = answer.content_length
            await response.prepare(request)
            async for chunk in answer.content.iter_chunked(64 * 1024):
                await response.write(chunk)
            await response.write_eof()
            return response

    app = web.Application()
    app.cleanup_ctx.append(client)
    app.router.add_route("*", prefix + "/{tail:.*}", proxy)
    return app


def deeplink_app(args: argparse.Namespace) -> web.Application:
    fernet = Fernet(os.environ["BENCH_SESSION_KEY"].encode())
    keys: dict[str, jwt.PyJWK] = {}

    async def load_keys(app: web.Application):  # type: ignore[no-untyped-def]
        keys.update(await designs.fetch_keys(args.jwks))
        yield

    async def deep_link(request: web.Request) -> web.Response:
        token = request.query["accessToken"]
        claims = designs.decode(token, keys)
        if "agent" not in claims.get("portals", ()):
            raise web.HTTPForbidden()
        now = time.time()
        expires = min(float(claims["exp"]), now + 43200)
        payload = {
            "v": 1,
            "sid": secrets.token_urlsafe(16),
            "tok": token,
            "portal": "agent",
            "iat": now,
            "exp": expires,
        }
        cookie = fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode()
        query = urlencode(
            [(k, v) for k, v in parse_qsl(request.query_string) if k != "accessToken"]
        )
        set_cookie = (
            f"latchkey_session={cookie}; Path=/agent; Max-Age={int(expires - now)}; HttpOnly; "
            "Secure; SameSite=None; Partitioned"
        )
        headers = {
            "Location": request.path + ("?" + query if query else ""),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "Set-Cookie": set_cookie,
            "Content-Security-Policy": "frame-ancestors 'self'",
        }
        return web.Response(status=303, headers=headers)

    app = web.Application()
    app.cleanup_ctx.append(load_keys)
    app.router.add_get("/agent/{tail:.*}", deep_link)
    return app


APPS: dict[str, Callable[[argparse.Namespace], web.Application]] = {
    "verify": verify_app,
    "upstream": upstream_app,
    "proxy": proxy_app,
    "deeplink": deeplink_app,
    "pg": designs.pg_app,
    "introspect": designs.introspect_app,
}


async def serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", default="")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--jwks", default="")
    parser.add_argument("--registry", default="")
    parser.add_argument("--pool", type=int, default=32)
    parser.add_argument("--user-id", default="")
    parser.add_argument("--user-name", default="")
    args = parser.parse_args()
    app = APPS[args.kind](args)
    runner: Callable[[], Awaitable[None]] = lambda: serve(app, args.port)  # noqa: E731
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:
        loop.run(runner())


if __name__ == "__main__":
    main()
