"""Every kind of bad input to the registry gets the right envelope, never a 500 or a trace."""

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.issuer import SigningKey
from tests.support.registry import INTERNAL, Registry, new_jti, record_body

ADMIN_ROUTES = [
    ("GET", "/api/v1/tokens"),
    ("GET", "/api/v1/tokens/{jti}"),
    ("PATCH", "/api/v1/tokens/{jti}"),
    ("POST", "/api/v1/tokens/{jti}/revoke"),
    ("POST", "/api/v1/users/someone/revoke"),
    ("GET", "/api/v1/domain-policy"),
    ("PUT", "/api/v1/domain-policy"),
    ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/tokens"),
    ("GET", "/api/v1/instances"),
    ("GET", "/api/v1/events/1/delivery"),
]

INTERNAL_ROUTES = [
    ("POST", "/internal/v1/tokens"),
    ("POST", "/internal/v1/tokens/{jti}/revoke"),
    ("POST", "/internal/v1/introspect"),
    ("GET", "/internal/v1/token-state"),
    ("GET", "/internal/v1/events?after=0"),
    ("POST", "/internal/v1/users/someone/revoke"),
    ("POST", "/internal/v1/instances/report"),
    ("POST", "/internal/v1/token-state/check"),
    ("GET", "/internal/v1/token-state/status"),
    ("POST", "/internal/v1/tokens/{jti}/deep-link"),
]

BAD_DOMAINS = [
    "https://example.com",
    "example.com/path",
    "*",
    "*.com",
    "a.*.example.com",
    "10.0.0.0/8",
    "10.0.0.*",
    "",
    "exa mple.com",
    "user@example.com",
    "example.com:99999",
    "example.com:abc",
    "::1",
    "-bad-.example.com",
    "example..com",
    "*.10.0.0.1",
    "a" * 64 + ".example.com",
]


def expect_error(status: int, body: dict[str, Any], code: int, reason: str) -> None:
    """The HTTP status, and the envelope that mirrors it with a stable reason."""
    assert (status, body["code"], body["reason"]) == (code, code, reason), body
    assert isinstance(body["message"], str)
    assert body["message"]
    assert "Traceback" not in str(body)


async def send(registry: Registry, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    response = await registry.client.request(method, path, **kw)
    return response.status, await response.json()


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_refuse_a_missing_bearer_token(
    registry: Registry, method: str, path: str
) -> None:
    response = await registry.client.request(method, path.format(jti=new_jti()), json={})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    expect_error(response.status, await response.json(), 401, "token_missing")


@pytest.mark.parametrize(("method", "path"), INTERNAL_ROUTES)
@pytest.mark.parametrize("credential", [None, "Bearer wrong", "Basic abc", "Bearer "])
async def test_internal_routes_refuse_a_wrong_service_credential(
    registry: Registry, method: str, path: str, credential: str | None
) -> None:
    headers = {"Authorization": credential} if credential else {}
    status, body = await send(
        registry, method, path.format(jti=new_jti()), json={}, headers=headers
    )
    expect_error(status, body, 401, "invalid_service_credential")


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "bearer", "Token abc"]
)
async def test_malformed_authorization_headers_are_refused(registry: Registry, header: str) -> None:
    status, body = await send(registry, "GET", "/api/v1/tokens", headers={"Authorization": header})
    assert status == 401
    assert body["reason"] in {"token_invalid", "token_missing"}


