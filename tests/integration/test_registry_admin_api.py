"""The registry's admin API against real PostgreSQL and RabbitMQ: each operation and its event."""

import time
from typing import Any

from tests.support.events import EventTap
from tests.support.registry import INTERNAL, Registry, new_jti, record_body


async def call(registry: Registry, method: str, path: str, headers: dict[str, str], **kw: Any):
    response = await registry.client.request(method, path, headers=headers, **kw)
    return response.status, await response.json()


async def test_recorded_token_is_listed_and_shown_without_the_token_string(
    registry: Registry,
) -> None:
    admin = await registry.admin()
    token, claims = await registry.record(name="alice", channel="FLUTTER")
    status, body = await call(registry, "GET", f"/api/v1/tokens/{claims['jti']}", admin)
    assert status == 200
    record = body["data"]
    assert record["jti"] == claims["jti"]
    assert record["userId"] == claims["sub"]
    assert record["status"] == "active"
    assert record["channel"] == "FLUTTER"
    assert token not in str(body)
    status, body = await call(registry, "GET", f"/api/v1/tokens?userId={claims['sub']}", admin)
    assert status == 200
    assert [item["jti"] for item in body["data"]["items"]] == [claims["jti"]]


async def test_revoke_emits_one_event_and_is_idempotent(
    registry: Registry, infra: Any, exchange: str
) -> None:
    admin = await registry.admin()
    _, claims = await registry.record()
    async with EventTap(infra.amqp_url, exchange) as tap:
        status, body = await call(
            registry,
            "POST",
            f"/api/v1/tokens/{claims['jti']}/revoke",
            admin,
            json={"reason": "lost phone"},
        )
        assert status == 200
        assert body["data"]["status"] == "revoked"
        assert body["data"]["revokeReason"] == "lost phone"
        assert body["data"]["revokedBy"].startswith("root")
        event = await tap.next()
        assert event["type"] == "token.revoked"
        assert event["jti"] == claims["jti"]
        assert event["seq"] == body["data"]["eventSeq"]

        status, again = await call(
            registry,
            "POST",
            f"/api/v1/tokens/{claims['jti']}/revoke",
            admin,
            json={"reason": "again"},
        )
        assert status == 200
        assert again["data"]["eventSeq"] is None
        assert again["data"]["revokeReason"] == "lost phone"
        assert [e for e in await tap.quiet() if e.get("jti") == claims["jti"]] == []


async def test_disable_enable_and_domain_changes_emit_their_events(
    registry: Registry, infra: Any, exchange: str
) -> None:
    admin = await registry.admin()
    _, claims = await registry.record()
    path = f"/api/v1/tokens/{claims['jti']}"
    async with EventTap(infra.amqp_url, exchange) as tap:
        status, body = await call(registry, "PATCH", path, admin, json={"disabled": True})
        assert (status, body["data"]["status"]) == (200, "disabled")
        assert (await tap.next())["type"] == "token.disabled"

        status, body = await call(registry, "PATCH", path, admin, json={"disabled": False})
        assert (status, body["data"]["status"]) == (200, "active")
        assert (await tap.next())["type"] == "token.enabled"

        status, body = await call(
            registry,
            "PATCH",
            path,
            admin,
            json={"allowedDomains": ["Portal.Example.COM.", "*.crm.example.org:8443"]},
        )
        assert status == 200
        assert body["data"]["allowedDomains"] == ["portal.example.com", "*.crm.example.org:8443"]
        event = await tap.next()
        assert event["type"] == "token.domains_changed"
        assert event["domains"] == ["portal.example.com", "*.crm.example.org:8443"]

        status, body = await call(registry, "PATCH", path, admin, json={"name": "CRM link"})
        assert (status, body["data"]["name"], body["data"]["eventSeq"]) == (200, "CRM link", None)
        assert await tap.quiet() == []


async def test_a_revoked_token_cannot_be_enabled_again(registry: Registry) -> None:
    admin = await registry.admin()
    _, claims = await registry.record()
    path = f"/api/v1/tokens/{claims['jti']}"
    await call(registry, "POST", path + "/revoke", admin, json={"reason": "done"})
    status, body = await call(registry, "PATCH", path, admin, json={"disabled": False})
    assert (status, body["reason"]) == (409, "revoked_is_final")
    status, body = await call(registry, "PATCH", path, admin, json={"description": "kept"})
    assert (status, body["data"]["description"]) == (200, "kept")


