"""我的外呼 in a real headless Chromium: the agent's queue on the page, a hostile region shown as text, 显示号码
putting the number into that row only, through the audited dial endpoint (the script's POST with the CSRF token,
under the Content-Security-Policy), and 下一页/上一页 through a queue longer than a page. Skipped without Chromium,
as tests/test_web_e2e.py is."""

from __future__ import annotations

import csv
from datetime import date, time

import pytest
from live_server import browser_page, running_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from zuoxi.campaigns import vault
from zuoxi.campaigns.assign import assign
from zuoxi.campaigns.calllist import import_call_list
from zuoxi.campaigns.campaign import create_campaign, load_spec
from zuoxi.campaigns.models import CallingHours
from zuoxi.store import Store
from zuoxi.store.tables import AuditEntry
from zuoxi.store.users import add_user

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse"
EVIL = '"><img src=x onerror=alert(1)><script>alert(1)</script>'
HEADER = "客户号,姓名,性别,手机号,卡号,网点,地区,年龄,职业\n"
MORE = 53  # customers after A and B: 55 in all, two pages of 50 and 5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Two customers of agent 07 (one of a hostile region) and MORE after them in a campaign callable at any hour;
    the server is a child process that reads the numbers' key from the environment, as `zuoxi serve` does."""
    tmp = tmp_path_factory.mktemp("calls-browser")
    patch = pytest.MonkeyPatch()
    patch.setenv(vault.SECRET_ENV, "a long random passphrase, only for the tests")
    db = f"sqlite:///{tmp / 'calls.db'}"
    store = Store(db)
    spec = load_spec("card_activation").model_copy(
        update={"calling_hours": CallingHours(start=time(0), end=time(23, 59, 59, 999999))}
    )
    create_campaign(store, spec)
    path = tmp / "list.csv"
    rows = [
        ["A", "张三", "男", "13800000001", "6227 0000 0000 1234", "汕头分行营业部", "汕头", "30", "教师"],
        ["B", "李四", "女", "13800000002", "6227 0000 0000 5678", "汕头分行营业部", EVIL, "40", "教师"],
    ]
    rows += [
        [
            f"M{n:03d}",
            f"周{n}",
            "男",
            f"1391{n + 100:07d}",
            "6227 0000 0000 1234",
            "汕头分行营业部",
            "汕头",
            "30",
            "教师",
        ]
        for n in range(MORE)
    ]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        csv.writer(out).writerows(rows)
    assert import_call_list(store, "card_activation", path, as_of=date(2026, 3, 1)).errors == []
    assign(store, "card_activation", ["07"])
    add_user(store.engine, "a07", PASSWORD, "agent", agent_id="07")
    store.close()
    with running_app(db, "--no-models") as base:
        yield base, db
    patch.undo()


@pytest.fixture
def page(server):
    with browser_page(server[0]) as opened:
        yield opened


def test_an_agent_reveals_a_number_from_their_calls_page(page, server):
    from playwright.sync_api import expect

    page.goto("/login")
    page.fill("input[name=username]", "a07")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav .who")
    page.click("nav a:text-is('我的外呼')")
    rows = page.locator("table.calls tr[data-customer]")
    expect(rows).to_have_count(50)
    expect(page.locator("table.calls")).to_contain_text(EVIL)  # the region as text, not markup
    assert page.locator("table.calls img").count() == 0
    first = rows.nth(0)
    assert "13800000001" not in first.inner_text() and "13800000002" not in page.content()
    first.locator("button.reveal").click()
    expect(first.locator(".number")).to_have_text("13800000001")
    expect(rows.nth(1).locator(".number")).to_have_text("")  # that row only
    with Session(Store(server[1]).engine) as session:
        actions = [e.action for e in session.scalars(select(AuditEntry))]
    assert actions.count("reveal_phone") == 1


def test_an_agent_pages_through_a_queue_longer_than_a_page(page, server):
    from playwright.sync_api import expect

    page.goto("/login")
    page.fill("input[name=username]", "a07")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav .who")
    page.goto("/calls")
    queue = page.locator("#queue-card_activation")
    rows = queue.locator("table.calls tr[data-customer]")
    expect(rows).to_have_count(50)
    expect(queue.locator(".queue-count")).to_have_text("共 55 位可拨打 · 第 1/2 页 · 第 1–50 位")
    expect(queue.locator("a[rel=prev]")).to_have_count(0)
    first = rows.evaluate_all("rows => rows.map(r => r.dataset.customer)")
    queue.locator("a[rel=next]").click()
    expect(page).to_have_url(server[0] + "/calls?campaign=card_activation&page=2")
    expect(rows).to_have_count(5)
    expect(queue.locator(".queue-count")).to_have_text("共 55 位可拨打 · 第 2/2 页 · 第 51–55 位")
    expect(queue.locator("a[rel=next]")).to_have_count(0)
    second = rows.evaluate_all("rows => rows.map(r => r.dataset.customer)")
    assert len(set(first + second)) == 2 + MORE  # every customer, none on both pages
    queue.locator("a[rel=prev]").click()
    expect(rows).to_have_count(50)
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.customer)") == first
