"""Events the registry publishes are signed, so an instance acts only on what the registry
said: anyone else who can publish to the exchange (a leaked broker password, a compromised
service) can make noise, never a change.

The registry signs the exact bytes of each message body with an Ed25519 key only it holds; the
signature and the key's id travel as message headers. Instances fetch the public keys from the
registry over its authenticated internal API, and again when a message names a key they do not
know. A message that does not verify is dropped: if it was a real event, the next heartbeat or
event shows the gap and the instance fetches it from the registry by its sequence number.
"""

import base64
import hashlib
from enum import Enum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from latchkey.common.contracts import EventKey, EventKeys

SIGNATURE_HEADER = "x-latchkey-signature"
KEY_HEADER = "x-latchkey-key"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: its SHA-256, base64url, 16 characters."""
    return _b64(hashlib.sha256(raw_public(key)).digest())[:16]


class EventSigner:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.kid = key_id(self.public)

    def private_bytes(self) -> bytes:
        """The raw private key, for sealing it in storage."""
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def headers(self, body: bytes) -> dict[str, str]:
        """The headers that carry the signature of `body`."""
        return {KEY_HEADER: self.kid, SIGNATURE_HEADER: _b64(self._private.sign(body))}

    def published(self) -> EventKey:
        return EventKey(kid=self.kid, public_key=_b64(raw_public(self.public)))


class Verdict(Enum):
    GENUINE = "genuine"
    UNKNOWN_KEY = "unknown_key"
    FORGED = "forged"


class EventVerifier:
    """The registry's public keys, and whether a message was signed by one of them."""

    def __init__(self) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    def use(self, keys: EventKeys) -> None:
        found = {}
        for item in keys.keys:
            try:
                public = Ed25519PublicKey.from_public_bytes(_unb64(item.public_key))
            except ValueError:
                continue
            if key_id(public) == item.kid:
                found[item.kid] = public
        self._keys = found

    def verdict(self, body: bytes, headers: dict[str, object]) -> Verdict:
        kid, signature = headers.get(KEY_HEADER), headers.get(SIGNATURE_HEADER)
        if not isinstance(kid, str) or not isinstance(signature, str):
            return Verdict.FORGED
        key = self._keys.get(kid)
        if key is None:
            return Verdict.UNKNOWN_KEY
        try:
            key.verify(_unb64(signature), body)
        except (InvalidSignature, ValueError):
            return Verdict.FORGED
        return Verdict.GENUINE
