"""`make run`: every Latchkey service on this machine, against local PostgreSQL and RabbitMQ.

Creates the database named in LATCHKEY_DATABASE_URL when it does not exist, makes up the
credentials that are not configured (for this run only), prints how to sign in, then hands
over to honcho, which runs the Procfile with each log line prefixed by its service.
"""

import asyncio
import os
import secrets
import shutil
import sys
from pathlib import Path

import asyncpg
from dotenv import dotenv_values
from yarl import URL

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/latchkey"


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
    made_up: dict[str, str] = {}
    if not env.get("LATCHKEY_INTERNAL_TOKEN"):
        made_up["LATCHKEY_INTERNAL_TOKEN"] = secrets.token_urlsafe(32)
    return made_up


def banner(env: dict[str, str], created: bool) -> str:
    database = URL(env["LATCHKEY_DATABASE_URL"]).with_password(None)
    lines = [
        "",
        "Latchkey is starting on this machine.",
        f"  database   {database}{' (created now)' if created else ''}",
        "  registry   http://127.0.0.1:9006   (/readyz, /openapi.json)",
        "Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    env = {**read_dotenv(ROOT / ".env"), **os.environ}
    env.setdefault("LATCHKEY_DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("LATCHKEY_LOG_FORMAT", "text")
    env.update(made_up_credentials(env))
    try:
        created = asyncio.run(ensure_database(env["LATCHKEY_DATABASE_URL"]))
    except (OSError, asyncpg.PostgresError) as exc:
        sys.exit(f"PostgreSQL is not reachable for LATCHKEY_DATABASE_URL: {exc}")
    print(banner(env, created), flush=True)
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    honcho = shutil.which("honcho", path=env["PATH"]) or sys.exit("honcho is not installed")
    os.chdir(ROOT)
    os.execve(honcho, [honcho, "start", "-f", "Procfile"], env)


if __name__ == "__main__":
    main()
