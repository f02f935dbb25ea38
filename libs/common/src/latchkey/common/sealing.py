"""Secrets kept in the database (signing keys) sealed with a key from settings, so a copy of
the database (a backup, a replica, a dump) does not hand out the keys that mint tokens.

`LATCHKEY_KEY_ENCRYPTION_KEY` holds one or more Fernet keys (AES-128-CBC with HMAC-SHA256),
comma-separated: the first seals, all open, so the key can be rotated by putting a new one
first. A sealed value is `sealed:v1:<fernet token>`; anything else is a value stored in clear
by an earlier version, which its owner seals again on its next start.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

PREFIX = "sealed:v1:"


class SealError(RuntimeError):
    """A sealed value that none of the configured keys opens."""


class Sealer:
    def __init__(self, keys: list[SecretStr]) -> None:
        if not keys:
            raise ValueError(
                "LATCHKEY_KEY_ENCRYPTION_KEY is required: it seals the signing keys kept in "
                'the database (make one with: python -c "from cryptography.fernet import '
                'Fernet; print(Fernet.generate_key().decode())")'
            )
        try:
            self._fernet = MultiFernet([Fernet(key.get_secret_value().encode()) for key in keys])
        except ValueError:
            raise ValueError(
                "LATCHKEY_KEY_ENCRYPTION_KEY must be Fernet keys (32 bytes, url-safe base64)"
            ) from None

    def seal(self, secret: bytes) -> str:
        return PREFIX + self._fernet.encrypt(secret).decode()

    def open(self, stored: str) -> bytes:
        """The secret in a stored value; a value in clear (an earlier version's) as it is."""
        if not is_sealed(stored):
            return stored.encode()
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode())
        except InvalidToken:
            raise SealError(
                "a stored signing key does not open with LATCHKEY_KEY_ENCRYPTION_KEY: keep the "
                "key that sealed it among the configured ones"
            ) from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)
