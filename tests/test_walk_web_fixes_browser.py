"""The drill page in a browser (tests/test_walk_web_fixes.py has the API): a drill ended without a word shows no
score (it showed 未完成 · 得分 100/100), and a typed line with a phone number shows masked, as the attempt stores it
(it showed as typed)."""

from __future__ import annotations

import pytest
from live_server import browser_page, running_app

from zuoxi.store import Store
from zuoxi.store.users import add_user

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = f"sqlite:///{tmp_path_factory.mktemp('drill-browser') / 'drill.db'}"
    store = Store(db)
    add_user(store.engine, "a21", PASSWORD, "agent", agent_id="21")
    store.close()
    with running_app(db, "--no-models") as base:
        yield base


@pytest.fixture
def page(server):
    with browser_page(server, dialogs=False) as opened:
        opened.goto("/login")
        opened.fill("input[name=username]", "a21")
        opened.fill("input[name=password]", PASSWORD)
        opened.click("button[type=submit]")
        opened.wait_for_selector("nav .who")
        yield opened


def test_a_drill_ended_without_a_word_shows_no_score(page):
    from playwright.sync_api import expect

    page.goto("/training/wrong-burger")
    page.click("#start")
    expect(page.locator("#chat .turn.customer")).to_have_count(1)
    page.click("#stop")
    expect(page.locator("#outcome")).to_have_text("没有作答：本次不计分，也不记入历史。")
    assert "100" not in page.locator("#outcome").inner_text()


def test_a_typed_phone_number_shows_masked_in_the_drill(page):
    from playwright.sync_api import expect

    page.goto("/training/wrong-burger")
    page.click("#start")
    expect(page.locator("#chat .turn.customer")).to_have_count(1)
    page.fill("#line", "我的电话 13812345678")
    page.press("#line", "Enter")
    expect(page.locator("#chat .turn.agent .bubble")).to_have_text("我的电话 *******5678")
    expect(page.locator("#chat .turn.customer")).to_have_count(2)
    assert "13812345678" not in page.locator("#chat").inner_text()
    assert page.input_value("#line") == ""
