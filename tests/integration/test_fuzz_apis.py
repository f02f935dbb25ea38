"""Every API of every service fuzzed from its own OpenAPI document (schemathesis): no answer
is a server error, every answer is the envelope, and every answer is one the document lists,
with the schema it gives. Each operation runs twice: with the credential it asks for, and with
none or a wrong one (which must get 401 or 403).

The budget is fixed and the generation seeded, so CI runs the same cases every time:
`LATCHKEY_TEST_FUZZ_EXAMPLES` (default 25 per operation and run) and `LATCHKEY_TEST_FUZZ_SEED`
change them for a longer or a different local run (DEVELOPERS.md).
"""

import os
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import schemathesis
from hypothesis import example, given, seed, settings
from hypothesis import strategies as st
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import TestPhase

from tests.support.credentials import HELD, as_service
from tests.support.fuzzing import ThreadedServices, documents, services_in_thread, short
from tests.support.infra import Infra
from tests.support.stack import USER_PASSWORD

EXAMPLES = int(os.environ.get("LATCHKEY_TEST_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("LATCHKEY_TEST_FUZZ_SEED", "12"))
REQUEST_TIMEOUT = 10
"""Seconds for one answer. There is no Hypothesis deadline per example (schemathesis sets
none, and on shared cores one would be flaky): the time is bounded by the number of examples,
this, and each test's timeout (below)."""
CONFIG = {
    "seed": SEED,
    "generation": {
        "max-examples": EXAMPLES,
        "database": "none",  # no examples replayed from earlier runs: the same cases each time
        "with-security-parameters": False,  # the credentials are the test's own (below)
    },
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
    "checks": {
        # A valid request may still be refused by a rule no schema states (a platform not
        # configured, an expiry past the policy): a 4xx is a fine answer to it.
        "positive_data_acceptance": {"enabled": False},
        # An invalid one may be refused for its size (413) as well as for its content.
        "negative_data_rejection": {
            "expected-statuses": ["400", "401", "403", "404", "405", "409", "413", "422", "429"]
        },
    },
    "phases": {"stateful": {"enabled": False}},
}
DOCUMENTS = documents()
SCHEMAS = {
    name: schemathesis.openapi.from_dict(doc, config=schemathesis.Config.from_dict(CONFIG))
    for name, doc in DOCUMENTS.items()
}
CREDENTIAL_REFUSED = {
    "token_missing",
    "token_invalid",
    "token_expired",
    "token_revoked",
    "token_disabled",
    "invalid_service_credential",
    "service_not_allowed",
}
USER_ZONES = [timezone(timedelta(hours=hours)) for hours in (-14, -5, 0, 5.5, 14)]
EDGE_DATES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "2199-12-31T23:59:59-14:00",
    "2200-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59Z",
]

# Dates mostly in the range the APIs take, so valid requests get past it, and its edges and
# beyond, where converting a zone or adding a lifetime overflows.
IN_RANGE = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2199, 12, 30),
    timezones=st.sampled_from([UTC, *USER_ZONES]),
).map(datetime.isoformat)
schemathesis.openapi.format(
    "date-time",
    st.integers(0, 3).flatmap(lambda n: st.sampled_from(EDGE_DATES) if n == 3 else IN_RANGE),
)

pytestmark = [
    # schemathesis's own strategies use `random`; the run is seeded all the same.
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
    pytest.mark.timeout(60 + EXAMPLES * 2),  # a longer run takes longer
]


@pytest.fixture(scope="module")
def stack(infra: Infra) -> Iterator[ThreadedServices]:
    # Fuzzed sign-ins fail by the hundred from one address: lockouts would then answer 429 to
    # everything, and their own tests are elsewhere.
    unlocked = {"lockout_user_threshold": 10**6, "lockout_address_threshold": 10**6}
    with services_in_thread(infra, overrides={"auth": unlocked}) as running:
        running.run(prepare(running))
        yield running