def hs256_token(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """The key-confusion attack: HMAC keyed with the issuer's public key (RFC 8725 §2.1)."""
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = ".".join(
        jwt.utils.base64url_encode(json.dumps(part).encode()).decode() for part in (header, claims)
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{jwt.utils.base64url_encode(signature).decode()}"


def forged_tokens(registry: Registry) -> dict[str, tuple[str, str]]:
    """Tokens that must never be honoured, with the reason each must get."""
    issuer = registry.issuer
    key = issuer.keys[0]
    now = int(time.time())
    admin = {"roles": ["admin"], "portals": ["admin"]}
    public_pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    valid, _ = issuer.token(**admin)
    head, _, signature = valid.split(".")
    swapped = jwt.utils.base64url_encode(json.dumps({"sub": "x"}).encode()).decode()
    past = {"iat": now - 100, "nbf": now - 100}
    return {
        "signed by another key under our kid": (
            issuer.sign(issuer.claims(**admin), key=SigningKey.generate(kid=key.kid)),
            "token_invalid",
        ),
        "alg none": (
            jwt.encode(issuer.claims(**admin), None, algorithm="none", headers={"kid": key.kid}),
            "token_invalid",
        ),
        "HS256 keyed with the public key": (
            hs256_token(public_pem, issuer.claims(**admin), key.kid),
            "token_invalid",
        ),
        "payload swapped under a valid signature": (
            f"{head}.{swapped}.{signature}",
            "token_invalid",
        ),
        "unknown kid": (issuer.sign(issuer.claims(**admin), kid="nope"), "token_invalid"),
        "expired": (issuer.token(exp=now - 1, **past, **admin)[0], "token_expired"),
        "not yet valid": (issuer.token(nbf=now + 600, **admin)[0], "token_invalid"),
        "wrong audience": (issuer.token(aud="someone-else", **admin)[0], "token_invalid"),
        "wrong issuer": (issuer.token(iss="evil", **admin)[0], "token_invalid"),
        "no jti": (issuer.token(jti=None, **admin)[0], "token_invalid"),
        "no exp": (issuer.token(exp=None, **admin)[0], "token_invalid"),
        "jti not a uuid": (issuer.token(jti="abc", **admin)[0], "token_invalid"),
        "never recorded": (valid, "token_invalid"),
        "garbage": ("not.a.token", "token_invalid"),
        "too long": ("a." * 4000 + "a", "token_invalid"),
    }


async def test_forged_expired_and_unrecorded_tokens_are_refused(registry: Registry) -> None:
    for case, (token, reason) in forged_tokens(registry).items():
        status, body = await send(
            registry, "GET", "/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}
        )
        assert (status, body.get("reason")) == (401, reason), case


async def test_non_admin_token_is_forbidden(registry: Registry) -> None:
    token, _ = await registry.record(roles=["agent"])
    status, body = await send(
        registry, "GET", "/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}
    )
    expect_error(status, body, 403, "forbidden")


async def test_revoked_or_disabled_admin_tokens_are_refused(registry: Registry) -> None:
    admin = await registry.admin()
    for change, reason in (({"disabled": True}, "token_disabled"), (None, "token_revoked")):
        token, claims = await registry.record(roles=["admin"])
        path = f"/api/v1/tokens/{claims['jti']}"
        if change:
            await send(registry, "PATCH", path, json=change, headers=admin)
        else:
            await send(registry, "POST", path + "/revoke", json={"reason": "x"}, headers=admin)
        status, body = await send(
            registry, "GET", "/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}
        )
        expect_error(status, body, 401, reason)


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"", 400, "malformed_json"),
        (b"[]", 422, "validation_failed"),
        (b'"text"', 422, "validation_failed"),
        (b'{"reason": 123}', 422, "validation_failed"),
        (b'{"reason": ""}', 422, "validation_failed"),
        (b'{"reason": "x", "extra": 1}', 422, "validation_failed"),
        (b'{"reason": "' + b"x" * 70_000 + b'"}', 413, "payload_too_large"),
        (b"\xff\xfe", 400, "malformed_json"),
    ],
)
async def test_bad_revoke_bodies_get_clear_errors(
    registry: Registry, raw: bytes, status: int, reason: str
) -> None:
    admin = await registry.admin()
    _, claims = await registry.record()
    response = await registry.client.post(
        f"/api/v1/tokens/{claims['jti']}/revoke",
        data=raw,
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status == status
    expect_error(response.status, await response.json(), status, reason)


async def test_validation_errors_name_the_field_but_never_echo_the_value(
    registry: Registry,
) -> None:
    admin = await registry.admin()
    _, claims = await registry.record()
    status, body = await send(
        registry,
        "PATCH",
        f"/api/v1/tokens/{claims['jti']}",
        json={"disabled": "secret-value-xyz"},
        headers=admin,
    )
    assert status == 422
    assert body["data"][0]["field"] == "disabled"
    assert "secret-value-xyz" not in str(body)


@pytest.mark.parametrize(
    "patch",
    [{}, {"name": None}, {"disabled": None}, {"allowedDomains": "example.com"}, {"name": 5}],
)
async def test_patches_that_change_nothing_or_are_mistyped_are_refused(
    registry: Registry, patch: dict[str, Any]
) -> None:
    admin = await registry.admin()
    _, claims = await registry.record()
    status, body = await send(
        registry, "PATCH", f"/api/v1/tokens/{claims['jti']}", json=patch, headers=admin
    )
    expect_error(status, body, 422, "validation_failed")


@pytest.mark.parametrize("domain", BAD_DOMAINS)
async def test_bad_domain_patterns_are_a_clear_422(registry: Registry, domain: str) -> None:
    admin = await registry.admin()
    status, body = await send(
        registry, "PUT", "/api/v1/domain-policy", json={"domains": [domain]}, headers=admin
    )
    expect_error(status, body, 422, "validation_failed")
    assert body["data"][0]["field"].startswith("domains")


@pytest.mark.parametrize("jti", ["not-a-uuid", "1' OR '1'='1", "%00"])
async def test_malformed_jti_is_404(registry: Registry, jti: str) -> None:
    admin = await registry.admin()
    for method, suffix, body in (("GET", "", None), ("POST", "/revoke", {"reason": "x"})):
        status, answer = await send(
            registry, method, f"/api/v1/tokens/{jti}{suffix}", json=body, headers=admin
        )
        expect_error(status, answer, 404, "not_found")


async def test_an_unknown_jti_has_no_record_to_show(registry: Registry) -> None:
    admin = await registry.admin()
    status, answer = await send(registry, "GET", f"/api/v1/tokens/{new_jti()}", headers=admin)
    expect_error(status, answer, 404, "not_found")


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=abc",
        "limit=100000",
        "status=bogus",
        "kind=root",
        "cursor=%%%",
        "x=1",
        "q=a%00b",
        "userId=%00",
        "username=a%0Ab",
        "cursor=%00",
    ],
)
async def test_bad_list_queries_are_422(registry: Registry, query: str) -> None:
    admin = await registry.admin()
    status, body = await send(registry, "GET", f"/api/v1/tokens?{query}", headers=admin)
    expect_error(status, body, 422, "validation_failed")


