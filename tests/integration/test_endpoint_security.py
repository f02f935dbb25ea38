"""Every protected endpoint of every service, derived from what each app declares: none answers
without the credential its declaration asks for, whatever its handler does."""

import re
import uuid
from typing import Any

from latchkey.common.guard import CREDENTIALS as CREDENTIALS_HELD
from latchkey.common.openapi import ENDPOINTS, Endpoint
from tests.support.apps import Services
from tests.support.credentials import CREDENTIALS, as_service

WRONG = {"Authorization": "Bearer " + "w" * 40}
PATH_PARAMETER = re.compile(r"\{([a-z_]+)(?::[^}]*)?\}")


def concrete(path: str) -> str:
    """The path with its parameters filled in with values of the right shape."""
    values = {"jti": str(uuid.uuid4()), "user_id": str(uuid.uuid4()), "seq": "1"}
    return PATH_PARAMETER.sub(lambda found: values.get(found[1], "x"), path)


async def answer(
    services: Services, name: str, endpoint: Endpoint, headers: dict[str, str]
) -> tuple[int, Any]:
    return await services.call(
        name, endpoint.method, concrete(endpoint.path), headers=headers, json={}
    )


async def test_every_protected_endpoint_refuses_a_missing_wrong_or_other_services_credential(
    every_service: Services,
) -> None:
    services = every_service
    admin = await services.token()
    await services.create_user(admin, "agent-one")
    agent = await services.token("agent-one", "a long password 1")
    checked = 0
    for name, app in services.apps.items():
        for endpoint in app[ENDPOINTS]:
            if endpoint.security == "none":
                continue
            where = f"{name} {endpoint.method} {endpoint.path}"
            for headers in ({}, WRONG):
                status, body = await answer(services, name, endpoint, headers)
                assert status == 401, (where, headers, body)
                assert body["code"] == 401, (where, body)
                assert body["reason"] in (
                    "token_missing",
                    "token_invalid",
                    "invalid_service_credential",
                ), (where, body)
            if endpoint.security == "service":
                assert endpoint.callers, where
                for other in sorted(set(CREDENTIALS) - set(endpoint.callers)):
                    status, body = await answer(services, name, endpoint, as_service(other))
                    # 403 from a service that knows the caller, 401 from one that does not
                    # hold its credential at all (the router holds only its own).
                    assert status in (401, 403), (where, other, body)
                    assert status == 401 or body["reason"] == "service_not_allowed"
                for allowed in endpoint.callers:
                    status, _ = await answer(services, name, endpoint, as_service(allowed))
                    if app[CREDENTIALS_HELD].holds(allowed):
                        assert status not in (401, 403), (where, allowed, status)
            elif endpoint.role is not None:
                status, body = await answer(
                    services, name, endpoint, {"Authorization": f"Bearer {agent}"}
                )
                assert (status, body["reason"]) == (403, "forbidden"), (where, body)
            checked += 1
    assert checked >= 30, checked


async def test_only_the_registry_can_have_a_token_signed(
    every_service: Services,
) -> None:
    """The attack: the router (internet-facing) or anyone holding a credential but the
    registry's asks auth to sign a token for any user. Nothing is signed."""
    services = every_service
    admin = await services.token()
    victim = await services.create_user(admin, "victim")
    for caller in ("router", "auth"):
        status, body = await services.call(
            "auth",
            "POST",
            "/internal/v1/sign",
            headers=as_service(caller),
            json={"userId": victim["userId"]},
        )
        assert (status, body["reason"]) == (403, "service_not_allowed"), (caller, body)
        assert "accessToken" not in str(body)
