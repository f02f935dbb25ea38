"""Deep-link login to any page, sessions, errors and hostile input, with the router, auth and
the registry in-process and a small upstream of the tests' own."""

from urllib.parse import parse_qs, quote, urlsplit

import jwt

from tests.support.portal import Portal, PortalFactory


def cookie_attributes(set_cookie: str) -> dict[str, str]:
    parts = [part.strip() for part in set_cookie.split(";")]
    attributes = {"value": parts[0].split("=", 1)[1]}
    for part in parts[1:]:
        name, _, value = part.partition("=")
        attributes[name.lower()] = value
    return attributes


async def test_a_deep_link_signs_in_and_lands_on_the_same_page_without_the_token(
    portal: Portal,
) -> None:
    token = await portal.agent_token()
    response = await portal.get(f"/agent/app/chat?room=7&accessToken={token}&lang=fi#x")
    assert response.status == 303
    location = response.headers["Location"]
    assert location == "/agent/app/chat?room=7&lang=fi"
    assert token not in location
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    # The rest of the query keeps its bytes: an escaped & stays one value, not two.
    escaped = await portal.get(f"/agent/app/chat?q=a%26b%3Dc&accessToken={token}&n=%C2%B2")
    assert escaped.headers["Location"] == "/agent/app/chat?q=a%26b%3Dc&n=%C2%B2"
    cookie = cookie_attributes(response.headers["Set-Cookie"])
    assert cookie["path"] == "/agent"
    assert "httponly" in cookie
    assert (cookie["samesite"], "partitioned" in cookie, "secure" in cookie) == (
        "None",
        True,
        True,
    )  # agent is embeddable by default
    assert token not in cookie["value"]

    page = await portal.get(location, cookies={"latchkey_session": cookie["value"]})
    assert page.status == 200
    seen = await page.json()
    assert seen["path"] == "/chat"
    assert parse_qs(seen["query"]) == {"room": ["7"], "lang": ["fi"]}
    assert seen["headers"]["X-Latchkey-User-Name"] == "agent-one"
    assert seen["headers"]["X-Latchkey-Portal"] == "agent"
    assert "latchkey_session" not in seen["headers"].get("Cookie", "")


async def test_the_login_form_of_a_deep_link_goes_home_or_to_a_safe_redirect(
    portal: Portal,
) -> None:
    token = await portal.agent_token()
    response = await portal.get(f"/agent/auth/login?accessToken={token}")
    assert (response.status, response.headers["Location"]) == (303, "/agent/")
    response = await portal.get(
        f"/agent/auth/login?accessToken={token}&redirect={quote('/agent/app/inbox?x=1')}"
    )
    assert response.headers["Location"] == "/agent/app/inbox?x=1"


async def test_a_frame_granted_storage_access_gets_an_unpartitioned_cookie(portal: Portal) -> None:
    """Once the Storage Access API let a frame use the portal's cookies, the browser sends
    only unpartitioned ones there (and says `Sec-Fetch-Storage-Access: active`): a
    partitioned cookie would sign the frame in again at every page."""
    answers = {}
    for access in ("active", "inactive", None):
        token = await portal.agent_token()
        headers = {"Sec-Fetch-Storage-Access": access} if access else {}
        response = await portal.get(f"/agent/app/inbox?accessToken={token}", headers=headers)
        answers[access] = "partitioned" in cookie_attributes(response.headers["Set-Cookie"])
    assert answers == {"active": False, "inactive": True, None: True}


async def test_admin_cookies_are_lax_and_scoped_to_the_admin_portal(portal: Portal) -> None:
    token = await portal.stack.token()
    response = await portal.get(f"/admin/dashboard?accessToken={token}")
    cookie = cookie_attributes(response.headers["Set-Cookie"])
    assert (cookie["path"], cookie["samesite"]) == ("/admin", "Lax")
    assert "partitioned" not in cookie


HOSTILE_REDIRECTS = [
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/agent/%2f%2fevil.example",
    "/agent/%5cevil.example",
    "/agent/../../evil",
    "/admin/dashboard",
    "/agent/\r\nSet-Cookie:x=y",
    "/agent/\tx",
    "/%2e%2e/admin",
    "http:/\\evil.example",
    "/agent/" + "a" * 5000,
    " /agent/x",
    "/agent/x#//evil.example",
]


MALFORMED_LINKS = [
    "/agent/%2f%2fevil.example?accessToken={t}",
    "/agent/x%5cy?accessToken={t}",
    "/agent/%00?accessToken={t}",
    "/agent/" + "a" * 3000 + "?accessToken={t}",
    "/agent/x?accessToken={t}&accessToken={t}",
    "/agent/x?accessToken=",
]


async def test_hostile_redirects_and_links_never_leave_the_portal(portal: Portal) -> None:
    token = await portal.agent_token()
    for target in HOSTILE_REDIRECTS:
        response = await portal.get(
            f"/agent/auth/login?accessToken={token}&redirect={quote(target, safe='')}"
        )
        assert response.status == 303, target
        location = response.headers["Location"]
        assert location.startswith("/agent/"), (target, location)
        assert not location.startswith("//"), target
        assert "\\" not in location, target
        assert "evil.example" not in location, target
        assert urlsplit(location).netloc == "", target
    for path in MALFORMED_LINKS:
        response = await portal.get(path.replace("{t}", token))
        assert response.status == 400, path[:80]
        assert (await response.json())["reason"] == "bad_link"
    response = await portal.get(f"/agent/app/../../../x/./y?accessToken={token}")
    assert response.headers["Location"] == "/agent/x/y"


