"""The token console over HTTP, through the router's admin portal (the browser tests drive the
same pages in Chromium): every page, every state change with and without its CSRF token."""

import re
from urllib.parse import urlsplit

import jwt

from tests.support.portal import Page, Portal
from tests.support.stack import ADMIN_PASSWORD

CONSOLE = "/admin/tokens"


async def admin_session(portal: Portal) -> dict[str, str]:
    return await portal.session_cookie(await portal.stack.token(), CONSOLE)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def page(portal: Portal, path: str, cookies: dict[str, str]) -> Page:
    answer = await portal.get(CONSOLE + path, cookies=cookies, headers={"Accept": "text/html"})
    assert answer.status == 200, (path, answer.status, answer.body[:300])
    return answer


async def submit(
    portal: Portal,
    path: str,
    cookies: dict[str, str],
    data: dict[str, str],
    *,
    from_page: str | None = None,
) -> Page:
    """A form sent as a browser sends it from a console page (or from `from_page`)."""
    origin = portal.origin_for(CONSOLE)
    referer = origin + (from_page if from_page is not None else CONSOLE + path)
    return await portal.post(
        CONSOLE + path,
        cookies=cookies,
        data=data,
        headers={"Origin": origin, "Referer": referer, "Accept": "text/html"},
    )


async def test_the_console_is_reached_through_the_admin_portal_only(portal: Portal) -> None:
    anonymous = await portal.get(CONSOLE + "/", headers={"Accept": "text/html"})
    assert anonymous.status == 303
    assert anonymous.headers["Location"].startswith("/admin/auth/login")
    agent_cookie = await portal.session_cookie(
        await portal.stack.token("agent-one", "a long password 1"), "/agent/app"
    )
    refused = await portal.get(CONSOLE + "/", cookies=agent_cookie, headers={"Accept": "text/html"})
    assert refused.status == 303  # an agent's cookie is scoped to /agent: no admin session here


async def test_generate_shows_the_token_once_with_deep_links(portal: Portal) -> None:
    cookies = await admin_session(portal)
    form = await page(portal, "/new", cookies)
    html = await form.text()
    assert "agent-one" in html
    csp = form.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    generated = await submit(
        portal,
        "/new",
        cookies,
        {
            "csrf": csrf_of(html),
            "userId": portal.agent_id,
            "name": "<script>alert('x')</script> CRM",
            "expiresDays": "7",
            "portals": "agent",
            "allowedDomains": "crm.example.com\n*.intranet.example.org",
            "password": ADMIN_PASSWORD,
        },
    )
    assert generated.status == 200, generated.body[:500]
    shown = await generated.text()
    assert "<script>alert" not in shown
    assert "&lt;script&gt;alert" in shown
    assert "will not be shown again" in shown
    token = re.search(r'<textarea id="token"[^>]*>([^<]+)</textarea>', shown).group(1)  # type: ignore[union-attr]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["domains"] == ["crm.example.com", "*.intranet.example.org"]
    link = re.search(r'id="link-agent" readonly value="([^"]+)"', shown).group(1)  # type: ignore[union-attr]
    assert urlsplit(link).path == "/agent/"
    assert generated.headers["Cache-Control"] == "no-store"
    details = await page(portal, f"/t/{claims['jti']}", cookies)
    assert token not in await details.text()
    assert "No other site may frame" not in shown  # it names allowed domains

    unframed = await submit(
        portal,
        "/new",
        cookies,
        {
            "csrf": csrf_of(await (await page(portal, "/new", cookies)).text()),
            "userId": portal.agent_id,
            "name": "intranet",
            "expiresDays": "7",
            "portals": "agent",
            "password": ADMIN_PASSWORD,
        },
    )
    assert unframed.status == 200, unframed.body[:500]
    assert "No other site may frame" in await unframed.text()


async def test_bad_generation_input_is_shown_on_the_form(portal: Portal) -> None:
    cookies = await admin_session(portal)
    csrf = csrf_of(await (await page(portal, "/new", cookies)).text())
    answer = await submit(
        portal,
        "/new",
        cookies,
        {
            "csrf": csrf,
            "userId": portal.agent_id,
            "name": "x",
            "allowedDomains": "https://x",
            "password": ADMIN_PASSWORD,
        },
    )
    assert answer.status == 422
    assert "not generated" in await answer.text()
    for days in ["99999999", "2", "x"]:
        answer = await submit(
            portal,
            "/new",
            cookies,
            {"csrf": csrf, "userId": portal.agent_id, "name": "x", "expiresDays": days},
        )
        assert answer.status == 422, days
        assert "choose one of the offered expiries" in await answer.text(), days


