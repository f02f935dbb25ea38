"""The `latchkey` admin command line, run as a process, against auth and the registry."""

import re
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support.apps import Services
from tests.support.cli import Cli, Run
from tests.support.processes import free_port
from tests.support.stack import ADMIN_PASSWORD, USER_PASSWORD

TOKEN_SHAPE = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
async def cli(services: Services, home: Path) -> Cli:
    """The command line (a real process), pointed by environment at auth and the registry
    (in this process), nobody signed in."""
    urls = {
        "LATCHKEY_AUTH_URL": services.urls["auth"],
        "LATCHKEY_REGISTRY_URL": services.urls["registry"],
    }
    return Cli(home, urls)


@pytest.fixture
def offline(home: Path) -> Cli:
    """The command line pointed at ports where nothing listens."""
    return Cli(
        home,
        {
            "LATCHKEY_AUTH_URL": f"http://127.0.0.1:{free_port()}",
            "LATCHKEY_REGISTRY_URL": f"http://127.0.0.1:{free_port()}",
        },
    )


def field(run: Run, label: str) -> str:
    """The value of `Label:` in a `show` listing."""
    found = re.search(rf"^{label}:\s+(.*)$", run.stdout, re.MULTILINE)
    assert found, run.stdout
    return found.group(1)


async def signed_in(cli: Cli) -> Cli:
    assert (await cli.login()).code == 0
    return cli


async def create_user(cli: Cli, username: str, *options: str) -> dict[str, Any]:
    run = await cli(
        "users", "create", username, "--password-stdin", *options, "--json", stdin=USER_PASSWORD
    )
    assert run.code == 0, run
    user: dict[str, Any] = run.json()
    return user


async def generate(cli: Cli, user_id: str, name: str, *options: str) -> tuple[str, str]:
    """A generated token and its jti, from the human output of `tokens create`."""
    run = await cli("tokens", "create", "--user", user_id, "--name", name, *options)
    assert run.code == 0, run
    assert "will not be shown again" in run.stderr
    token = run.stdout.strip()
    assert TOKEN_SHAPE.fullmatch(token), run.stdout
    jti = re.search(r"jti:\s+([0-9a-f-]{36})", run.stderr)
    assert jti, run.stderr
    return token, jti.group(1)


async def test_login_keeps_the_token_in_a_file_only_the_user_can_read(cli: Cli) -> None:
    login = await cli.login()
    assert login.code == 0, login
    assert "Signed in" in login.stdout
    assert stat.S_IMODE(cli.credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.credentials.parent.stat().st_mode) == 0o700
    assert ADMIN_PASSWORD not in cli.credentials.read_text()
    assert list(cli.credentials.parent.iterdir()) == [cli.credentials]
    token = cli.stored_token()
    assert token not in login.output

    listed = await cli("tokens", "list")
    assert listed.code == 0, listed
    assert jwt.decode(token, options={"verify_signature": False})["jti"] in listed.stdout
    assert re.search(r"\broot\s+session\b", listed.stdout)
    assert token not in listed.output


async def test_without_xdg_config_home_the_credentials_go_to_dot_config(cli: Cli) -> None:
    path = cli.home / ".config" / "latchkey" / "credentials.json"
    path.parent.mkdir(mode=0o755, parents=True)
    assert (await cli.login(XDG_CONFIG_HOME="")).code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # tightened when it existed
    assert not cli.credentials.exists()
    assert (await cli("keys", "list", XDG_CONFIG_HOME="")).code == 0


async def test_the_stored_urls_go_with_the_stored_token(cli: Cli) -> None:
    token = (await signed_in(cli)).stored_token()
    closed = f"http://127.0.0.1:{free_port()}"
    # The URLs stored at login win over the environment...
    assert (await cli("tokens", "list", LATCHKEY_REGISTRY_URL=closed)).code == 0
    # ...but not over a flag, and a token given by hand goes only where it is told.
    (await cli("--registry-url", closed, "tokens", "list")).assert_error(7, "unreachable")
    given = await cli("tokens", "list", LATCHKEY_TOKEN=token, LATCHKEY_REGISTRY_URL=closed)
    given.assert_error(7, "unreachable")


async def test_signing_in_again_revokes_the_token_it_replaces(cli: Cli) -> None:
    first = (await signed_in(cli)).stored_token()
    second = (await signed_in(cli)).stored_token()
    assert first != second
    (await cli("tokens", "list", LATCHKEY_TOKEN=first)).assert_error(3, "token_revoked")
    assert (await cli("tokens", "list")).code == 0


async def test_logout_revokes_the_token_and_deletes_the_file(cli: Cli) -> None:
    token = (await signed_in(cli)).stored_token()
    logout = await cli("logout")
    assert logout.code == 0, logout
    assert not cli.credentials.exists()
    (await cli("tokens", "list", LATCHKEY_TOKEN=token)).assert_error(3, "token_revoked")
    (await cli("tokens", "list")).assert_error(3, "not_signed_in")
    (await cli("logout")).assert_error(3, "not_signed_in")