async def test_revoking_a_user_revokes_every_token_issued_so_far_in_one_event(
    registry: Registry, infra: Any, exchange: str
) -> None:
    admin = await registry.admin()
    user = f"user-{new_jti()[:8]}"
    first = (await registry.record(sub=user))[1]
    second = (await registry.record(sub=user))[1]
    other = (await registry.record())[1]
    async with EventTap(infra.amqp_url, exchange) as tap:
        status, body = await call(
            registry, "POST", f"/api/v1/users/{user}/revoke", admin, json={"reason": "left"}
        )
        assert status == 200
        assert body["data"]["revokedTokens"] == 2
        event = await tap.next()
        assert event["type"] == "user.revoked"
        assert event["userId"] == user
        assert {t["jti"] for t in event["tokens"]} == {first["jti"], second["jti"]}
    for jti, expected in ((first["jti"], "revoked"), (other["jti"], "active")):
        _, body = await call(registry, "GET", f"/api/v1/tokens/{jti}", admin)
        assert body["data"]["status"] == expected


async def test_a_token_issued_after_a_user_revocation_still_works(registry: Registry) -> None:
    admin = await registry.admin()
    user = f"user-{new_jti()[:8]}"
    await call(registry, "POST", f"/api/v1/users/{user}/revoke", admin, json={"reason": "reset"})
    _, claims = await registry.record(sub=user)
    _, body = await call(registry, "GET", f"/api/v1/tokens/{claims['jti']}", admin)
    assert body["data"]["status"] == "active"


async def test_recording_a_token_signed_before_its_users_revocation_is_refused(
    registry: Registry,
) -> None:
    admin = await registry.admin()
    user = f"user-{new_jti()[:8]}"
    _, late = registry.issuer.token(sub=user, iat=int(time.time()) - 5)
    await call(registry, "POST", f"/api/v1/users/{user}/revoke", admin, json={"reason": "reset"})
    response = await registry.client.post(
        "/internal/v1/tokens", json=record_body(late), headers=INTERNAL
    )
    assert response.status == 409
    assert (await response.json())["reason"] == "subject_revoked"


async def test_domain_policy_is_replaced_and_announced(
    registry: Registry, infra: Any, exchange: str
) -> None:
    admin = await registry.admin()
    async with EventTap(infra.amqp_url, exchange) as tap:
        status, body = await call(
            registry,
            "PUT",
            "/api/v1/domain-policy",
            admin,
            json={"domains": ["intranet.example.com", "*.crm.example.com", "localhost:3000"]},
        )
        assert status == 200
        event = await tap.next()
    assert event["type"] == "policy.changed"
    assert event["domains"] == ["intranet.example.com", "*.crm.example.com", "localhost:3000"]
    status, body = await call(registry, "GET", "/api/v1/domain-policy", admin)
    assert body["data"]["domains"] == event["domains"]
    await call(registry, "PUT", "/api/v1/domain-policy", admin, json={"domains": []})


async def test_audit_log_says_who_changed_what(registry: Registry) -> None:
    admin = await registry.admin(sub="admin-audit")
    _, claims = await registry.record()
    await call(
        registry,
        "POST",
        f"/api/v1/tokens/{claims['jti']}/revoke",
        admin,
        json={"reason": "audit me"},
    )
    status, body = await call(registry, "GET", f"/api/v1/audit?target={claims['jti']}", admin)
    assert status == 200
    [entry] = body["data"]["items"]
    assert entry["action"] == "token.revoke"
    assert entry["actorId"] == "admin-audit"
    assert entry["details"] == {"reason": "audit me"}


