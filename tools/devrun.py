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


def made_up_credentials(env: dict[str, str]) -> dict[str, str]:
    """Credentials nobody configured, invented for this run only."""
    made_up: dict[str, str] = {}
    if not env.get("LATCHKEY_INTERNAL_TOKEN"):
        made_up["LATCHKEY_INTERNAL_TOKEN"] = secrets.token_urlsafe(32)
    if not env.get("LATCHKEY_ADMIN_USERNAME"):
        made_up["LATCHKEY_ADMIN_USERNAME"] = "admin"
    if not env.get("LATCHKEY_ADMIN_PASSWORD"):
        made_up["LATCHKEY_ADMIN_PASSWORD"] = secrets.token_urlsafe(12)
    if not env.get("LATCHKEY_SESSION_KEYS"):
        made_up["LATCHKEY_SESSION_KEYS"] = Fernet.generate_key().decode()
    return made_up


def banner(env: dict[str, str], created: bool, made_up: dict[str, str]) -> str:
    database = URL(env["LATCHKEY_DATABASE_URL"]).with_password(None)
    username = env["LATCHKEY_ADMIN_USERNAME"]
    password = made_up.get("LATCHKEY_ADMIN_PASSWORD", "(your LATCHKEY_ADMIN_PASSWORD)")
    login = (
        "curl -s http://127.0.0.1:9003/auth/v1/login -H 'Content-Type: application/json' "
        f"""-d '{{"username":"{username}","password":"{password}","""
        """"channel":"FLUTTER","platform":"BYTEDESK"}'"""
    )
    lines = [
        "",
        "Latchkey is starting on this machine.",
        f"  database   {database}{' (created now)' if created else ''}",
        "  auth       http://127.0.0.1:9003   (login, logout, users, keys)",
        "  registry   http://127.0.0.1:9006   (token records, revocation, domain policy)",
        "  router     http://127.0.0.1:9005   (portals: /agent/..., /admin/...)",
        "",
        f"Sign in as {username} / {password}"
        + (
            " (made up for this run; the first admin is created only in an empty database)"
            if "LATCHKEY_ADMIN_PASSWORD" in made_up
            else ""
        ),
        f"  {login}",
        "  or in a browser, the token console: http://127.0.0.1:9005/admin/tokens",
        "Open any portal page with a token: http://127.0.0.1:9005/agent/chat?accessToken=...",
        "The README's quick start shows what to do with the token. Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


def remember(made_up: dict[str, str]) -> None:
    """Keep made-up credentials for the next run: the admin exists in the database by then."""
    path = ROOT / REMEMBERED
    known = read_dotenv(path)
    known.update(made_up)
    path.write_text("".join(f"{key}={value}\n" for key, value in sorted(known.items())))
    path.chmod(0o600)


def main() -> None:
    remembered = read_dotenv(ROOT / REMEMBERED)
    env = {**remembered, **read_dotenv(ROOT / ".env"), **os.environ}
    env.setdefault("LATCHKEY_DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("LATCHKEY_LOG_FORMAT", "text")
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
