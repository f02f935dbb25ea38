"""Auth as a process: what only a real start shows (a start that cannot work says why, a
registry that is down). The rules of the flow are tested in-process, in
tests/integration/test_auth_rules.py."""

import pytest

from tests.support.stack import ADMIN_PASSWORD, Stack


async def test_login_fails_with_503_and_no_token_when_the_registry_is_down(stack: Stack) -> None:
    await stack.start("auth", ready=False)
    reply = await stack.login()
    assert (reply.status, reply.reason) == (503, "registry_unavailable")
    assert "accessToken" not in str(reply.body)


async def test_start_fails_clearly_when_no_user_and_no_admin_is_given(stack: Stack) -> None:
    process = stack.process("auth", LATCHKEY_ADMIN_USERNAME="", LATCHKEY_ADMIN_PASSWORD="")
    with pytest.raises(AssertionError, match="exited"):
        await process.start(timeout=20)
    assert "LATCHKEY_ADMIN_USERNAME" in process.log_text()
    assert ADMIN_PASSWORD not in process.log_text()
