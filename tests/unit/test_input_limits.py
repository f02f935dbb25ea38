"""The limits every API holds input to (text, integers, dates), and the OpenAPI documents that
state them: what the fuzzing found, pinned as plain tests."""

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from latchkey.common.contracts import NewTokenRecord, SignRequest
from latchkey.common.events import InstanceReport
from latchkey.common.models import UtcDatetime
from latchkey.common.text import MULTI_LINE, SINGLE_LINE, Description, Name
from latchkey.registry.models import GenerateTokenRequest
from tests.support.fuzzing import documents

DOCUMENTS = documents()
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


class Texts(BaseModel):
    line: Name
    paragraph: Description


@given(st.text(max_size=20))
def test_the_documented_pattern_is_the_rule_applied(text: str) -> None:
    """The `pattern` in the documents refuses exactly what the validators refuse."""
    for field, rule in (("line", SINGLE_LINE), ("paragraph", MULTI_LINE)):
        documented = re.fullmatch(rule.pattern.removeprefix("^").removesuffix("$"), text)
        try:
            Texts.model_validate({"line": "", "paragraph": "", field: text})
        except ValidationError:
            assert documented is None, (field, text)
        else:
            assert documented is not None, (field, text)


def operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (service, path, method, operation)
        for service, document in DOCUMENTS.items()
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_operation_naming_something_in_its_path_documents_404() -> None:
    """`POST /internal/v1/tokens/{jti}/revoke` answered a 404 its document did not list."""
    for service, path, method, operation in operations():
        if "{" in path:
            assert "404" in operation["responses"], (service, method, path)


def test_query_parameters_are_never_null() -> None:
    for service, path, _, operation in operations():
        for parameter in operation["parameters"]:
            schema = parameter["schema"]
            assert {"type": "null"} not in schema.get("anyOf", []), (service, path, parameter)
            assert schema.get("default", ...) is not None, (service, path, parameter)


@pytest.mark.parametrize(("service", "model"), [("registry", "TokenPatch"), ("auth", "UserPatch")])
def test_patches_document_that_a_field_is_left_out_not_sent_as_null(
    service: str, model: str
) -> None:
    path = {"TokenPatch": "/api/v1/tokens/{jti}", "UserPatch": "/auth/v1/users/{user_id}"}
    operation = DOCUMENTS[service]["paths"][path[model]]["patch"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    properties = DOCUMENTS[service]["components"]["schemas"].get(model, schema)["properties"]
    for name, prop in properties.items():
        assert "anyOf" not in prop, (model, name, prop)
        assert "default" not in prop, (model, name, prop)


def test_text_fields_document_their_limits() -> None:
    login = DOCUMENTS["auth"]["paths"]["/auth/v1/login"]["post"]
    schema = login["requestBody"]["content"]["application/json"]["schema"]
    username = schema["properties"]["username"]
    assert (username["pattern"], username["maxLength"]) == (SINGLE_LINE.pattern, 200)


def test_a_generated_tokens_user_is_documented_as_the_uuid_it_must_be() -> None:
    """`userId: "x"` passed the document and failed later, naming `user_id`."""
    generate = DOCUMENTS["registry"]["paths"]["/api/v1/tokens"]["post"]
    schema = generate["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["userId"]["format"] == "uuid"
    assert refused_fields(GenerateTokenRequest, '{"userId": "x", "name": "n"}') == ["userId"]


def test_errors_each_endpoint_gives_are_documented() -> None:
    registry = DOCUMENTS["registry"]["paths"]
    assert "409" in registry["/api/v1/tokens"]["post"]["responses"]
    assert registry["/internal/v1/events"]["get"]["responses"]["410"]["description"]


def test_forward_auth_documents_its_answer_without_a_body() -> None:
    verify = DOCUMENTS["router"]["paths"]["/_latchkey/verify"]["get"]
    assert "content" not in verify["responses"]["200"]
