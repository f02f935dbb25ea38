"""The limits every API holds input to (text, integers, dates): what the fuzzing found, pinned
as plain tests."""

import json
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from latchkey.common.contracts import NewTokenRecord, SignRequest
from latchkey.common.events import InstanceReport
from latchkey.common.models import UtcDatetime
from latchkey.registry.models import GenerateTokenRequest

OVERFLOWING = [
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC: converting it overflowed (a 500)
    "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
    "2199-12-31T23:59:59-14:00",  # 2200 in UTC
]
UUID = "3f2b1a56-9c1e-4a51-8e1f-2d7d9b0c6a11"


def refused_fields(model: type[BaseModel], body: str) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate_json(body, strict=True)
    return [".".join(str(part) for part in error["loc"]) for error in refused.value.errors()]


@pytest.mark.parametrize("when", OVERFLOWING)
def test_dates_out_of_range_are_refused_not_overflowed(when: str) -> None:
    with pytest.raises(ValidationError, match="between 1970-01-01 and 2199-12-31"):
        TypeAdapter(UtcDatetime).validate_python(when)


def test_dates_in_range_are_taken_in_utc() -> None:
    taken = TypeAdapter(UtcDatetime).validate_python("1970-01-01T05:30:00+05:30")
    assert taken.isoformat() == "1970-01-01T00:00:00+00:00"


@pytest.mark.parametrize("when", OVERFLOWING[:2])
def test_a_signing_request_dated_year_1_or_9999_is_a_validation_error(when: str) -> None:
    body = f'{{"userId": "{UUID}", "expiresAt": "{when}"}}'
    assert refused_fields(SignRequest, body) == ["expiresAt"]
    generate = f'{{"userId": "{UUID}", "name": "n", "expiresAt": "{when}"}}'
    assert refused_fields(GenerateTokenRequest, generate) == ["expiresAt"]


def test_a_token_record_issued_in_year_1_is_a_validation_error() -> None:
    body = (
        f'{{"jti": "{UUID}", "userId": "u", "username": "u", "kind": "session", '
        '"issuedAt": "0001-01-01T00:00:00+14:00", "expiresAt": "2030-01-01T00:00:00Z"}'
    )
    assert refused_fields(NewTokenRecord, body) == ["issuedAt"]


REPORT = {
    "instanceId": "i",
    "service": "auth",
    "appliedSeq": 1,
    "startedAt": "2030-01-01T00:00:00Z",
    "mode": "live",
}


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"instanceId": "a\x00b"}, "instanceId"),
        ({"appliedSeq": 2**63}, "appliedSeq"),
        ({"applied": [{"seq": 2**70, "appliedAt": "2030-01-01T00:00:00Z"}]}, "applied.0.seq"),
        ({"used": [{"jti": UUID, "at": "0001-01-01T00:00:00+14:00"}]}, "used.0.at"),
        ({"startedAt": "0001-01-01T00:00:00Z"}, "startedAt"),
        ({"startedAt": "9999-12-31T23:59:59Z"}, "startedAt"),
        ({"service": "anyone"}, "service"),
    ],
)
def test_instance_reports_are_held_to_what_postgresql_stores(
    change: dict[str, Any], refused: str
) -> None:
    """The first four reached PostgreSQL (or a date conversion) and answered 500."""
    assert refused_fields(InstanceReport, json.dumps({**REPORT, **change})) == [refused]