async def test_an_admin_takes_a_generated_token_through_its_whole_life(cli: Cli) -> None:
    await signed_in(cli)
    alice = await create_user(cli, "alice", "--display-name", "Alice", "--portal", "agent")
    token, jti = await generate(cli, alice["userId"], "CRM link", "--domain", "crm.example.com")

    shown = await cli("tokens", "show", jti)
    assert field(shown, "Status") == "active"
    assert field(shown, "Allowed domains") == "crm.example.com"
    assert token not in shown.output
    # The token works: auth and the registry accept it, and refuse alice the admin API.
    (await cli("tokens", "list", LATCHKEY_TOKEN=token)).assert_error(4, "forbidden")

    assert (await cli("tokens", "disable", jti)).code == 0
    assert field(await cli("tokens", "show", jti), "Status") == "disabled"
    (await cli("tokens", "list", LATCHKEY_TOKEN=token)).assert_error(3, "token_disabled")

    assert (await cli("tokens", "enable", jti)).code == 0
    assert field(await cli("tokens", "show", jti), "Status") == "active"
    (await cli("tokens", "list", LATCHKEY_TOKEN=token)).assert_error(4, "forbidden")

    assert (await cli("tokens", "revoke", jti, "--reason", "contract ended")).code == 0
    revoked = await cli("tokens", "show", jti)
    assert field(revoked, "Status") == "revoked"
    assert field(revoked, "Revoke reason") == "contract ended"
    (await cli("tokens", "list", LATCHKEY_TOKEN=token)).assert_error(3, "token_revoked")
    final = await cli("tokens", "enable", jti)
    final.assert_error(6, "revoked_is_final")  # a conflict about that token, not about ours
    assert "latchkey login" not in final.stderr

    listed = await cli("tokens", "list", "--user", alice["userId"])
    assert re.search(rf"^{jti}\s+alice\s+access\s+CRM link\s+revoked\b", listed.stdout, re.M)
    assert token not in listed.output


async def test_revoking_everything_of_a_user_refuses_every_token_they_hold(cli: Cli) -> None:
    await signed_in(cli)
    bob = await create_user(cli, "bob")
    tokens = [(await generate(cli, bob["userId"], f"link {n}"))[0] for n in range(2)]
    run = await cli("tokens", "revoke-user", bob["userId"], "--reason", "left", "--json")
    assert run.code == 0, run
    assert run.json()["revokedTokens"] == 2
    for token in tokens:
        (await cli("keys", "list", LATCHKEY_TOKEN=token)).assert_error(3, "token_revoked")


async def test_json_output_is_the_data_of_each_answer(cli: Cli) -> None:
    login = await cli("--json", "login", "-u", "root", "--password-stdin", stdin=ADMIN_PASSWORD)
    assert set(login.json()) == {"user", "expiresAt", "credentials"}
    assert cli.stored_token() not in login.stdout
    carol = await create_user(cli, "carol")
    assert carol["username"] == "carol"
    assert carol["roles"] == ["agent"]

    created = (
        await cli("tokens", "create", "--user", carol["userId"], "--name", "x", "--json")
    ).json()
    assert set(created) == {"accessToken", "token", "framing"}
    jti = created["token"]["jti"]

    page = (await cli("tokens", "list", "--json")).json()
    assert set(page) == {"items", "nextCursor"}
    assert {"jti", "userId", "username", "kind", "status", "expiresAt"} <= set(page["items"][0])
    assert created["accessToken"] not in str(page)
    # Global options are taken after the command as well as before it.
    shown = (await cli("--json", "tokens", "show", jti)).json()
    assert shown["jti"] == jti
    assert "accessToken" not in shown

    users = (await cli("users", "list", "--json")).json()
    assert [user["username"] for user in users["items"]] == ["carol", "root"]
    keys = (await cli("keys", "list", "--json")).json()
    assert [set(key) for key in keys] == [{"kid", "algorithm", "current"}]


async def test_list_all_follows_every_page(cli: Cli) -> None:
    await signed_in(cli)
    dave = await create_user(cli, "dave")
    jtis = {(await generate(cli, dave["userId"], f"link {n}"))[1] for n in range(3)}

    first = await cli("tokens", "list", "--user", dave["userId"], "--limit", "2", "--json")
    assert len(first.json()["items"]) == 2
    assert first.json()["nextCursor"]
    every = await cli("tokens", "list", "--user", dave["userId"], "--limit", "2", "--all", "--json")
    assert {item["jti"] for item in every.json()["items"]} == jtis
    assert every.json()["nextCursor"] is None
    human = await cli("tokens", "list", "--user", dave["userId"], "--limit", "2")
    assert "--cursor" in human.stderr
    assert len(human.stdout.splitlines()) == 3  # the header and two records


async def test_domain_policy_is_set_shown_and_cleared(cli: Cli) -> None:
    await signed_in(cli)
    run = await cli("policy", "set", "crm.example.com", "*.intranet.example", "localhost:8080")
    assert run.code == 0, run
    shown = (await cli("policy", "show", "--json")).json()
    assert shown["domains"] == ["crm.example.com", "*.intranet.example", "localhost:8080"]
    human = await cli("policy", "show")
    assert field(human, "Allowed domains") == "crm.example.com, *.intranet.example, localhost:8080"

    assert (await cli("policy", "set", "--none")).code == 0
    assert (await cli("policy", "show", "--json")).json()["domains"] == []
    assert "No global domain policy" in (await cli("policy", "show")).stdout