async def prepare(running: ThreadedServices) -> None:
    """What the fuzzing may name: users and a token to change (never the admin's own), a
    change to look up, and a user to sign in as and to generate tokens for."""
    services, facts = running.services, running.facts
    admin = await services.token()
    status, found = await services.call("auth", "GET", "/auth/v1/users", token=admin)
    assert status == 200, found
    (admin_user,) = found["data"]["items"]  # the first admin, alone so far
    changed_in_auth = await services.create_user(admin, "changed-in-auth")
    revoked_in_registry = await services.create_user(admin, "revoked-in-registry")
    signee = await services.create_user(admin, "signee", portals=["agent", "admin"])
    status, generated = await services.call(
        "registry", "POST", "/api/v1/tokens", token=admin,
        json={"userId": revoked_in_registry["userId"], "name": "fuzzed"},
    )  # fmt: skip
    assert status == 201, generated
    status, policy = await services.call(
        "registry", "PUT", "/api/v1/domain-policy", token=admin, json={"domains": []}
    )
    assert status == 200, policy
    facts.update(
        admin=admin,
        admin_id=admin_user["userId"],
        user_token=generated["data"]["accessToken"],
        path={
            "auth": {"user_id": changed_in_auth["userId"]},
            "registry": {
                "user_id": revoked_in_registry["userId"],
                "jti": generated["data"]["token"]["jti"],
                "seq": str(policy["data"]["eventSeq"]),
            },
        },
        body={
            "/auth/v1/login": {"username": "signee", "password": USER_PASSWORD, "platform": "WEB"},
            "/internal/v1/instances/report": {"service": "auth"},  # as auth, who calls
            "*": {"userId": signee["userId"], "password": USER_PASSWORD},
        },
    )


async def fresh_admin_token(running: ThreadedServices) -> str:
    """A token of the admin's for signing out with (the one the fuzzing uses must live on)."""
    status, body = await running.services.call(
        "registry", "POST", "/api/v1/tokens", token=running.facts["admin"],
        json={"userId": running.facts["admin_id"], "name": "to sign out"},
    )  # fmt: skip
    assert status == 201, body
    return str(body["data"]["accessToken"])


def credential(service: str, case: Any, stack: ThreadedServices) -> dict[str, str]:
    """The credential the operation asks for: a service it names (one this service knows), or
    an admin's token."""
    raw = case.operation.definition.raw
    security = raw.get("security") or []
    if not security:
        return {}
    if "service" in security[0]:
        caller = next(name for name in raw["x-latchkey-callers"] if name in HELD[service])
        return as_service(caller)
    if case.operation.path == "/api/v1/user/logout":
        return {"Authorization": f"Bearer {stack.run(fresh_admin_token(stack))}"}
    return {"Authorization": f"Bearer {stack.facts['admin']}"}


def wrong_credential(service: str, case: Any, stack: ThreadedServices) -> dict[str, str]:
    """None, or one that must not open the operation: garbage, another scheme, a service that
    is not among its callers, a user's token where a service is expected and the other way
    round, a token without the role it needs."""
    raw = case.operation.definition.raw
    security = raw.get("security") or []
    wrong: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic cm9vdDpyb290"},
    ]
    if security and "service" in security[0]:
        others = [name for name in HELD[service] if name not in raw["x-latchkey-callers"]]
        wrong += [as_service(name) for name in others]
        wrong.append({"Authorization": f"Bearer {stack.facts['admin']}"})
    elif security:
        wrong.append(as_service(service))
        if raw.get("x-latchkey-role"):
            wrong.append({"Authorization": f"Bearer {stack.facts['user_token']}"})
    return wrong[crc(case) % len(wrong)]


def crc(value: Any) -> int:
    """A stable choice from a case (Python's `hash` of a str changes with each process)."""
    if isinstance(value, schemathesis.Case):
        value = (value.method, value.formatted_path, value.query, value.body)
    return zlib.crc32(repr(value).encode())


