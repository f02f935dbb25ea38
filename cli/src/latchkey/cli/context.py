"""What every command works with: the two services, the token to send, the output mode."""

import argparse
import os
import urllib.parse
from dataclasses import dataclass, field

from latchkey.cli import credentials
from latchkey.cli.client import Service
from latchkey.cli.credentials import Credentials
from latchkey.cli.errors import CliError, ServiceError, not_signed_in, usage

DEFAULT_AUTH_URL = "http://127.0.0.1:9003"
DEFAULT_REGISTRY_URL = "http://127.0.0.1:9006"
TOKEN_VARIABLE = "LATCHKEY_TOKEN"  # noqa: S105 (the name of a variable, not a secret)


def service_url(value: str, option: str, variable: str) -> str:
    """An http(s) base URL without a trailing slash."""
    try:
        parts = urllib.parse.urlsplit(value.strip())
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        parts = urllib.parse.SplitResult("", "", "", "", "")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise usage(
            "bad_url",
            f"{option} / {variable} must be an http:// or https:// base URL, not {value!r}",
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _pick(flag: str | None, stored: str | None, variable: str, default: str) -> str:
    """The flag, else the stored URL, else the environment, else the default."""
    option = "--" + variable.removeprefix("LATCHKEY_").lower().replace("_", "-")
    return service_url(flag or stored or os.environ.get(variable) or default, option, variable)


@dataclass
class Context:
    """Resolved once per command. The stored URLs go with the stored token: a token given
    with --token or LATCHKEY_TOKEN is sent only where the flags or the environment say."""

    auth_url: str
    registry_url: str
    json: bool
    stored: Credentials | None
    given_token: str | None
    stored_error: CliError | None = None
    timeout: float = 30.0
    auth: Service = field(init=False)
    registry: Service = field(init=False)

    def __post_init__(self) -> None:
        self.auth = Service("auth service", self.auth_url, self.token, self.timeout)
        self.registry = Service("token registry", self.registry_url, self.token, self.timeout)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Context":
        given = args.token or os.environ.get(TOKEN_VARIABLE) or None
        stored, stored_error = None, None
        try:
            stored = credentials.load()
        except CliError as error:
            stored_error = error
        urls = stored if given is None else None
        return cls(
            auth_url=_pick(
                args.auth_url,
                urls.auth_url if urls else None,
                "LATCHKEY_AUTH_URL",
                DEFAULT_AUTH_URL,
            ),
            registry_url=_pick(
                args.registry_url,
                urls.registry_url if urls else None,
                "LATCHKEY_REGISTRY_URL",
                DEFAULT_REGISTRY_URL,
            ),
            json=args.json,
            stored=stored,
            given_token=given,
            stored_error=stored_error,
            timeout=args.timeout,
        )

    @property
    def token_is_stored(self) -> bool:
        return self.given_token is None and self.stored is not None

    def explain(self, error: CliError) -> CliError:
        """Point at the way out when the stored token itself was refused (expired, revoked)."""
        # Only a 401 is about our own token: a 409 `token_revoked` is about the token acted on.
        refused = isinstance(error, ServiceError) and error.status == 401
        if refused and error.reason.startswith("token_") and self.token_is_stored:
            error.message = error.message.rstrip(".") + "; sign in again with `latchkey login`"
        return error

    def token(self) -> str:
        """The bearer token to send; exit code 3 when there is none."""
        if self.given_token is not None:
            return self.given_token
        if self.stored is not None:
            return self.stored.token
        raise self.stored_error or not_signed_in()
