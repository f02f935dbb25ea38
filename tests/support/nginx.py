"""Debian's nginx as a subprocess of a test, with a configuration of its own in a temporary
directory, guarding a location with `auth_request` against the router's forward-auth."""

import asyncio
import contextlib
import grp
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port

NGINX = "/usr/sbin/nginx"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str | None:
    """nginx with the auth_request module, or None when this machine has none."""
    binary = NGINX if os.access(NGINX, os.X_OK) else shutil.which("nginx")
    if binary is None:
        return None
    return binary if "http_auth_request_module" in _built_with(binary) else None


def _built_with(binary: str) -> str:
    return subprocess.run([binary, "-V"], capture_output=True, text=True, check=False).stderr


PORTALS = ("agent", "admin")


def protected_location(portal: str, upstream: str) -> str:
    """A location of `portal` guarded as the README shows: identity headers from the answer,
    the bearer token and the session cookie kept from the app."""
    return f"""
    location /{portal}/ {{
      auth_request /_latchkey/{portal};
      auth_request_set $latchkey_user $upstream_http_x_latchkey_user;
      auth_request_set $latchkey_user_name $upstream_http_x_latchkey_user_name;
      auth_request_set $latchkey_roles $upstream_http_x_latchkey_roles;
      auth_request_set $latchkey_portal $upstream_http_x_latchkey_portal;
      proxy_set_header X-Latchkey-User $latchkey_user;
      proxy_set_header X-Latchkey-User-Name $latchkey_user_name;
      proxy_set_header X-Latchkey-Roles $latchkey_roles;
      proxy_set_header X-Latchkey-Portal $latchkey_portal;
      proxy_set_header Authorization "";
      proxy_set_header Cookie $cookie_without_latchkey;
      proxy_pass {upstream};
    }}
    location = /_latchkey/{portal} {{
      internal;
      proxy_pass http://latchkey/_latchkey/verify;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Latchkey-Portal {portal};
    }}"""


README_BLOCKS = """
  upstream latchkey {{
    server {router};
    keepalive 32;
  }}
  map $http_cookie $cookie_without_latchkey {{
    "~^(?<before>(?:.*;\\s*)?)latchkey_session=[^;]*(?:;\\s*)?(?<after>.*)$" "$before$after";
    default $http_cookie;
  }}"""


def forward_auth(*, port: int, upstream: str, router: str) -> str:
    """The README's forward-auth set-up (tests/unit/test_readme.py keeps the two alike):
    `upstream`'s pages under /agent/ and /admin/, each guarded by the router."""
    locations = "".join(protected_location(portal, upstream) for portal in PORTALS)
    return f"""
{README_BLOCKS.format(router=router.removeprefix("http://"))}
  server {{
    listen 127.0.0.1:{port};
{locations}
  }}"""


def tls_front(*, port: int, router: str, certificate: Path, key: Path, partner: Path) -> str:
    """TLS terminated in front of the router for portal.test (the router trusts 127.0.0.1 to
    say so), and a partner site at crm.test serving `partner`/page.html."""
    tls = f"ssl_certificate {certificate}; ssl_certificate_key {key};"
    return f"""
  map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}
  server {{
    listen 127.0.0.1:{port} ssl;
    server_name portal.test admin.test;
    {tls}
    location / {{
      proxy_pass {router};
      proxy_http_version 1.1;
      proxy_set_header Host $host:$server_port;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host $host:$server_port;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
    }}
  }}
  server {{
    listen 127.0.0.1:{port} ssl;
    server_name crm.test;
    {tls}
    root {partner};
    location = / {{ default_type text/html; try_files /page.html =404; }}
  }}"""


def configuration(
    prefix: Path,
    *,
    servers: str,
    built: str,
    worker_connections: int = 64,
    access_log: bool = True,
) -> str:
    """Everything nginx writes stays under `prefix`; workers run as the current user. The
    bench (bench/scenarios/nginx_front.py) asks for more connections and no access log."""
    temp = "\n".join(
        f"  {name}_temp_path {prefix / name};"
        for name in TEMP_PATHS
        if f"--without-http_{name}_module" not in built
    )
    user = ""
    if os.geteuid() == 0:
        # A root master would hand its workers to `nobody`; keep them as the current user.
        user = f"user {pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};"
    return f"""
{user}
worker_processes 1;
error_log {prefix / "error.log"} info;
pid {prefix / "nginx.pid"};
events {{ worker_connections {worker_connections}; }}
http {{
  access_log {prefix / "access.log" if access_log else "off"};
{temp}
{servers}
}}
"""


@dataclass
class Nginx:
    url: str
    prefix: Path
    pid: int
    """The master's (its one worker is its child)."""

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


async def _listening(port: int) -> bool:
    with contextlib.suppress(OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
        return True
    return False


@asynccontextmanager
async def nginx(
    binary: str,
    prefix: Path,
    *,
    upstream: str | None = None,
    router: str,
    servers: Callable[[int], str] | None = None,
    timeout: float = 10.0,
    command_prefix: tuple[str, ...] = (),
    worker_connections: int = 64,
    access_log: bool = True,
) -> AsyncIterator[Nginx]:
    """nginx in the foreground (`daemon off;`), stopped (fast shutdown) on the way out:
    the README's forward-auth in front of `upstream`, or the `servers` made for its port.
    `command_prefix` goes before the binary (the bench's `taskset -c 0`)."""
    port = free_port()
    for name in TEMP_PATHS:
        (prefix / name).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    built = _built_with(binary)
    if servers is None:
        assert upstream is not None
        text = forward_auth(port=port, upstream=upstream, router=router)
    else:
        text = servers(port)
    conf.write_text(
        configuration(
            prefix,
            servers=text,
            built=built,
            worker_connections=worker_connections,
            access_log=access_log,
        )
    )
    log = (prefix / "stderr.log").open("wb")
    try:
        process = await asyncio.create_subprocess_exec(
            *command_prefix,
            binary,
            *("-e", str(prefix / "error.log"), "-c", str(conf), "-p", str(prefix)),
            *("-g", "daemon off;"),
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()
    server = Nginx(f"http://127.0.0.1:{port}", prefix, process.pid)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await _listening(port):
            if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                stderr = (prefix / "stderr.log").read_text(errors="replace")
                raise AssertionError(f"nginx did not start: {stderr}{server.error_log()[-3000:]}")
            await asyncio.sleep(0.02)
        yield server
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
