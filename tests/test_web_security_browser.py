"""The injection probes in a real Chromium: every role opens every page it may, replays the hostile
conversation in live assist, types a payload into a drill and uploads a file named like one; no
dialog may ever open and no script may be refused by the Content-Security-Policy (a refusal is
a console error, which would mean an injection reached the page)."""

from __future__ import annotations

import pytest
from live_server import CHROMIUM, playwright_or_skip, running_app
from test_web_security import ALL, EVIL, PAGES, PASSWORD, fill, hostile_database, populate

from zuoxi.web import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory, samples):
    db = hostile_database(tmp_path_factory.mktemp("browser-security"), samples)
    world = populate(create_app(db, models=False))
    world["app"].state.store.close()
    with running_app(db, "--no-models") as base:
        yield base, world


@pytest.fixture(scope="module")
def browser():
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def watched(browser, server):
    """A page whose dialogs and console errors are recorded; both must stay empty."""
    base, _ = server
    context = browser.new_context(base_url=base, locale="zh-CN")
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield page
    context.close()
    assert dialogs == [], "an injected script opened a dialog"
    assert errors == [], "console errors (a CSP refusal means an injection reached the page)"


def sign_in(page, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav .who")


@pytest.mark.parametrize("role", ALL)
def test_no_payload_runs_on_any_page(watched, server, role):
    _, world = server
    sign_in(watched, role)
    for url, allowed, _ in PAGES:
        if role in allowed:
            watched.goto(fill(url, world))  # waits for "load": after every image, so after any onerror
            assert watched.locator("main").count() == 1, url


def test_no_payload_runs_in_sign_in_live_drill_or_upload(watched, server, tmp_path):
    from playwright.sync_api import expect

    _, world = server
    watched.goto(fill("/login?next={evil}&error={evil}", world))
    expect(watched.locator("form.login")).to_be_visible()
    expect(watched.locator(".error")).to_have_count(0)  # a link's text is no sign-in error
    sign_in(watched, "agentx")
    watched.goto(f"/live?conversation={world['key']}")  # the hostile turns go over the socket and come back as alerts
    watched.select_option("#speed", "80")
    watched.click("#play")
    expect(watched.locator("#status")).to_have_text("回放完毕", timeout=20000)
    expect(watched.locator("#transcript .turn").first).to_contain_text(EVIL)
    watched.goto("/training/wrong-burger")
    watched.click("#start")
    watched.fill("#line", EVIL)
    watched.press("#line", "Enter")
    expect(watched.locator("#chat .turn.agent .bubble").first).to_have_text(EVIL)
    expect(watched.locator("#chat .turn.customer")).to_have_count(2)
    sign_in(watched, "qa")
    hostile = tmp_path / "x.jsonl"
    hostile.write_text('{"id": "ok", "turns": [{"role": "agent", "text": "您好"}]}\n' + EVIL + "\n", encoding="utf-8")
    watched.goto("/upload")
    watched.set_input_files(
        "#files",
        files=[{"name": EVIL.replace("/", "") + ".jsonl", "mimeType": "text/plain", "buffer": hostile.read_bytes()}],
    )
    watched.click("#upload button[type=submit]")
    expect(watched.locator("#status")).to_have_text("完成", timeout=60000)
    expect(watched.locator("#errors li")).to_have_count(1)
    expect(watched.locator("#errors li")).to_contain_text("img src=x onerror=alert(1)")  # the file name, as text
