"""Every kind of page under the Content-Security-Policy, in Debian's Chromium.

A real daphne process (debug off, so the policy is on every response) serves
a participant's phone, the facilitator's desk and a stranger holding the
public links. Each page is opened as a person would, live updates included
(a push swapped into the board, the console's and the projector's panels
fetched again by htmx), and every page must report no
`securitypolicyviolation` event and no console error. A control proves the
listener hears a violation when there is one, and another that Chromium
counts the page's own ws:// origin as 'self'.

As in test_browser.py, no Django ORM call runs while Playwright's sync API
does: the plan, its links and the accounts are committed before the browser
starts; the other participants talk HTTP only.
"""

from __future__ import annotations

import re
import secrets

import pytest

from tests import servers, test_browser

pytestmark = [pytest.mark.browser, pytest.mark.once]

daphne_server = servers.daphne_server
live_atelier = servers.live_atelier
visitors = servers.visitors
browser = test_browser.browser

LIVE_MS = test_browser.LIVE_MS

# Runs before any script of every page: records violations as they happen.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(
    event.effectiveDirective + " blocked " + (event.blockedURI || "inline") +
    " at " + event.sourceFile + ":" + event.lineNumber + " " + (event.sample || "")
  );
});
"""


class Watched(test_browser.PageErrors):
    """One browser context with the violation listener, one page, every error."""

    def __init__(self, browser, label: str, **options) -> None:
        self.label = label
        self.context = browser.new_context(locale="fr-FR", **options)
        self.context.set_default_timeout(LIVE_MS)
        self.context.add_init_script(COLLECT_VIOLATIONS)
        self.page = self.context.new_page()
        self.watch(self.page)
        self.violations: list[str] = []
        # (status, url) of pages meant to fail: their HTTP error is reported twice.
        self.expected_failures: list[tuple[int, str]] = []

    def visit(self, url: str, status: int = 200):
        response = self.page.goto(url)
        assert response is not None, url
        assert response.status == status, f"{url} answered {response.status}"
        if status >= 400:
            self.expected_failures.append((status, url))
        assert "script-src 'self'" in response.headers["content-security-policy"], url
        self.settle()
        return response

    def settle(self) -> None:
        """Wait for the page's socket, if it has one, then read its violations."""
        from playwright.sync_api import expect

        page = self.page
        page.wait_for_load_state("load")
        if page.locator("#live-status").count():
            expect(page.locator("#live-status")).to_have_attribute("data-state", "online")
        self.collect()

    def collect(self) -> None:
        found = self.page.evaluate("window.__cspViolations.splice(0)")
        self.violations += [f"{self.page.url}: {violation}" for violation in found]

    def problems(self) -> list[str]:
        errors = [
            error
            for error in self.errors
            if not any(str(status) in error and url in error for status, url in self.expected_failures)
        ]
        return [f"{self.label}: {problem}" for problem in self.violations + errors]

    def close(self) -> None:
        self.context.close()


def _wait_for_push(page, before: str) -> None:
    page.wait_for_function("before => document.getElementById('live-version').dataset.version !== before", arg=before)


@pytest.fixture
def room(daphne_server, live_atelier, visitors):
    """A plan-phase atelier with an action, its public link and its pilot's link
    (all committed), and two participants who talk HTTP only."""
    from django.contrib.auth import get_user_model

    from boards.models import Participant
    from boards.services import facilitation, plan
    from boards.services.plan import Actor, PilotChoice

    code = live_atelier.code
    account = servers.create_facilitator(live_atelier)
    bruno = visitors(daphne_server, code, "Bruno", "entrepreneur")
    welders = bruno.post_impossible("Impossible de recruter des soudeurs à Cognac")
    premises = bruno.post_impossible("Aucun local à louer en centre-bourg", category="foncier")
    chloe = visitors(daphne_server, code, "Chloé", "agent")
    chloe.offer_help(welders, "Je connais le lycée professionnel de Barbezieux")

    facilitation.set_phase(live_atelier.pk, "plan")
    action = plan.create_action(
        live_atelier.pk,
        welders,
        actor=Actor.facilitator(get_user_model().objects.get(username=account.username)),
        title="Monter une formation soudure avec le CFA",
        pilot=PilotChoice(participant_id=Participant.objects.get(atelier=live_atelier, name="Bruno").pk),
        next_step="Appeler le CFA lundi",
        due_on="2031-03-31",
        submission_key=secrets.token_hex(8),
    )
    return {
        "code": code,
        "account": account,
        "chloe": chloe,
        "welders": welders,
        "premises": premises,
        "action": action.pk,
        "share": plan.publish_plan(live_atelier.pk),
        "pilot": action.pilot.token,
    }