async def test_list_filters_and_keyset_pages_cover_every_token_once(registry: Registry) -> None:
    admin = await registry.admin()
    user = f"user-{new_jti()[:8]}"
    jtis = set()
    for index in range(7):
        _, claims = await registry.record(sub=user, iat=int(time.time()) - index)
        jtis.add(claims["jti"])
    _, revoked = await registry.record(sub=user)
    await call(
        registry, "POST", f"/api/v1/tokens/{revoked['jti']}/revoke", admin, json={"reason": "x"}
    )

    seen: list[str] = []
    cursor = ""
    while True:
        query = f"/api/v1/tokens?userId={user}&status=active&limit=3" + (
            f"&cursor={cursor}" if cursor else ""
        )
        status, body = await call(registry, "GET", query, admin)
        assert status == 200
        seen += [item["jti"] for item in body["data"]["items"]]
        cursor = body["data"]["nextCursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == jtis
    _, body = await call(registry, "GET", f"/api/v1/tokens?userId={user}&status=revoked", admin)
    assert [item["jti"] for item in body["data"]["items"]] == [revoked["jti"]]


async def test_name_search_treats_wildcards_as_text(registry: Registry) -> None:
    admin = await registry.admin()
    user = f"user-{new_jti()[:8]}"
    _, plain = await registry.record(sub=user)
    _, percent = await registry.record(sub=user)
    await call(registry, "PATCH", f"/api/v1/tokens/{plain['jti']}", admin, json={"name": "CRM a"})
    await call(
        registry, "PATCH", f"/api/v1/tokens/{percent['jti']}", admin, json={"name": "100% CRM"}
    )
    _, body = await call(registry, "GET", f"/api/v1/tokens?userId={user}&q=crm", admin)
    assert len(body["data"]["items"]) == 2
    _, body = await call(registry, "GET", f"/api/v1/tokens?userId={user}&q=%25", admin)
    assert [item["jti"] for item in body["data"]["items"]] == [percent["jti"]]


async def test_introspection_answers_rfc7662_for_active_and_revoked_tokens(
    registry: Registry,
) -> None:
    admin = await registry.admin()
    token, claims = await registry.record(domains=["app.example.com"])
    response = await registry.client.post(
        "/internal/v1/introspect", json={"token": token}, headers=INTERNAL
    )
    data = (await response.json())["data"]
    assert data["active"] is True
    assert data["sub"] == claims["sub"]
    assert data["token_type"] == "Bearer"
    assert data["domains"] == ["app.example.com"]
    await call(
        registry, "POST", f"/api/v1/tokens/{claims['jti']}/revoke", admin, json={"reason": "x"}
    )
    response = await registry.client.post(
        "/internal/v1/introspect", data={"token": token}, headers=INTERNAL
    )
    assert (await response.json())["data"] == {"active": False, "reason": "token_revoked"}


async def test_logout_through_the_internal_api_revokes_the_token(registry: Registry) -> None:
    admin = await registry.admin()
    _, claims = await registry.record()
    response = await registry.client.post(
        f"/internal/v1/tokens/{claims['jti']}/revoke",
        json={"reason": "logout", "actorId": claims["sub"], "actorName": "someone"},
        headers=INTERNAL,
    )
    assert response.status == 200
    _, body = await call(registry, "GET", f"/api/v1/tokens/{claims['jti']}", admin)
    assert body["data"]["status"] == "revoked"
    assert body["data"]["revokeReason"] == "logout"


async def test_recording_the_same_token_twice_is_harmless(registry: Registry) -> None:
    _, claims = registry.issuer.token()
    for _ in range(2):
        response = await registry.client.post(
            "/internal/v1/tokens", json=record_body(claims), headers=INTERNAL
        )
        assert response.status == 201
    clash = record_body(claims, userId="someone-else")
    response = await registry.client.post("/internal/v1/tokens", json=clash, headers=INTERNAL)
    assert response.status == 409


async def test_openapi_document_lists_every_route(registry: Registry) -> None:
    response = await registry.client.get("/openapi.json")
    document = await response.json()
    assert document["openapi"].startswith("3.1")
    assert {"/api/v1/tokens", "/api/v1/tokens/{jti}/revoke", "/internal/v1/events"} <= set(
        document["paths"]
    )


async def test_any_jti_can_be_revoked_known_or_not(registry: Registry) -> None:
    """A token signed but never recorded (or one an admin only knows the jti of) is revoked
    like any other: the revocation is kept, announced, and refuses recording it later."""
    admin = await registry.admin()
    token, claims = registry.issuer.token()
    async with EventTap(
        registry.settings.amqp_url.get_secret_value(), registry.settings.events_exchange
    ) as tap:
        response = await registry.client.post(
            f"/api/v1/tokens/{claims['jti']}/revoke", json={"reason": "leaked"}, headers=admin
        )
        body = await response.json()
        assert response.status == 200, body
        assert (body["data"]["kind"], body["data"]["status"]) == ("unknown", "revoked")
        event = await tap.next()
    assert (event["type"], event["jti"], event["seq"]) == (
        "token.revoked",
        claims["jti"],
        body["data"]["eventSeq"],
    )
    again = await registry.client.post(
        f"/api/v1/tokens/{claims['jti']}/revoke", json={"reason": "leaked"}, headers=admin
    )
    assert (await again.json())["data"]["eventSeq"] is None, "revoking again changes nothing"
    late = await registry.client.post(
        "/internal/v1/tokens", json=record_body(claims), headers=INTERNAL
    )
    assert (late.status, (await late.json())["reason"]) == (409, "jti_taken")
    introspected = await registry.client.post(
        "/internal/v1/introspect", json={"token": token}, headers=INTERNAL
    )
    assert (await introspected.json())["data"] == {"active": False, "reason": "token_revoked"}