@pytest.mark.parametrize(
    "override",
    [
        {"expiresAt": "2000-01-01T00:00:00Z"},
        {"expiresAt": "2099-01-01T00:00:00"},
        {"kind": "root"},
        {"jti": "abc"},
        {"userId": ""},
        {"allowedDomains": ["https://x.com"]},
        {"portals": "agent"},
        {"issuedAt": "0001-01-01T00:00:00+14:00"},  # year 0 in UTC: it answered 500
        {"expiresAt": "9999-12-31T23:59:59-14:00"},
        {"username": "a\x00b"},
    ],
)
async def test_bad_token_records_are_refused(registry: Registry, override: dict[str, Any]) -> None:
    _, claims = registry.issuer.token()
    status, body = await send(
        registry,
        "POST",
        "/internal/v1/tokens",
        json=record_body(claims, **override),
        headers=INTERNAL,
    )
    expect_error(status, body, 422, "validation_failed")


@pytest.mark.parametrize(
    "query", ["before=0", "before=abc", "before=²", "before=" + "9" * 20, "target=a%00b"]
)
async def test_bad_audit_queries_are_422(registry: Registry, query: str) -> None:
    admin = await registry.admin()
    status, body = await send(registry, "GET", f"/api/v1/audit?{query}", headers=admin)
    expect_error(status, body, 422, "validation_failed")


@pytest.mark.parametrize(
    "query", ["after=-1", "after=abc", "", "after=1&limit=0", "after=1e23", "after=" + "9" * 20]
)
async def test_bad_event_queries_are_422(registry: Registry, query: str) -> None:
    status, body = await send(registry, "GET", f"/internal/v1/events?{query}", headers=INTERNAL)
    expect_error(status, body, 422, "validation_failed")