def use_real_ids(service: str, case: Any, stack: ThreadedServices) -> None:
    """Valid ids in the path, and a valid body's user, mostly name what exists, so the fuzzing
    gets past "not found" and the wrong password: always in the coverage phase (which varies
    everything else around one value), two times in three in the fuzzing phase."""
    meta = case.meta
    if meta is None:
        return

    def positive(location: ParameterLocation) -> bool:
        component = meta.components.get(location)
        return component is not None and component.mode == GenerationMode.POSITIVE

    def chosen(value: Any) -> bool:
        return meta.phase.name == TestPhase.COVERAGE or crc(value) % 3 != 0

    if positive(ParameterLocation.PATH):
        known = stack.facts["path"].get(service, {})
        for name, value in list(case.path_parameters.items()):
            if name in known and chosen(value):
                case.path_parameters[name] = known[name]
    body = case.body
    if positive(ParameterLocation.BODY) and isinstance(body, dict) and chosen(body):
        known = stack.facts["body"]
        for name, value in known.get(case.operation.path, known["*"]).items():
            if name in body:
                body[name] = value


HOSTILE_INTEGERS = [2**63, -(2**63) - 1, 10**23]
"""Past what PostgreSQL stores (bigint) either way, and 1e23."""


def leaves(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*at, index))
    elif isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        yield at, value


def spoil(value: str | int, choice: int) -> str | int:
    """A NUL in a string; an integer PostgreSQL cannot store."""
    if isinstance(value, str):
        middle = len(value) // 2
        return value[:middle] + "\x00" + value[middle:]
    return HOSTILE_INTEGERS[choice % len(HOSTILE_INTEGERS)]