REFUSALS = [
    ("revoke", "token_revoked", 401),
    ("disable", "token_disabled", 401),
    ("expire", "token_expired", 401),
    ("forge", "token_invalid", 401),
    ("wrong_portal", "portal_not_allowed", 403),
]


async def test_each_refusal_is_a_page_for_people_and_an_envelope_for_programs(
    portal: Portal,
) -> None:
    for change, reason, status in REFUSALS:
        token = await portal.token_for(change)
        page = await portal.get(f"/agent/app?accessToken={token}", headers={"Accept": "text/html"})
        assert page.status == status, change
        html = await page.text()
        assert "<h1>" in html
        assert reason in html, change
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        json_only = {"Accept": "application/json"}
        api = await portal.get(f"/agent/app?accessToken={token}", headers=json_only)
        body = await api.json()
        assert (api.status, body["reason"], body["code"]) == (status, reason, status), change


async def test_without_a_session_browsers_get_the_login_page_and_programs_a_401(
    portal: Portal,
) -> None:
    page = await portal.get("/agent/app/chat?x=1", headers={"Accept": "text/html"})
    assert page.status == 303
    location = urlsplit(page.headers["Location"])
    assert location.path == "/agent/auth/login"
    assert parse_qs(location.query) == {"redirect": ["/agent/app/chat?x=1"]}
    escaped = await portal.get("/agent/app/chat?q=a%26b", headers={"Accept": "text/html"})
    back = parse_qs(urlsplit(escaped.headers["Location"]).query)["redirect"]
    assert back == ["/agent/app/chat?q=a%26b"], "the way back keeps the query's bytes"
    form = await portal.get(page.headers["Location"], headers={"Accept": "text/html"})
    assert form.status == 401
    assert 'name="password"' in await form.text()
    api = await portal.get("/agent/app/chat", headers={"Accept": "application/json"})
    assert (api.status, (await api.json())["reason"]) == (401, "token_missing")


async def test_the_login_form_signs_in_with_a_password(portal: Portal) -> None:
    async def form() -> tuple[str, dict[str, str]]:
        page = await portal.get("/agent/auth/login?redirect=/agent/app/x")
        csrf = (await page.text()).split('name="csrf" value="')[1].split('"')[0]
        cookie = page.headers["Set-Cookie"].split(";")[0].split("=", 1)
        assert cookie[0] == "latchkey_csrf"
        return csrf, {"latchkey_csrf": cookie[1]}

    origin = {"Origin": portal.stack.router_url}
    csrf, cookies = await form()
    wrong = await portal.post(
        "/agent/auth/login",
        data={"username": "agent-one", "password": "wrong", "csrf": csrf},
        headers=origin,
        cookies=cookies,
    )
    assert wrong.status == 401
    assert "Wrong username or password" in await wrong.text()
    csrf, cookies = await form()
    body = {"username": "agent-one", "password": "a long password 1", "csrf": csrf}
    mismatched = await portal.post(
        "/agent/auth/login", data=body, headers=origin, cookies={"latchkey_csrf": "other"}
    )
    assert mismatched.status == 403
    signed_in = await portal.post(
        "/agent/auth/login",
        data={**body, "redirect": "/agent/app/x"},
        headers=origin,
        cookies=cookies,
    )
    assert (signed_in.status, signed_in.headers["Location"]) == (303, "/agent/app/x")
    assert "latchkey_session=" in signed_in.headers["Set-Cookie"]


async def test_the_login_form_refuses_cross_site_posts(portal: Portal) -> None:
    response = await portal.post(
        "/agent/auth/login",
        data={"username": "agent-one", "password": "a long password 1", "csrf": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status == 403


async def test_single_use_links_work_once(portal_factory: PortalFactory) -> None:
    portal = await portal_factory(portals={"agent": {"singleUseLinks": True}})
    token = await portal.agent_token()
    first = await portal.get(f"/agent/app?accessToken={token}")
    assert first.status == 303
    again = await portal.get(f"/agent/app?accessToken={token}")
    assert (again.status, (await again.json())["reason"]) == (403, "link_already_used")
    admin = await portal.stack.token()
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    audit = await portal.stack.call("registry", "GET", f"/api/v1/audit?target={jti}", token=admin)
    assert audit.data["items"][0]["action"] == "token.deep_link_reused"


SENDER_CLAIMS = [
    ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403),
    ({"Sec-Fetch-Site": "same-site", "Origin": "null"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Origin": "null"}, 403),
    ({}, 403),
    ({"Sec-Fetch-Site": "same-origin", "Origin": "null"}, 401),
]


async def test_the_login_form_trusts_what_the_browser_says_about_the_sender(
    portal: Portal,
) -> None:
    """A page can set neither Sec-Fetch-Site nor Origin: same-origin passes on to the CSRF
    and password checks (401 for a wrong password), anything else stops at 403."""
    form = await portal.get("/agent/auth/login")
    csrf = (await form.text()).split('name="csrf" value="')[1].split('"')[0]
    cookie = form.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    for headers, status in SENDER_CLAIMS:
        answer = await portal.post(
            "/agent/auth/login",
            data={"username": "agent-one", "password": "wrong", "csrf": csrf},
            headers=headers,
            cookies={"latchkey_csrf": cookie},
        )
        assert answer.status == status, headers
