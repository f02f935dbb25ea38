"""Log redaction: no token, Authorization header, cookie or configured secret reaches a line."""

import json
import logging
import sys

import pytest

from latchkey.common.logs import REDACTED, JsonFormatter, Redactor

TOKEN = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.eyJzdWIiOiJ4IiwianRpIjoiMSJ9."
    "c2lnbmF0dXJlLXdpdGgtZW5vdWdoLWJ5dGVz"
)


@pytest.mark.parametrize(
    "text",
    [
        f"token {TOKEN} seen",
        f"GET /agent/chat?accessToken={TOKEN}&x=1",
        f"Authorization: Bearer {TOKEN}",
        "Authorization: Bearer opaque-internal-credential",
        "Cookie: latchkey_session=gAAAAABlongencryptedvalue; other=1",
        '{"password": "hunter22", "username": "bob"}',
        "password=hunter22&username=bob",
        f"header={TOKEN[:40]}",
    ],
)
def test_secrets_of_every_shape_are_masked(text: str) -> None:
    redacted = Redactor()(text)
    for secret in ("hunter22", "opaque-internal-credential", "gAAAAABlongencryptedvalue", "eyJ"):
        assert secret not in redacted
    assert REDACTED in redacted


def test_configured_secrets_are_masked_verbatim() -> None:
    redactor = Redactor(["s3cr3t-value-123", "short"])
    assert redactor("dsn has s3cr3t-value-123 inside") == f"dsn has {REDACTED} inside"
    assert redactor("a short word") == "a short word"


def test_json_formatter_masks_message_extras_and_tracebacks() -> None:
    formatter = JsonFormatter("test", Redactor())
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "got %s", (TOKEN,), None)
        record.exc_info = sys.exc_info()
    record.header = f"Bearer {TOKEN}"
    line = formatter.format(record)
    entry = json.loads(line)
    assert TOKEN not in line
    assert "eyJ" not in line
    assert entry["level"] == "error"
    assert entry["service"] == "test"
    assert "ValueError" in entry["exc"]
