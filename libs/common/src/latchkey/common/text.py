"""The text every API and form takes: bounded, and free of the control characters that break
storage (PostgreSQL refuses NUL), logs (a newline forges a log line) and headers.

A field is `Annotated[str, SINGLE_LINE, Field(max_length=n)]`: one line, no C0 control
character (U+0000 to U+001F), no DEL and no C1 control (U+007F to U+009F); `MULTI_LINE` also
allows tab, line feed and carriage return. Both are refused with the 422 envelope naming the
field, and both say so in the OpenAPI documents (a `pattern`), so clients and the fuzzing
know. The aliases below are the lengths the APIs document.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, GetJsonSchemaHandler
from pydantic_core import CoreSchema

_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PARAGRAPH_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_controls(value: str) -> bool:
    """Whether `value` holds a character a single-line field refuses."""
    return _LINE_FORBIDDEN.search(value) is not None


def _single_line(value: str) -> str:
    if has_controls(value):
        raise ValueError("must not contain control characters (line breaks, tabs, NUL, ...)")
    return value


def _multi_line(value: str) -> str:
    if _PARAGRAPH_FORBIDDEN.search(value):
        raise ValueError("must not contain control characters other than tabs and line breaks")
    return value


@dataclass(frozen=True, slots=True)
class _Refused(AfterValidator):
    """The check, and the same rule as a JSON Schema `pattern` for the documents."""

    pattern: str = ""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        documented: dict[str, Any] = handler(schema)
        documented["pattern"] = self.pattern
        return documented


SINGLE_LINE = _Refused(_single_line, pattern=f"^[^{_LINE_FORBIDDEN.pattern[1:-1]}]*$")
MULTI_LINE = _Refused(_multi_line, pattern=f"^[^{_PARAGRAPH_FORBIDDEN.pattern[1:-1]}]*$")

Name = Annotated[str, SINGLE_LINE, Field(max_length=200)]
"""A display name, a token's name, a username as typed at sign-in."""
Reason = Annotated[str, SINGLE_LINE, Field(min_length=1, max_length=500)]
"""Why something was revoked."""
Description = Annotated[str, MULTI_LINE, Field(max_length=2000)]
"""A token's description."""
Identifier = Annotated[str, SINGLE_LINE, Field(min_length=1, max_length=128)]
"""An opaque id (a user id as the registry knows it)."""
ShortText = Annotated[str, SINGLE_LINE, Field(max_length=64)]
"""A channel, a platform, a portal name as typed."""
