"""Token references packed for the token-state snapshot: a million of them in 16 MB of bytes
(22 MB of base64 on the wire) that a new instance files in a fraction of a second, where a
million JSON objects took a minute to build, send, parse and load.

A view keeps an entry until the minute after its token expires (`tokenstate.view`), so the
references are grouped by that minute, and a view files each group in its expiry bucket with
one slice, with no work per reference. Layout (integers big-endian):

    R                uint32     how many groups ("runs")
    R times:
      minute         int64      the expiry rounded up to the whole minute, in minutes since
                                the Unix epoch; strictly increasing from one run to the next
      count          uint32     references in the run, at least one
    N = sum(count) times:
      jti            16 bytes   RFC 9562 byte order (`UUID.bytes`), run after run

On the wire it is one base64 string (RFC 4648 section 4, with padding, no line breaks).
Anything else is refused with a `ValueError` that says what is wrong: a length that does not
match the counts, runs out of order or empty, a minute outside years 1970-9999, more than
`MAX_REFS` references, text that is not base64.
"""

import base64
import math
import struct
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

JTI_BYTES = 16
RUN = struct.Struct(">qI")
HEADER = struct.Struct(">I")
MAX_REFS = 40_000_000
"""About 850 MB of base64: more than one answer (or one PostgreSQL value) should carry."""
MAX_MINUTE = 253_402_300_800 // 60
"""10000-01-01T00:00:00Z: the minute after the last second a `datetime` holds."""
_CHUNK = 65_536
"""References unpacked at a time (bounds the memory the unpacking itself takes)."""


class PackedRefs:
    """An immutable, validated set of (jti, expiry minute), grouped by minute, earliest first."""

    __slots__ = ("_count", "_data", "_keys", "_runs")

    def __init__(self, data: bytes) -> None:
        if len(data) < HEADER.size:
            raise ValueError("packed token references start with their number of runs")
        (runs,) = HEADER.unpack_from(data)
        start = HEADER.size + runs * RUN.size
        if len(data) < start:
            raise ValueError(f"packed token references announce {runs} runs but end before them")
        parsed, count, previous = [], 0, -(1 << 63) - 1
        for minute, size in RUN.iter_unpack(memoryview(data)[HEADER.size : start]):
            if minute <= previous:
                raise ValueError("packed token references are not in order of expiry")
            if size == 0:
                raise ValueError("a run of packed token references is empty")
            parsed.append((minute, count, count + size))
            count, previous = count + size, minute
        if parsed and not 0 <= parsed[0][0] <= previous <= MAX_MINUTE:
            raise ValueError("a packed token reference expires outside years 1970-9999")
        if count > MAX_REFS:
            raise ValueError(f"{count} packed token references: more than {MAX_REFS}")
        if len(data) != start + count * JTI_BYTES:
            raise ValueError(
                f"packed token references: {runs} runs of {count} jtis take "
                f"{start + count * JTI_BYTES} bytes, not {len(data)}"
            )
        self._data = bytes(data)
        self._count = count
        self._runs: list[tuple[int, int, int]] = parsed
        self._keys: list[int] | None = None

    @classmethod
    def from_runs(cls, runs: Iterable[tuple[int, bytes]]) -> "PackedRefs":
        """From (minute, the jtis expiring in it, concatenated), earliest minute first."""
        heads, jtis = [], []
        for minute, packed in runs:
            if len(packed) % JTI_BYTES:
                raise ValueError("jtis are 16 bytes each")
            heads.append(RUN.pack(minute, len(packed) // JTI_BYTES))
            jtis.append(packed)
        return cls(HEADER.pack(len(heads)) + b"".join(heads) + b"".join(jtis))

    @classmethod
    def of(cls, refs: Iterable[tuple[UUID, datetime]]) -> "PackedRefs":
        """Pack (jti, expiry) pairs, in any order."""
        grouped: dict[int, list[bytes]] = {}
        for jti, at in refs:
            grouped.setdefault(math.ceil(at.timestamp() / 60), []).append(jti.bytes)
        return cls.from_runs((minute, b"".join(grouped[minute])) for minute in sorted(grouped))

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
        """The jtis as 128-bit integers (`UUID.int`), run after run."""
        if self._keys is None:
            offset = len(self._data) - self._count * JTI_BYTES
            keys: list[int] = []
            for start in range(0, self._count, _CHUNK):
                size = min(_CHUNK, self._count - start)
                halves = struct.unpack_from(f">{2 * size}Q", self._data, offset + start * 16)
                pairs = zip(halves[::2], halves[1::2], strict=True)
                keys += [high << 64 | low for high, low in pairs]
            self._keys = keys
        return self._keys

    def runs(self) -> list[tuple[int, int, int]]:
        """(minute, start, end): the references in `keys()[start:end]` expire in that minute
        (at most `minute * 60` seconds after the epoch)."""
        return self._runs

    def __iter__(self) -> Iterator[tuple[UUID, datetime]]:
        keys = self.keys()
        for minute, start, end in self._runs:
            at = datetime.fromtimestamp(minute * 60, UTC)
            for key in keys[start:end]:
                yield UUID(int=key), at

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
                "Token references, packed (base64): uint32 R; R runs of (int64 minute of "
                "expiry, rounded up, since the epoch; uint32 count), earliest first; then "
                "the jtis, 16 bytes each, run after run. Big-endian."
            ),
        }


EMPTY_REFS = PackedRefs(HEADER.pack(0))