async def test_odd_numbers_in_console_urls_are_refused_as_pages(portal: Portal) -> None:
    cookies = await admin_session(portal)
    html = {"Accept": "text/html"}
    for path, status in [
        ("/audit?before=%C2%B2", 422),
        ("/audit?before=" + "9" * 20, 422),
        ("/events/" + "9" * 20, 404),
        ("/events/%C2%B2", 404),
    ]:
        answer = await portal.get(CONSOLE + path, cookies=cookies, headers=html)
        assert answer.status == status, (path, answer.status, answer.body[:200])
        assert answer.headers["Content-Type"].startswith("text/html"), path
    receipt = await portal.get(CONSOLE + "/events/" + "9" * 20 + ".json", cookies=cookies)
    assert receipt.status == 404


async def test_revoke_shows_the_live_receipt_and_the_token_is_refused(portal: Portal) -> None:
    cookies = await admin_session(portal)
    token = await portal.agent_token()
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    details = await page(portal, f"/t/{jti}", cookies)
    revoked = await submit(
        portal,
        f"/t/{jti}/revoke",
        cookies,
        {"csrf": csrf_of(await details.text()), "reason": "left the company"},
    )
    assert revoked.status == 303
    receipt_path = revoked.headers["Location"]
    assert receipt_path.startswith(CONSOLE + "/events/")
    receipt = await portal.get(receipt_path, cookies=cookies, headers={"Accept": "text/html"})
    assert "Token revoked" in await receipt.text()
    seq = receipt_path.split("/events/")[1].split("?")[0]
    data = await portal.get(f"{CONSOLE}/events/{seq}.json", cookies=cookies)
    assert (await data.json())["seq"] == int(seq)
    after = await page(portal, f"/t/{jti}", cookies)
    assert "left the company" in await after.text()
    refused = await portal.get(
        f"/agent/app?accessToken={token}", headers={"Accept": "application/json"}
    )
    assert (await refused.json())["reason"] == "token_revoked"


STATE_CHANGES = [
    ("/t/{jti}/revoke", {"reason": "x"}),
    ("/t/{jti}/state", {"disabled": "true"}),
    ("/t/{jti}/edit", {"name": "renamed"}),
    ("/new", {"userId": "x", "name": "y"}),
    ("/policy", {"domains": "a.example"}),
    ("/users/someone/revoke", {"reason": "x"}),
]


async def test_state_changes_without_the_csrf_token_are_refused(portal: Portal) -> None:
    cookies = await admin_session(portal)
    token = await portal.agent_token()
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    for path, data in STATE_CHANGES:
        for attempt in ({**data}, {**data, "csrf": "forged"}):
            answer = await submit(portal, path.format(jti=jti), cookies, attempt)
            assert answer.status == 403, (path, attempt)
            assert "csrf_failed" in await answer.text()
    shown = await page(portal, f"/t/{jti}", cookies)
    assert "active" in await shown.text()


async def test_pages_of_other_portals_cannot_change_state_though_same_origin(
    portal: Portal,
) -> None:
    """Where pages of other portals or apps share the console's origin, the browser sends the
    admin cookie with their requests to /admin: the CSRF token they can read is not enough."""
    cookies = await admin_session(portal)
    jti = jwt.decode(await portal.agent_token(), options={"verify_signature": False})["jti"]
    csrf = csrf_of(await (await page(portal, f"/t/{jti}", cookies)).text())
    for from_page in ["/agent/app/evil", "/admin/other", ""]:
        answer = await submit(
            portal,
            f"/t/{jti}/state",
            cookies,
            {"csrf": csrf, "disabled": "true"},
            from_page=from_page,
        )
        assert answer.status == 403, from_page
        assert "csrf_failed" in await answer.text()
    assert "active" in await (await page(portal, f"/t/{jti}", cookies)).text()


async def test_disable_enable_edit_policy_and_audit(portal: Portal) -> None:
    cookies = await admin_session(portal)
    token = await portal.agent_token()
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    csrf = csrf_of(await (await page(portal, f"/t/{jti}", cookies)).text())
    assert (
        await submit(portal, f"/t/{jti}/state", cookies, {"csrf": csrf, "disabled": "true"})
    ).status == 303
    assert "disabled" in await (await page(portal, f"/t/{jti}", cookies)).text()
    edited = await submit(
        portal,
        f"/t/{jti}/edit",
        cookies,
        {"csrf": csrf, "name": "Phone", "description": "", "allowedDomains": "app.example.com"},
    )
    assert edited.status == 303
    html = await (await page(portal, f"/t/{jti}", cookies)).text()
    assert "app.example.com" in html
    bad = await submit(
        portal, f"/t/{jti}/edit", cookies, {"csrf": csrf, "name": "x", "allowedDomains": "*"}
    )
    assert bad.status == 422
    policy = await submit(portal, "/policy", cookies, {"csrf": csrf, "domains": "*.corp.example"})
    assert policy.status == 303
    assert "*.corp.example" in await (await page(portal, "/policy", cookies)).text()
    audit = await (await page(portal, "/audit", cookies)).text()
    assert "policy.update" in audit
    assert "token.update" in audit
    listed = await (await page(portal, "/?status=disabled", cookies)).text()
    assert "Phone" in listed