def make_hostile(case: Any) -> None:
    """Half of the valid cases get one value made hostile, wherever it is (path, query or
    body), whether or not the document says it is refused: what no document states must still
    be refused with a 4xx, never reach PostgreSQL and fail there."""
    meta = case.meta
    choice = crc(case)
    if meta is None or choice % 2:
        return
    if any(part.mode != GenerationMode.POSITIVE for part in meta.components.values()):
        return
    containers = {"path": case.path_parameters, "query": case.query, "body": case.body}
    targets = [
        (name, at, value)
        for name, container in containers.items()
        if isinstance(container, dict)
        for at, value in leaves(container)
    ]
    if not targets:
        return
    name, at, value = targets[(choice // 2) % len(targets)]
    parent = containers[name]
    for key in at[:-1]:
        parent = parent[key]
    parent[at[-1]] = spoil(value, choice // 7)


def documented_content(case: Any, status: int) -> bool:
    responses = case.operation.definition.raw["responses"]
    return "content" in responses.get(str(status), {})


def check_answer(case: Any, response: Any, who: str) -> None:
    """No server error; the envelope with `code` mirroring the status; the credential the
    operation asks for is taken, and nothing else is."""
    status = response.status_code
    assert status < 500, "a server error"
    if not documented_content(case, status):
        return
    body = response.json()
    assert isinstance(body, dict), "not the envelope"
    assert body.get("code") == status, "the code does not mirror the status"
    assert isinstance(body.get("message"), str), "no message"
    assert "data" in body, "no data"
    if status >= 400:
        assert isinstance(body.get("reason"), str), "no reason"
    if not case.operation.definition.raw.get("security"):
        return
    if who == "authenticated":
        assert body.get("reason") not in CREDENTIAL_REFUSED, "the right credential was refused"
    else:
        assert status in (401, 403), "answered without the right credential"


def exercise(service: str, case: Any, stack: ThreadedServices, who: str) -> None:
    if who == "authenticated":
        headers = credential(service, case, stack)
    else:
        headers = wrong_credential(service, case, stack)
    use_real_ids(service, case, stack)
    make_hostile(case)
    stack.errors.take()  # what an earlier, failed case logged is that case's
    response = case.call(base_url=stack.url(service), headers=headers, timeout=REQUEST_TIMEOUT)
    sent = (
        f"\n  sent {case.method} {case.formatted_path} query={short(case.query)} "
        f"body={short(case.body)}\n  got {response.status_code} {short(response.text)}"
    )
    try:
        check_answer(case, response, who)
        case.validate_response(response, headers=headers)
    except FailureGroup as group:
        found = "; ".join(f"{one.title}: {short(one.message, 200)}" for one in group.exceptions)
        raise AssertionError(found + sent) from None
    except AssertionError as failed:
        raise AssertionError(f"{failed}{sent}") from None
    logged = stack.errors.take()
    assert not logged, f"logged as an error: {logged}{sent}"


WHO = pytest.mark.parametrize("who", ["authenticated", "anonymous"])


@SCHEMAS["auth"].parametrize()
@WHO
def test_auth_api(case: Any, stack: ThreadedServices, who: str) -> None:
    exercise("auth", case, stack, who)


@SCHEMAS["registry"].parametrize()
@WHO
def test_registry_api(case: Any, stack: ThreadedServices, who: str) -> None:
    exercise("registry", case, stack, who)


@SCHEMAS["router"].parametrize()
@WHO
def test_router_api(case: Any, stack: ThreadedServices, who: str) -> None:
    exercise("router", case, stack, who)


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_the_fuzzed_document_is_the_one_served(stack: ThreadedServices, service: str) -> None:
    status, served = stack.run(stack.services.call(service, "GET", "/openapi.json"))
    assert status == 200
    assert served["paths"] == DOCUMENTS[service]["paths"]
    assert served["components"] == DOCUMENTS[service]["components"]


# What HTTP lets a header carry, and requests sends (no white space at either end): aiohttp's
# parser refuses the other control characters itself, before any handler runs (issue 12's
# item on header and request-line limits).
HEADER_CHARACTERS = st.characters(codec="latin-1", exclude_categories=["Cc"]) | st.just("\t")
HEADER_TEXT = st.text(HEADER_CHARACTERS, max_size=60).map(str.strip)
ORIGINAL_URIS = st.one_of(
    st.tuples(st.sampled_from(["/agent", "/admin", "/nowhere", "", "/"]), HEADER_TEXT).map("".join),
    st.sampled_from(["/agent/", "/admin/x?y=1", "/agent/%2e%2e/admin/", "/agent/..;/admin"]),
)


@seed(SEED)
@settings(max_examples=EXAMPLES * 4, deadline=None, database=None)
@given(
    uri=st.none() | ORIGINAL_URIS | HEADER_TEXT,
    portal=st.none() | st.sampled_from(["agent", "admin"]) | HEADER_TEXT,
    authorization=st.none()
    | st.sampled_from(["admin", "user", "service"])
    | HEADER_TEXT.map("Bearer {}".format),
    cookie=st.none() | HEADER_TEXT.map("latchkey_session={}".format) | HEADER_TEXT,
    sender=st.none() | st.sampled_from(["https://crm.example.com", "null"]) | HEADER_TEXT,
)
@example(uri="/admin/", portal="admin", authorization="admin", cookie=None, sender=None)
@example(uri="/agent/x", portal=None, authorization="user", cookie=None, sender=None)
def test_forward_auth_takes_any_headers(
    stack: ThreadedServices,
    uri: str | None,
    portal: str | None,
    authorization: str | None,
    cookie: str | None,
    sender: str | None,
) -> None:
    """Forward-auth reads only headers, which its document does not describe: fuzzed here,
    its answers checked as every other operation's."""
    tokens = {
        "admin": f"Bearer {stack.facts['admin']}",
        "user": f"Bearer {stack.facts['user_token']}",
        "service": as_service("router")["Authorization"],
    }
    headers = {
        "X-Original-URI": uri,
        "X-Latchkey-Portal": portal,
        "Authorization": tokens.get(authorization or "", authorization),
        "Cookie": cookie,
        "Origin": sender,
    }
    sent = {name: value for name, value in headers.items() if value is not None}
    case = SCHEMAS["router"]["/_latchkey/verify"]["GET"].Case(headers=sent)
    stack.errors.take()
    response = case.call(base_url=stack.url("router"), timeout=REQUEST_TIMEOUT)
    described = f"\n  sent {short(sent)}\n  got {response.status_code} {short(response.text)}"
    try:
        check_answer(case, response, "anonymous")
        case.validate_response(response)
    except FailureGroup as group:
        found = "; ".join(f"{one.title}: {short(one.message, 200)}" for one in group.exceptions)
        raise AssertionError(found + described) from None
    except AssertionError as failed:
        raise AssertionError(f"{failed}{described}") from None
    if response.status_code == 200:
        assert response.headers.get("x-latchkey-user"), f"no identity headers{described}"
    logged = stack.errors.take()
    assert not logged, f"logged as an error: {logged}{described}"