async def test_rotating_keys_publishes_a_second_key(cli: Cli, services: Services) -> None:
    await signed_in(cli)
    _, before = await services.call("auth", "GET", "/.well-known/jwks.json")
    assert len(before["keys"]) == 1
    rotated = await cli("keys", "rotate", "--json")
    assert rotated.code == 0, rotated
    _, after = await services.call("auth", "GET", "/.well-known/jwks.json")
    kids = [key["kid"] for key in after["keys"]]
    assert kids == [rotated.json()["kid"], before["keys"][0]["kid"]]
    listed = (await cli("keys", "list", "--json")).json()
    assert [(key["kid"], key["current"]) for key in listed] == [(kids[0], True), (kids[1], False)]
    # The stored token was signed with the old key, and keeps working.
    assert (await cli("tokens", "list")).code == 0


async def test_a_disabled_user_cannot_sign_in_until_enabled_again(cli: Cli, home: Path) -> None:
    await signed_in(cli)
    erin = await create_user(cli, "erin")
    as_erin = Cli(home / "erin", cli.env)
    assert (await cli("users", "disable", erin["userId"])).code == 0
    (await as_erin.login("erin", USER_PASSWORD)).assert_error(4, "user_disabled")

    enabled = await cli("users", "enable", erin["userId"])
    assert field(enabled, "Status") == "active"
    assert (await as_erin.login("erin", USER_PASSWORD)).code == 0

    new = "another long password"
    assert (
        await cli("users", "set-password", erin["userId"], "--password-stdin", stdin=new)
    ).code == 0
    (await as_erin.login("erin", USER_PASSWORD)).assert_error(3, "invalid_credentials")
    assert (await as_erin.login("erin", new)).code == 0
    (await as_erin("users", "list")).assert_error(4, "forbidden")


async def test_each_refusal_has_its_exit_code_and_one_line_on_stderr(cli: Cli) -> None:
    (await cli.login(password="wrong password")).assert_error(3, "invalid_credentials")
    (await cli("tokens", "list")).assert_error(3, "not_signed_in")
    await signed_in(cli)
    unknown = "00000000-0000-4000-8000-000000000000"
    (await cli("tokens", "show", unknown)).assert_error(5, "not_found")
    (await cli("tokens", "revoke", "not-a-jti", "--reason", "x")).assert_error(5, "not_found")
    (await cli("users", "disable", unknown)).assert_error(5, "not_found")

    bad = await cli("policy", "set", "https://crm.example.com/")
    bad.assert_error(6, "validation_failed")
    assert "domains" in bad.stderr  # the offending field is named
    assert (await cli("policy", "show", "--json")).json()["domains"] == []
    (await cli("users", "create", "root", "--password-stdin", stdin="x" * 12)).assert_error(
        6, "username_taken"
    )
    (await cli("--token", "not.a.token", "tokens", "list")).assert_error(3, "token_invalid")


async def test_usage_errors_exit_2(offline: Cli) -> None:
    for args in [
        [],
        ["tokens"],
        ["tokens", "frobnicate"],
        ["tokens", "list", "--limit", "0"],
        ["tokens", "revoke", "some-jti"],
        ["tokens", "create", "--user", "u", "--name", "n", "--expires", "2030-01-01"],
        ["users", "create", "x", "--role", "root"],
    ]:
        run = await offline(*args)
        assert run.code == 2, (args, run)
        assert "Traceback" not in run.output
        assert "usage: latchkey" in run.stderr
    (await offline("policy", "set")).assert_error(2, "bad_domains")
    (await offline("--registry-url", "file:///etc", "policy", "show")).assert_error(2, "bad_url")
    (await offline("login", "--password-stdin", stdin="pw")).assert_error(2, "username_required")
    (await offline("login", "-u", "root")).assert_error(2, "no_terminal")


async def test_not_signed_in_exits_3(offline: Cli) -> None:
    for args in (["tokens", "list"], ["users", "list"], ["keys", "rotate"], ["logout"]):
        (await offline(*args)).assert_error(3, "not_signed_in")
    offline.credentials.parent.mkdir(parents=True)
    offline.credentials.write_text("{not json")
    (await offline("tokens", "list")).assert_error(3, "credentials_unreadable")


async def test_an_unreachable_service_exits_7(offline: Cli) -> None:
    (await offline.login()).assert_error(7, "unreachable")
    run = await offline("tokens", "list", "--token", "any")
    run.assert_error(7, "unreachable")
    assert offline.env["LATCHKEY_REGISTRY_URL"] in run.stderr


async def test_the_help_documents_the_exit_codes(offline: Cli) -> None:
    run = await offline("--help")
    assert run.code == 0
    for line in ("0  ok", "2  usage", "3  not signed in", "5  not found", "7  unavailable"):
        assert line in run.stdout
