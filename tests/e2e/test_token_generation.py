"""What generating a token needs of auth, with both as processes: auth stopped under a
running registry."""

from typing import Any

from tests.support.stack import Stack


async def generate(stack: Stack, admin: str, **body: Any) -> Any:
    return await stack.call("registry", "POST", "/api/v1/tokens", token=admin, json=body)


async def test_generation_needs_auth_to_answer(stack: Stack) -> None:
    await stack.start("auth", "registry")
    admin = await stack.token()
    user = await stack.create_user(admin, "someone")
    assert (await stack.call("registry", "GET", "/api/v1/tokens", token=admin)).status == 200
    await stack.auth.stop()
    reply = await generate(stack, admin, userId=user["userId"], name="x")
    assert (reply.status, reply.reason) == (503, "auth_unavailable"), reply.body


async def test_a_registry_that_never_saw_the_keys_says_so_while_auth_is_down(
    stack: Stack,
) -> None:
    await stack.start("auth", "registry")
    admin = await stack.token()
    await stack.auth.stop()
    reply = await stack.call("registry", "GET", "/api/v1/tokens", token=admin)
    assert (reply.status, reply.reason) == (503, "keys_unavailable")
