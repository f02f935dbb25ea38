"""`make run`: every Latchkey service on this machine, against local PostgreSQL and RabbitMQ.

Creates the database named in LATCHKEY_DATABASE_URL when it does not exist, makes up the
credentials that are not configured (kept in .env.run so the next run signs in the same way),
prints how to sign in, then hands over to honcho, which runs the Procfile with each log line
prefixed by its service.
"""

import asyncio
import os
import secrets
import shutil
import sys
from pathlib import Path

import asyncpg
from cryptography.fernet import Fernet
from dotenv import dotenv_values
from yarl import URL

from latchkey.auth.settings import AuthSettings
from latchkey.portal.settings import RouterSettings
from latchkey.registry.settings import RegistrySettings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/latchkey"
REMEMBERED = ".env.run"
"""Credentials made up by an earlier `make run` (git ignores it; only its owner may read it)."""


def read_dotenv(path: Path) -> dict[str, str]:
    """`.env`, parsed as honcho and docker compose parse it (the environment still wins)."""
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


async def ensure_database(url: str) -> bool:
    """Create the database when missing; True when this call created it."""
    target = URL(url)
    name = target.path.lstrip("/")
    conn = await asyncpg.connect(str(target.with_path("/postgres")), timeout=10)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
        return True
    finally:
        await conn.close()


SERVICE_CREDENTIALS = (
    "LATCHKEY_AUTH_CREDENTIAL",
    "LATCHKEY_REGISTRY_CREDENTIAL",
    "LATCHKEY_ROUTER_CREDENTIAL",
)
FERNET_KEYS = ("LATCHKEY_SESSION_KEYS", "LATCHKEY_KEY_ENCRYPTION_KEY")
RETIRED = ("LATCHKEY_INTERNAL_TOKEN",)
"""Settings earlier versions made up, no longer read by anything."""


def made_up_credentials(env: dict[str, str]) -> dict[str, str]:
    """Credentials nobody configured, invented for this run only."""
    made_up: dict[str, str] = {}
    for name in SERVICE_CREDENTIALS:
        if not env.get(name):
            made_up[name] = secrets.token_urlsafe(32)
    for name in FERNET_KEYS:
        if not env.get(name):
            made_up[name] = Fernet.generate_key().decode()
    if not env.get("LATCHKEY_ADMIN_USERNAME"):
        made_up["LATCHKEY_ADMIN_USERNAME"] = "admin"
    if not env.get("LATCHKEY_ADMIN_PASSWORD"):
        made_up["LATCHKEY_ADMIN_PASSWORD"] = secrets.token_urlsafe(12)
    return made_up


def places(env: dict[str, str]) -> dict[str, str]:
    """Where each service and portal answers with the settings in force (the same settings
    classes the services read, so the banner cannot tell another story than they do)."""
    os.environ.update(env)
    auth, registry, router = AuthSettings(), RegistrySettings(), RouterSettings()
    host = "127.0.0.1" if router.host in ("0.0.0.0", "::", "") else router.host
    scheme = "https" if router.tls_cert_file else "http"
    found = {
        "auth": f"http://{host}:{auth.auth_port}",
        "registry": f"http://{host}:{registry.registry_port}",
        "router": f"{scheme}://{host}:{router.router_port}",
    }
    for portal in sorted(router.portals):
        found[portal] = router.origin_of(portal, scheme=scheme, host=host) + f"/{portal}/"
    return found


def banner(env: dict[str, str], created: bool, made_up: dict[str, str]) -> str:
    database = URL(env["LATCHKEY_DATABASE_URL"]).with_password(None)
    username = env["LATCHKEY_ADMIN_USERNAME"]
    password = made_up.get("LATCHKEY_ADMIN_PASSWORD", "(your LATCHKEY_ADMIN_PASSWORD)")
    where = places(env)
    login = (
        f"curl -s {where['auth']}/auth/v1/login -H 'Content-Type: application/json' "
        f"""-d '{{"username":"{username}","password":"{password}","""
        """"channel":"FLUTTER","platform":"BYTEDESK"}'"""
    )
    portals = [name for name in where if name not in ("auth", "registry", "router")]
    console = where.get("admin", where["router"] + "/admin/").rstrip("/") + "/tokens"
    lines = [
        "",
        "Latchkey is starting on this machine.",
        f"  database   {database}{' (created now)' if created else ''}",
        f"  auth       {where['auth']}   (login, logout, users, keys)",
        f"  registry   {where['registry']}   (token records, revocation, domain policy)",
        f"  router     {where['router']}   (health, forward-auth)",
        *(f"  {name:<10} {where[name]}   (the {name} portal)" for name in portals),
        "",
        f"Sign in as {username} / {password}"
        + (
            " (made up for this run; the first admin is created only in an empty database)"
            if "LATCHKEY_ADMIN_PASSWORD" in made_up
            else ""
        ),
        f"  {login}",
        f"  or in a browser, the token console: {console}",
        f"Open any portal page with a token: {where.get('agent', where['router'])}chat"
        "?accessToken=...",
        "The README's quick start shows what to do with the token. Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


def remember(made_up: dict[str, str]) -> None:
    """Keep made-up credentials for the next run: the admin exists in the database by then."""
    path = ROOT / REMEMBERED
    known = {key: value for key, value in read_dotenv(path).items() if key not in RETIRED}
    known.update(made_up)
    path.write_text("".join(f"{key}={value}\n" for key, value in sorted(known.items())))
    path.chmod(0o600)


def main() -> None:
    remembered = {
        key: value for key, value in read_dotenv(ROOT / REMEMBERED).items() if key not in RETIRED
    }
    env = {**remembered, **read_dotenv(ROOT / ".env"), **os.environ}
    env.setdefault("LATCHKEY_DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("LATCHKEY_LOG_FORMAT", "text")
    # One process of each service on a laptop, whatever a shared .env asks for production.
    env["LATCHKEY_WORKERS"] = os.environ.get("LATCHKEY_WORKERS", "1")
    made_up = made_up_credentials(env)
    env.update(made_up)
    remember(made_up)
    made_up.update({key: env[key] for key in remembered if env.get(key) == remembered[key]})
    try:
        created = asyncio.run(ensure_database(env["LATCHKEY_DATABASE_URL"]))
    except (OSError, asyncpg.PostgresError) as exc:
        sys.exit(f"PostgreSQL is not reachable for LATCHKEY_DATABASE_URL: {exc}")
    print(banner(env, created, made_up), flush=True)
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    honcho = shutil.which("honcho", path=env["PATH"]) or sys.exit("honcho is not installed")
    os.chdir(ROOT)
    os.execve(honcho, [honcho, "start", "-f", "Procfile"], env)


if __name__ == "__main__":
    main()
