"""An admin generates an access token for a user through the registry; auth signs it (both
in this process, against real PostgreSQL and RabbitMQ)."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from tests.support.apps import Services, ServicesFactory
from tests.support.credentials import AS_AUTH

INTERNAL = AS_AUTH


async def generate(services: Services, admin: str, **body: Any) -> Any:
    return await services.call("registry", "POST", "/api/v1/tokens", token=admin, json=body)


async def test_generated_token_is_shown_once_recorded_and_works(services: Services) -> None:
    admin = await services.token()
    user = await services.create_user(admin, "crm-user", portals=["agent"])
    reply = await generate(
        services,
        admin,
        userId=user["userId"],
        name="CRM <b>link</b>",
        description="for the CRM",
        allowedDomains=["crm.example.com"],
    )
    assert reply.status == 201, reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    token = reply.data["accessToken"]
    record = reply.data["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == user["userId"]
    assert claims["portals"] == ["agent"]
    assert claims["domains"] == ["crm.example.com"]
    assert record["kind"] == "access"
    assert record["name"] == "CRM <b>link</b>"
    assert record["createdBy"].startswith("root")
    assert claims["exp"] - claims["iat"] == 30 * 86400

    shown = await services.call("registry", "GET", f"/api/v1/tokens/{claims['jti']}", token=admin)
    assert token not in str(shown.body)
    active = await services.call(
        "registry", "POST", "/internal/v1/introspect", json={"token": token}, headers=INTERNAL
    )
    assert active.data["active"] is True
    await services.call(
        "registry",
        "POST",
        f"/api/v1/tokens/{claims['jti']}/revoke",
        token=admin,
        json={"reason": "test"},
    )
    revoked = await services.call(
        "registry", "POST", "/internal/v1/introspect", json={"token": token}, headers=INTERNAL
    )
    assert revoked.data == {"active": False, "reason": "token_revoked"}


async def test_a_token_no_other_site_may_frame_says_so_when_generated(services: Services) -> None:
    """An embeddable portal's token with no allowed domains (and no policy) is refused in
    every other site's iframe: the admin learns it when generating it, not from a user."""
    admin = await services.token()
    user = await services.create_user(admin, "framed-user", portals=["agent", "admin"])

    async def framing(**body: Any) -> Any:
        reply = await generate(services, admin, userId=user["userId"], name="t", **body)
        assert reply.status == 201, reply.body
        assert (reply.data["framing"] is not None) == ("frame" in reply.body["message"])
        return reply.data["framing"]

    assert "No other site may frame" in await framing()
    assert await framing(portals=["agent"], allowedDomains=["crm.example.com"]) is None
    assert await framing(portals=["admin"]) is None  # admin is not embeddable
    policy = await services.call(
        "registry",
        "PUT",
        "/api/v1/domain-policy",
        token=admin,
        json={"domains": ["intranet.example.org"]},
    )
    assert policy.status == 200, policy.body
    assert await framing(portals=["agent"]) is None


async def test_expiry_and_portals_are_bounded(start_services: ServicesFactory) -> None:
    services = await start_services(overrides={"auth": {"access_token_max_lifetime": 86400}})
    admin = await services.token()
    user = await services.create_user(admin, "bounded", portals=["agent"])
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    reply = await generate(services, admin, userId=user["userId"], name="short", expiresAt=soon)
    assert reply.status == 201
    exp = jwt.decode(reply.data["accessToken"], options={"verify_signature": False})["exp"]
    assert abs(exp - (time.time() + 7200)) < 5

    for body, field in [
        ({"expiresAt": (datetime.now(UTC) + timedelta(days=2)).isoformat()}, "expiresAt"),
        ({"expiresAt": (datetime.now(UTC) - timedelta(days=1)).isoformat()}, "expiresAt"),
        ({"portals": ["admin"]}, "portals"),
    ]:
        refused = await generate(services, admin, userId=user["userId"], name="x", **body)
        assert (refused.status, refused.reason) == (422, "validation_failed"), refused.body
        assert refused.data[0]["field"] == field


BAD_REQUESTS: list[tuple[dict[str, Any], int]] = [
    ({"userId": "00000000-0000-0000-0000-000000000000", "name": "x"}, 404),
    ({"userId": "not-a-uuid", "name": "x"}, 422),
    ({"name": "x"}, 422),
    ({"userId": "00000000-0000-0000-0000-000000000000"}, 422),
    ({"userId": "u", "name": "x", "allowedDomains": ["https://x.com"]}, 422),
    ({"userId": "u", "name": "x", "expiresAt": "tomorrow"}, 422),
]


async def test_bad_generation_requests_are_refused(services: Services) -> None:
    admin = await services.token()
    for body, status in BAD_REQUESTS:
        reply = await generate(services, admin, **body)
        assert reply.status == status, (body, reply.body)
        assert "accessToken" not in str(reply.body)


async def test_no_token_for_a_disabled_user(services: Services) -> None:
    admin = await services.token()
    user = await services.create_user(admin, "gone")
    await services.call(
        "auth", "PATCH", f"/auth/v1/users/{user['userId']}", token=admin, json={"disabled": True}
    )
    reply = await generate(services, admin, userId=user["userId"], name="x")
    assert (reply.status, reply.reason) == (403, "user_disabled")