def test_no_page_breaks_the_content_security_policy(daphne_server, room, browser):
    from playwright.sync_api import expect

    base = daphne_server.url
    code = room["code"]
    phone = Watched(browser, "phone", viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    desk = Watched(browser, "desk", viewport={"width": 1366, "height": 900})
    stranger = Watched(browser, "stranger", viewport={"width": 390, "height": 800})
    try:
        # The participant: home, join form, the live board, a push, the other pages.
        hand = phone.page
        phone.visit(f"{base}/")
        phone.visit(f"{base}/a/{code}/join/")
        hand.locator("#id_name").fill("Alice")
        hand.locator("input[name=role][value=entrepreneur]").check()
        hand.locator("main form button[type=submit]").click()
        expect(hand).to_have_url(re.compile(rf"/a/{code}/$"))
        phone.settle()
        before = hand.locator("#live-version").get_attribute("data-version")
        room["chloe"].offer_help(room["premises"], "Un local vide appartient à la mairie")
        _wait_for_push(hand, before)
        expect(hand.locator(f"#imp-{room['premises']}")).to_be_visible()
        phone.collect()
        phone.visit(f"{base}/a/{code}/impossibles/{room['welders']}/")
        phone.visit(f"{base}/a/{code}/impossibles/{room['premises']}/offers/")
        phone.visit(f"{base}/a/{code}/me/")
        phone.visit(f"{base}/a/NOPE99/", status=404)

        # The facilitator: login, console (and its live refresh), projector, poster, plan, forms.
        page = desk.page
        page.goto(f"{base}/a/{code}/console/")
        expect(page).to_have_url(re.compile(r"/accounts/login/"))
        desk.settle()
        page.locator("#id_username").fill(room["account"].username)
        page.locator("#id_password").fill(room["account"].password)
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(re.compile(rf"/a/{code}/console/$"))
        desk.settle()
        with page.expect_response(re.compile(r"/console/panels/")):
            room["chloe"].offer_help(room["welders"], "Le CFA de Cognac cherche des entreprises")
        expect(page.locator("main")).to_contain_text("Le CFA de Cognac cherche des entreprises")
        desk.collect()

        projector = desk.visit(f"{base}/a/{code}/projector/")
        assert projector.ok
        expect(page.locator(".qr svg")).to_be_visible()
        with page.expect_response(re.compile(r"/projector/panels/")):
            room["chloe"].offer_help(room["premises"], "La communauté de communes a un atelier relais")
        desk.collect()
        desk.visit(f"{base}/a/{code}/poster/")
        expect(page.locator(".qr svg")).to_be_visible()
        desk.visit(f"{base}/a/{code}/plan/")
        desk.visit(f"{base}/a/{code}/console/impossibles/{room['premises']}/actions/new/")
        desk.visit(f"{base}/a/{code}/console/actions/{room['action']}/")
        desk.visit(f"{base}/a/{code}/console/settings/")
        desk.visit(f"{base}/facilitate/")
        desk.visit(f"{base}/facilitate/new/")
        desk.visit(f"{base}/admin/login/")

        # Someone holding the links, without an account.
        stranger.visit(f"{base}/plan/{room['share']}/")
        stranger.visit(f"{base}/suivi/{room['pilot']}/")
        stranger.visit(f"{base}/accounts/login/")
        stranger.visit(f"{base}/accounts/password_reset/")

        problems = phone.problems() + desk.problems() + stranger.problems()
        assert not problems, "\n".join(problems)
    finally:
        phone.close()
        desk.close()
        stranger.close()


def test_the_listener_hears_a_violation(daphne_server, browser):
    """The control: an injected style attribute and inline script are blocked
    and reported, both as an event and as a console error."""
    watched = Watched(browser, "control")
    try:
        watched.visit(f"{daphne_server.url}/")
        watched.page.evaluate(
            """() => {
              document.body.insertAdjacentHTML("beforeend", '<p id="injected" style="color: red">x</p>');
              const script = document.createElement("script");
              script.textContent = "window.__ran = true";
              document.body.appendChild(script);
            }"""
        )
        watched.page.wait_for_function("window.__cspViolations.length >= 2")
        watched.collect()
        assert watched.page.evaluate("window.__ran") is None
        directives = " ".join(watched.violations)
        assert "style-src-attr" in directives and "script-src-elem" in directives, watched.violations
        assert any("Content Security Policy" in error for error in watched.errors), watched.errors
    finally:
        watched.close()


def test_chromium_counts_the_pages_own_websocket_as_self(daphne_server, live_atelier, visitors, browser):
    """connect-src 'self' alone lets the board's socket open in Chromium (CSP3);
    the explicit ws://host and wss://host are for older Safari.

    The page's policy is rewritten in flight. Chromium then takes the page
    for one from the public internet (Playwright served it, not 127.0.0.1)
    and its local-network checks would refuse the socket: this test's own
    Chromium runs without them."""
    from playwright.sync_api import expect

    code = live_atelier.code
    visitor = visitors(daphne_server, code, "Alice", "entrepreneur")
    chromium = browser.browser_type.launch(
        executable_path=str(test_browser.CHROMIUM),
        args=[*test_browser.CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"],
        headless=True,
    )
    watched = Watched(chromium, "self only")
    host = daphne_server.url.removeprefix("http://")

    def without_websocket_sources(route) -> None:
        response = route.fetch()
        headers = dict(response.headers)
        policy = headers["content-security-policy"].replace(f" ws://{host}", "").replace(f" wss://{host}", "")
        assert "connect-src 'self';" in policy + ";", policy
        headers["content-security-policy"] = policy
        route.fulfill(response=response, headers=headers)

    try:
        watched.context.add_cookies([{"name": "sessionid", "value": visitor.session_id, "url": daphne_server.url}])
        watched.page.route(re.compile(rf"/a/{code}/$"), without_websocket_sources)
        watched.page.goto(f"{daphne_server.url}/a/{code}/")
        expect(watched.page.locator("#live-status")).to_have_attribute("data-state", "online")
        watched.collect()
        assert not watched.problems(), watched.problems()
    finally:
        watched.close()
        chromium.close()
