"""`python -m latchkey.auth` runs the auth service; `python -m latchkey.auth rotate-keys`
retires the current signing key and generates a new one (the old one stays published)."""

import argparse
import asyncio

from latchkey.auth.app import SERVICE, create_app, keystore_for
from latchkey.auth.settings import AuthSettings
from latchkey.common.db import open_pool
from latchkey.common.sealing import Sealer
from latchkey.common.serve import serve
from latchkey.common.settings import startup_errors


async def rotate_keys(settings: AuthSettings) -> str:
    sealer = Sealer(settings.key_encryption_key)
    async with open_pool(settings.database_url, size=1, timeout=settings.startup_timeout) as pool:
        key = await keystore_for(pool, settings, sealer).rotate()
        return key.kid


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m latchkey.auth")
    parser.add_argument("command", nargs="?", choices=["serve", "rotate-keys"], default="serve")
    command = parser.parse_args().command
    with startup_errors(SERVICE):
        settings = AuthSettings()
    if command == "rotate-keys":
        print(f"now signing with key {asyncio.run(rotate_keys(settings))}")
        return
    with startup_errors(SERVICE):
        app = create_app(settings)
    serve(app, settings, service=SERVICE, ports=[settings.auth_port])


if __name__ == "__main__":
    main()