async def test_unknown_routes_and_methods_get_the_envelope(registry: Registry) -> None:
    status, body = await send(registry, "GET", "/no/such/thing")
    expect_error(status, body, 404, "not_found")
    response = await registry.client.delete("/api/v1/domain-policy")
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    expect_error(response.status, await response.json(), 405, "method_not_allowed")


async def test_a_header_longer_than_the_parser_accepts_is_a_400(registry: Registry) -> None:
    response = await registry.client.get(
        "/api/v1/tokens", headers={"Authorization": "Bearer " + "a" * 9000}
    )
    assert response.status == 400


@pytest.mark.parametrize("seq", ["999999", "abc", "-1", "²", "9" * 20])
async def test_delivery_of_an_unknown_change_is_404(registry: Registry, seq: str) -> None:
    admin = await registry.admin()
    status, body = await send(registry, "GET", f"/api/v1/events/{seq}/delivery", headers=admin)
    expect_error(status, body, 404, "not_found")


@pytest.mark.parametrize(
    "report",
    [
        {},
        {"instanceId": "x", "service": "s", "appliedSeq": -1, "startedAt": "2030-01-01T00:00:00Z",
         "mode": "live"},
        {"instanceId": "x", "service": "s", "appliedSeq": 1, "startedAt": "2030-01-01T00:00:00Z",
         "mode": "sleepy"},
        {"instanceId": "", "service": "s", "appliedSeq": 1, "startedAt": "2030-01-01T00:00:00Z",
         "mode": "live"},
    ],
)  # fmt: skip
async def test_bad_instance_reports_are_422(registry: Registry, report: dict[str, Any]) -> None:
    status, body = await send(
        registry, "POST", "/internal/v1/instances/report", json=report, headers=INTERNAL
    )
    expect_error(status, body, 422, "validation_failed")


GOOD_REPORT = {"instanceId": "auth-1", "service": "auth", "appliedSeq": 1,
               "startedAt": "2030-01-01T00:00:00Z", "mode": "live"}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"instanceId": "auth\x00-1"}, "instanceId"),
        ({"appliedSeq": 2**63}, "appliedSeq"),
        ({"applied": [{"seq": 2**70, "appliedAt": "2030-01-01T00:00:00Z"}]}, "applied.0.seq"),
        ({"startedAt": "0001-01-01T00:00:00Z"}, "startedAt"),
        ({"startedAt": "9999-12-31T23:59:59Z"}, "startedAt"),
        ({"used": [{"jti": str(uuid.UUID(int=1)), "at": "0001-01-01T00:00:00+14:00"}]},
         "used.0.at"),
    ],
)  # fmt: skip
async def test_instance_reports_postgresql_could_not_store_are_422(
    registry: Registry, change: dict[str, Any], field: str
) -> None:
    """Found by the fuzzing: the NUL and the integers answered 500 (asyncpg refused them) and
    the date in year 0 overflowed; a report from year 1 or 9999 was stored as it came."""
    status, body = await send(
        registry,
        "POST",
        "/internal/v1/instances/report",
        json={**GOOD_REPORT, **change},
        headers=INTERNAL,
    )
    expect_error(status, body, 422, "validation_failed")
    assert [item["field"] for item in body["data"]] == [field]
    status, body = await send(
        registry, "POST", "/internal/v1/instances/report", json=GOOD_REPORT, headers=INTERNAL
    )
    assert status == 200, body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"userId": "not-a-uuid"}, "userId"),
        ({"expiresAt": "0001-01-01T00:00:00+14:00"}, "expiresAt"),
    ],
)
async def test_generating_a_token_checks_its_user_and_expiry_first(
    registry: Registry, change: dict[str, Any], field: str
) -> None:
    """A user id auth cannot have passed the document and was refused only as the registry
    built its request to auth, naming `user_id` rather than the field sent; a date in year 0
    overflowed."""
    admin = await registry.admin()
    status, body = await send(
        registry,
        "POST",
        "/api/v1/tokens",
        json={"userId": str(uuid.UUID(int=2)), "name": "n", **change},
        headers=admin,
    )
    expect_error(status, body, 422, "validation_failed")
    assert [item["field"] for item in body["data"]] == [field]
