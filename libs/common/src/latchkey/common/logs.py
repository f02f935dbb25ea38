"""JSON logging that cannot print a token, an Authorization header or a session cookie.

Redaction happens in the formatter, on the fully rendered message, its extra fields and its
traceback, so no call site can leak a secret by forgetting to mask it.
"""

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Any JWS/JWE in compact form: its header is base64url JSON, so it starts with "eyJ".
    (re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_=-]*){1,4}"), REDACTED),
    # Authorization schemes.
    (re.compile(r"(?i)\b(bearer|basic|internal)(\s+)[^\s\"',;]+"), rf"\1\2{REDACTED}"),
    # key=value and "key": "value" forms of anything that names a secret.
    (
        re.compile(
            r"(?i)((?:access_?token|refresh_?token|id_?token|token|password|passwd|secret|"
            r"authorization|cookie|set-cookie|latchkey_session|session|csrf_?token|api_?key)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]+"
        ),
        rf"\1{REDACTED}",
    ),
)

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class Redactor:
    """Masks secrets in text: known shapes by pattern, known values exactly."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        # Short values would mask ordinary words; real secrets here are long.
        self._secrets.update(secret for secret in secrets if len(secret) >= 8)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in _SECRET_PATTERNS:
            text = pattern.sub(replacement, text)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, extra fields, traceback."""

    def __init__(self, service: str, redactor: Redactor) -> None:
        super().__init__()
        self._service = service
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": self._redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = self._clean(value)
        if record.exc_info:
            entry["exc"] = self._redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self._redact(json.dumps(value, default=str, ensure_ascii=False))


_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """Control characters written as escapes: a value from a request (a path with `%0a`
    decoded) can never start a line that looks like a record of its own."""
    return _CONTROLS.sub(lambda found: f"\\x{ord(found[0]):02x}", text)


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal, redacted the same way; one record, one line (but for a
    traceback, which follows it indented by Python)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self._redact = redactor

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


def configure_logging(
    *,
    service: str,
    level: str = "INFO",
    fmt: str = "json",
    secrets: Iterable[str] = (),
) -> Redactor:
    """Send every logger to stdout through a redacting formatter; returns the redactor."""
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(sys.stdout)
    formatter: logging.Formatter = (
        JsonFormatter(service, redactor) if fmt == "json" else TextFormatter(redactor)
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aio-pika and aiormq log every reconnect attempt at INFO with connection URLs.
    for noisy in ("aio_pika", "aiormq"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return redactor


def _timestamp(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"
