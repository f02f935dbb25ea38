"""Token references packed for the token-state snapshot: a million of them in 24 MB of bytes
(32 MB of base64 on the wire) that a new instance reads in a fraction of a second, where a
million JSON objects took a minute to build, send, parse and load.

Layout, for N references: the N jtis (16 bytes each, RFC 9562 byte order: `UUID.bytes`), then
the N expiries (signed 64-bit big-endian seconds since the Unix epoch, each rounded up to the
whole second: an entry is never dropped early), in order of expiry, earliest first (so a view
files them in its expiry buckets by slicing, with no work per entry). On the wire it is one
base64 string (RFC 4648 section 4, with padding, no line breaks).

Anything else is refused with a `ValueError` that says what is wrong: a length that is not a
whole number of references, expiries out of order or outside years 1970-9999, more than
`MAX_REFS`, text that is not base64.
"""

import base64
import math
import operator
import struct
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from uuid import UUID

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

JTI_BYTES = 16
EXPIRY_BYTES = 8
REF_BYTES = JTI_BYTES + EXPIRY_BYTES
MAX_REFS = 40_000_000
"""About a gigabyte of base64: more than one answer (or one PostgreSQL value) should carry."""
MAX_EXPIRY = 253_402_300_799
"""9999-12-31T23:59:59Z, the last second a `datetime` holds."""
_CHUNK = 65_536
"""References unpacked at a time (bounds the memory the unpacking itself takes)."""


class PackedRefs:
    """An immutable, validated sequence of (jti, expiry) in order of expiry."""

    __slots__ = ("_count", "_data", "_expiries", "_keys")

    def __init__(self, data: bytes) -> None:
        if len(data) % REF_BYTES:
            raise ValueError(
                f"packed token references are {REF_BYTES} bytes each; {len(data)} bytes is not "
                "a whole number of them"
            )
        count = len(data) // REF_BYTES
        if count > MAX_REFS:
            raise ValueError(f"{count} packed token references: more than {MAX_REFS}")
        expiries = struct.unpack_from(f">{count}q", data, count * JTI_BYTES)
        if not all(map(operator.le, expiries, islice(expiries, 1, None))):
            raise ValueError("packed token references are not in order of expiry")
        if count and not 0 <= expiries[0] <= expiries[-1] <= MAX_EXPIRY:
            raise ValueError("a packed token reference expires outside years 1970-9999")
        self._data = bytes(data)
        self._count = count
        self._expiries: tuple[int, ...] = expiries
        self._keys: list[int] | None = None

    @classmethod
    def of(cls, refs: Iterable[tuple[UUID, datetime]]) -> "PackedRefs":
        """Pack (jti, expiry) pairs, in any order."""
        ordered = sorted(((math.ceil(at.timestamp()), jti.bytes) for jti, at in refs))
        data = b"".join(jti for _, jti in ordered) + struct.pack(
            f">{len(ordered)}q", *(expiry for expiry, _ in ordered)
        )
        return cls(data)

    @classmethod
    def decode(cls, text: str) -> "PackedRefs":
        """From the wire's base64 text."""
        try:
            data = base64.b64decode(text, validate=True)
        except ValueError as exc:  # binascii.Error, or text that is not ASCII
            raise ValueError(f"packed token references are not base64: {exc}") from None
        return cls(data)

    def encode(self) -> str:
        return base64.b64encode(self._data).decode("ascii")

    @property
    def data(self) -> bytes:
        return self._data

    def __len__(self) -> int:
        return self._count

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PackedRefs) and other._data == self._data

    def __hash__(self) -> int:
        return hash(self._data)

    def __repr__(self) -> str:
        return f"PackedRefs(<{self._count} references>)"

    def keys(self) -> list[int]:
        """The jtis as 128-bit integers (`UUID.int`), in the order of the expiries."""
        if self._keys is None:
            keys: list[int] = []
            for start in range(0, self._count, _CHUNK):
                size = min(_CHUNK, self._count - start)
                halves = struct.unpack_from(f">{2 * size}Q", self._data, start * JTI_BYTES)
                pairs = zip(halves[::2], halves[1::2], strict=True)
                keys += [high << 64 | low for high, low in pairs]
            self._keys = keys
        return self._keys

    @property
    def expiries(self) -> tuple[int, ...]:
        """Seconds since the epoch, earliest first."""
        return self._expiries

    def runs(self, seconds: int) -> Iterator[tuple[int, int, int]]:
        """(bucket, start, end): the references expiring in each bucket of `seconds`, bucket
        `b` holding the expiries in ((b - 1) * seconds, b * seconds]."""
        expiries, start = self._expiries, 0
        while start < self._count:
            bucket = -(-expiries[start] // seconds)
            end = bisect_right(expiries, bucket * seconds, start)
            yield bucket, start, end
            start = end

    def __iter__(self) -> Iterator[tuple[UUID, datetime]]:
        for key, expiry in zip(self.keys(), self._expiries, strict=True):
            yield UUID(int=key), datetime.fromtimestamp(expiry, UTC)

    # --- as a pydantic field: base64 text on the wire -----------------------------------------

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from_text = core_schema.no_info_after_validator_function(
            cls.decode, core_schema.str_schema()
        )
        return core_schema.json_or_python_schema(
            json_schema=from_text,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), from_text]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda value: value.encode(), when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "format": "byte",
            "description": (
                "Token references, packed: base64 of N jtis (16 bytes each) then N expiries "
                "(signed 64-bit big-endian Unix seconds, rounded up), earliest expiry first."
            ),
        }


EMPTY_REFS = PackedRefs(b"")
