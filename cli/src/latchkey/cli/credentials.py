"""The signed-in admin's token and service URLs, kept in a file only its owner can read."""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latchkey.cli.errors import UNAUTHORIZED, CliError

FILE_NAME = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    token: str
    auth_url: str
    registry_url: str
    username: str
    user_id: str
    expires_at: str | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "authUrl": self.auth_url,
            "registryUrl": self.registry_url,
            "username": self.username,
            "userId": self.user_id,
            "expiresAt": self.expires_at,
        }


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/latchkey`, else `~/.config/latchkey` (a relative XDG path is ignored,
    as the XDG Base Directory specification asks)."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "latchkey"


def credentials_path() -> Path:
    return config_dir() / FILE_NAME


def load() -> Credentials | None:
    """The stored credentials; None when nobody signed in."""
    path = credentials_path()
    try:
        stored = json.loads(path.read_text())
        return Credentials(
            token=str(stored["token"]),
            auth_url=str(stored["authUrl"]),
            registry_url=str(stored["registryUrl"]),
            username=str(stored.get("username", "")),
            user_id=str(stored.get("userId", "")),
            expires_at=stored.get("expiresAt"),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(
            UNAUTHORIZED,
            "credentials_unreadable",
            f"cannot read {path} ({type(exc).__name__}); sign in again with `latchkey login`",
        ) from None


def save(credentials: Credentials) -> Path:
    """Write atomically: a 0600 temporary file in the same 0700 directory, then a rename."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask, and skipped if it exists
    path = directory / FILE_NAME
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".credentials.", suffix=".tmp")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(credentials.wire(), file, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def delete() -> bool:
    """Remove the stored credentials; False when there were none."""
    try:
        credentials_path().unlink()
    except FileNotFoundError:
        return False
    return True
