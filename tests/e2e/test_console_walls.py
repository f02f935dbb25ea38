"""The wall between portals, attacked in Chromium: a page the agent portal's upstream serves
(an attacker's content in the agent app, a stored XSS there) tries to drive the admin console
with the admin's cookie, which the same browser holds. With each portal on its own origin the
browser itself stops it; where an operator shares one origin anyway, the console does."""

import json
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.support.browser import chromium, screenshot
from tests.support.console import open_console
from tests.support.portal import Portal, PortalFactory
from tests.support.upstream import PAGES

pytestmark = pytest.mark.browser

# Everything a script of that page may try; it writes what it got into the page's title.
ATTACK = """<!doctype html><html><head><title>working</title></head><body>
<h1>An innocent agent app page</h1>
<script>
const console_ = %(console)s + "/admin/tokens";
const results = {};
async function attempt(name, work) {
  try { results[name] = await work(); } catch (error) { results[name] = "blocked"; }
}
function readCsrf(html) {
  const found = /name="csrf" value="([^"]+)"/.exec(html || "");
  return found ? found[1] : null;
}
(async () => {
  // 1. Fetch the generate form with the admin's cookie and read its CSRF token.
  await attempt("fetch", async () => {
    const answer = await fetch(console_ + "/new", {credentials: "include"});
    return {status: answer.status, csrf: readCsrf(await answer.text())};
  });
  // 2. Frame it and read it through the DOM.
  await attempt("frame", () => new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.src = console_ + "/new";
    frame.onload = () => {
      try { resolve({csrf: readCsrf(frame.contentDocument.documentElement.outerHTML)}); }
      catch (error) { resolve("blocked"); }
    };
    document.body.append(frame);
    setTimeout(() => resolve("no load"), 4000);
  }));
  // 3. Open it in a window of its own and reach into that window.
  await attempt("window", () => new Promise((resolve) => {
    const opened = window.open(console_ + "/new");
    setTimeout(() => {
      try { resolve({csrf: readCsrf(opened.document.documentElement.outerHTML)}); }
      catch (error) { resolve("blocked"); }
    }, 3000);
  }));
  // 4. Post the generate form blind, naming a console page as the referrer.
  await attempt("post", async () => {
    const form = new URLSearchParams({csrf: "guessed", userId: %(victim)s, name: "stolen",
                                      expiresDays: "365"});
    const answer = await fetch(console_ + "/new", {method: "POST", body: form,
      credentials: "include", referrer: console_ + "/new"});
    return {status: answer.status};
  });
  document.title = "done " + JSON.stringify(results);
})();
</script></body></html>"""


async def generated_tokens(portal: Portal) -> int:
    admin = await portal.stack.token()
    reply = await portal.stack.call(
        "registry", "GET", f"/api/v1/tokens?userId={portal.agent_id}&kind=access", token=admin
    )
    return len(reply.data["items"])


async def run_attack(browser: Browser, portal: Portal, console_origin: str) -> dict[str, Any]:
    """The admin signs in to the console, then (in the same browser) opens the agent app's
    page; what the page's script managed to do."""
    context = await browser.new_context()
    context.set_default_timeout(15_000)
    admin_page = await context.new_page()
    await open_console(admin_page, console_origin, await portal.stack.token())
    portal.upstream.app[PAGES]["evil"] = ATTACK % {
        "console": json.dumps(console_origin),
        "victim": json.dumps(portal.agent_id),
    }
    victim_page: Page = await context.new_page()
    agent_token = await portal.agent_token()
    await victim_page.goto(
        f"{portal.stack.router.url}/agent/app/pages/evil?accessToken={agent_token}"
    )
    await victim_page.wait_for_function("document.title.startsWith('done')", timeout=20_000)
    await screenshot(
        victim_page,
        "console-attack-"
        + ("shared" if console_origin == portal.stack.router.url else "own-origin"),
    )
    results: dict[str, Any] = json.loads((await victim_page.title()).removeprefix("done "))
    await context.close()
    return results


def nothing_read(results: dict[str, Any]) -> None:
    print("what the page's script got:", results)
    for name in ("fetch", "frame", "window"):
        found = results[name]
        assert found in ("blocked", "no load") or not found.get("csrf"), (name, results)
    post = results["post"]
    assert post == "blocked" or post["status"] in (403, 421), results


async def test_an_agent_page_cannot_read_or_drive_the_console_on_its_own_origin(
    portal: Portal,
) -> None:
    before = await generated_tokens(portal)
    async with chromium() as browser:
        results = await run_attack(browser, portal, portal.stack.admin_url())
    nothing_read(results)
    assert await generated_tokens(portal) == before


async def test_where_the_console_shares_the_agents_origin_it_still_cannot_be_driven(
    portal_factory: PortalFactory,
) -> None:
    """An operator puts every portal on one origin (and says they accept it): the agent
    page is same-origin with the console, and the browser sends the admin's cookie."""
    portal = await portal_factory(
        LATCHKEY_PORTALS='{"agent": {"embeddable": true}, "admin": {}}',
        LATCHKEY_ALLOW_CONSOLE_SHARED_ORIGIN="true",
    )
    before = await generated_tokens(portal)
    async with chromium() as browser:
        results = await run_attack(browser, portal, portal.stack.router.url)
    nothing_read(results)
    assert results["fetch"]["status"] == 403, results
    assert await generated_tokens(portal) == before
