"""The web app in a real headless Chromium (Debian's `chromium`, driven by Playwright), each role's
day: an inspector uploads a file, filters the list from its form and confirms or overturns findings,
the agent appeals another, the team lead accepts the appeal, two inspectors calibrate blind, the
admin reads the audit log and adds a user; each step is checked on the page, in Chinese, under the
Content-Security-Policy. `make test` installs chromium; without it these tests are skipped."""

from __future__ import annotations

import json
import re
import time

import pytest
from live_server import CHROMIUM, playwright_or_skip, running_app

from zuoxi.engines.local import Batch
from zuoxi.store import Store
from zuoxi.store.users import add_user

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse"
USERS = {
    "admin": ("admin", None, None),
    "qa": ("inspector", None, None),
    "qa2": ("inspector", None, None),
    "lead2": ("team_lead", "售后二组", None),
    "agent07": ("agent", None, "07"),
}
UPLOADED = "ec-006"  # agent 07, 售后二组; not in the database until the inspector uploads it


@pytest.fixture(scope="module")
def server(tmp_path_factory, samples):
    db = str(tmp_path_factory.mktemp("e2e") / "e2e.db")
    store = Store(db)
    for _ in Batch([samples / "complaint_desk.jsonl"], store=store, analyze=True).run():
        pass
    for name, (role, team, agent_id) in USERS.items():
        add_user(store.engine, name, PASSWORD, role, team, agent_id)
    store.close()
    with running_app(db, "--no-models") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    sync_api = playwright_or_skip()
    # A loaded 2-core machine (CI, or other work beside the tests) can take longer than Playwright's 5 s
    # default to render a page: the tests check what appears, not how fast.
    sync_api.expect.set_options(timeout=20_000)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server, locale="zh-CN")
    context.set_default_timeout(20_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console",
        lambda message: errors.append(f"{message.text} {message.location}") if message.type == "error" else None,
    )
    yield opened
    context.close()
    assert errors == [], "JavaScript errors in the pages"


def sign_in(page, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav .who")


def sign_out(page) -> None:
    page.click("nav .who button")
    page.wait_for_selector("form.login")


def score_card(page) -> tuple[object, float, float]:
    """The first result on a detail page: its section, current score and maximum."""
    section = page.locator("section[data-result]").first
    title = section.locator("h2").inner_text()
    score = float(section.locator(".score").inner_text())
    maximum = float(re.search(r"/\s*(\d+)", title).group(1))
    return section, score, maximum


def failed_rules(section) -> list[tuple[str, float]]:
    """(rule, points) of each failed finding that costs points, in page order."""
    rows = section.locator("table.findings tr.fail")
    found = []
    for i in range(rows.count()):
        row = rows.nth(i)
        points = float(row.locator("td.num").inner_text())
        if points < 0:
            found.append((row.locator("td b").inner_text(), points))
    return found


def open_uploaded(page) -> None:
    page.goto("/conversations?agent_id=07")
    page.click(f"table.list a:text-is('{UPLOADED}')")
    page.wait_for_selector("section[data-result]")


def test_upload_review_appeal_and_resolution(page, samples, tmp_path):
    from playwright.sync_api import expect

    line = next(
        line
        for line in (samples / "ecommerce_chats.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["id"] == UPLOADED
    )
    upload = tmp_path / "ec-006.jsonl"
    upload.write_text(line + "\n", encoding="utf-8")

    # The inspector uploads the file and waits for the background import to finish.
    sign_in(page, "qa")
    page.goto("/upload")
    page.set_input_files("#files", str(upload))
    page.click("#upload button[type=submit]")
    expect(page.locator("#status")).to_have_text("完成", timeout=60_000)
    expect(page.locator("#counts")).to_contain_text("会话 1")
    expect(page.locator("#errors li")).to_have_count(0)

    # ... opens it, overturns a failed finding and sees the score go up by its points.
    open_uploaded(page)
    section, before, maximum = score_card(page)
    failed = failed_rules(section)
    assert len(failed) >= 2, "the sample should fail at least two rules that cost points"
    (overturned, points), (appealed, _) = failed[0], failed[1]
    row = section.locator(f"tr[id$='-{overturned}']")
    row.locator("input[name=comment]").fill("客户已同意，不扣分")
    row.locator("button[value=overturn]").click()
    expect(section.locator(f"tr[id$='-{overturned}']")).to_have_class("pass")
    section, after, _ = score_card(page)
    assert after == pytest.approx(min(maximum, before - points))
    expect(section.locator(f"tr[id$='-{overturned}'] .tag")).to_have_text("人工改判")
    expect(section.locator("h2 .tag")).to_contain_text(f"机器评分 {before:g}")
    expect(section.locator(".history")).to_contain_text("客户已同意，不扣分")
    sign_out(page)

    # The agent sees the reviewed score and appeals another finding.
    sign_in(page, "agent07")
    open_uploaded(page)
    section, seen, _ = score_card(page)
    assert seen == pytest.approx(after)
    row = section.locator(f"tr[id$='-{appealed}']")
    row.locator("input[name=reason]").fill("客户情绪已平复，我已经道歉")
    row.locator("form.appeal button").click()
    expect(page.locator(".history")).to_contain_text("客户情绪已平复，我已经道歉 · 待处理")
    sign_out(page)

    # The team lead accepts it from the appeals page; the finding no longer costs the agent.
    sign_in(page, "lead2")
    page.goto("/appeals")
    appeal = page.locator("table.list tr", has_text="客户情绪已平复").first
    expect(appeal).to_contain_text(appealed)
    appeal.locator("input[name=comment]").fill("同意")
    appeal.locator("button[value=accept]").click()
    expect(page.locator("table.list")).not_to_contain_text("客户情绪已平复")  # gone from the open appeals
    page.goto("/appeals?status=accepted")
    expect(page.locator("table.list")).to_contain_text("客户情绪已平复")
    open_uploaded(page)
    section, resolved, _ = score_card(page)
    assert resolved > after
    expect(section.locator(f"tr[id$='-{appealed}']")).to_have_class("pass")
    expect(section.locator(".history")).to_contain_text("已接受 · 同意")


def test_api_docs_render_offline(page, server):
    """Swagger UI draws the API from the vendored files alone (any request off the server fails),
    for a signed-in user, under the pages' Content-Security-Policy (a violation is a console error)."""
    from playwright.sync_api import expect

    sign_in(page, "qa")
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto("/docs")
    expect(page.locator(".opblock-summary-path", has_text="/api/conversations/{key}").first).to_be_visible()
    assert outside == []


def test_a_drill_in_the_browser(page):
    """Seed 003's three stages on the training page: replay, guided analysis, a drill to the end."""
    from playwright.sync_api import expect

    sign_in(page, "agent07")
    page.goto("/training")
    page.click("text=点错汉堡")
    page.click("#all-turns")
    assert page.locator("#replay-turns .turn:visible").count() > 5
    # counted from 1 where people read them; the 升级 mark on the line shown as 4 (escalation_turn 3 in the case file)
    assert page.inner_text("#replay-turns .turn >> nth=0").startswith("1 ")
    assert page.inner_text("#replay-turns .turn:has(.emo.angry)").startswith("4 ")
    page.click("#reveal")
    page.wait_for_selector("#debrief:visible")
    assert "客户真正的诉求" in page.inner_text("#debrief")
    page.click("#start")
    page.wait_for_selector("#say:visible")
    assert "客户引擎：离线" in page.inner_text("#backend")
    for line in (
        "您好，很高兴为您服务，非常理解您的心情。",
        "我马上帮您查一下是否已经送出，还没出餐就帮您换成牛肉堡。",
    ):
        before = page.locator("#chat .turn.customer").count()
        page.fill("#line", line)
        page.press("#line", "Enter")
        expect(page.locator("#chat .turn.customer")).to_have_count(before + 1)
        if page.locator("#closing").is_visible():
            break
    page.wait_for_selector("#closing:visible")  # the customer accepted: the trainee's closing line follows
    page.fill("#line", "感谢您的耐心，请问还有其他可以帮您的吗？")
    page.press("#line", "Enter")
    page.wait_for_selector("#result:visible")
    assert "客户接受" in page.inner_text("#outcome")
    assert page.locator("#best li").count() >= 1
    # wrong-burger's best replies answer turns 1 and 3 of the case file: the customer lines shown as 2 and 4
    assert [t.split("：")[0] for t in page.locator("#best li").all_inner_texts()] == ["答第2句", "答第4句"]


def test_live_assist_replays_a_conversation_and_survives_a_reconnect(page):
    """The agent's live panel: a stored call replayed turn by turn raises its alerts at the right
    turns; the socket is cut mid-replay and the page resumes the same session without double turns."""
    from playwright.sync_api import expect

    sign_in(page, "agent07")
    page.goto("/live")
    option = page.locator("select[name=conversation] option", has_text="cp-001 ").first
    page.select_option("select[name=conversation]", option.get_attribute("value"))
    page.click("#pick button")
    page.select_option("#speed", "80")
    page.click("#play")
    page.wait_for_selector('.alert[data-kind="broken_record"]')
    assert page.get_attribute('.alert[data-kind="broken_record"]', "data-turn") == "6"
    page.evaluate("socket.close()")  # as if the network dropped: the page reconnects by itself
    expect(page.locator("#status")).to_have_text("回放完毕", timeout=20000)
    turns = page.locator("#transcript .turn")
    assert turns.count() == 11 and turns.nth(10).get_attribute("data-turn") == "10"
    kinds = [a.get_attribute("data-kind") for a in page.locator(".alert").all()]
    assert kinds.count("broken_record") == 1 and "complaint_risk" in kinds
    assert "拒收" in page.inner_text('.alert[data-kind="broken_record"]')
    page.click("#end")
    page.wait_for_selector("#final a")
    assert "CS-01" in page.inner_text("#final")


def test_an_inspector_filters_the_list_from_its_form_and_confirms_a_finding(page):
    """The form sends every field, the empty ones too: empty means any, and the page says what it found."""
    from playwright.sync_api import expect

    sign_in(page, "qa")
    page.goto("/conversations")
    everything = int(re.search(r"共 (\d+) 条", page.inner_text("#total")).group(1))
    page.fill("input[name=score_max]", "60")
    page.click("#list-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"score_min=&score_max=60&"))
    found = int(re.search(r"共 (\d+) 条", page.inner_text("#total")).group(1))
    assert 0 < found < everything
    scores = [
        float(s)
        for s in page.locator("#conversations td.num:nth-child(7)").all_inner_texts()
        if s.split()[0] != "—"
        for s in [s.split()[0]]
    ]
    assert scores and all(score <= 60 for score in scores)
    expect(page.locator("#conversations")).to_contain_text("核心技能质检表")
    page.locator("#conversations a").first.click()
    section, before, _ = score_card(page)
    rule, _ = failed_rules(section)[0]
    row = section.locator(f"tr[id$='-{rule}']")
    row.locator("input[name=comment]").fill("证据确凿")
    row.locator("button[value=confirm]").click()
    expect(page.locator(f"section[data-result] tr[id$='-{rule}'] .tag")).to_have_text("人工确认")
    assert score_card(page)[1] == before  # a confirmation keeps the score
    expect(page.locator(".history").first).to_contain_text(f"复核 {rule}：确认")


def test_two_inspectors_calibrate_blind(page):
    from playwright.sync_api import expect

    sign_in(page, "qa")
    page.goto("/calibration")
    page.fill("input[name=round]", "2026-12 盲评")
    page.click("#round-form button")
    page.locator("#more a").first.click()
    expect(page.locator("h1")).to_contain_text("校准盲评 2026-12 盲评")
    assert page.locator("mark, .score, .veto").count() == 0  # no machine verdict, score or evidence
    radios = page.locator("#judge input[value=fail]")
    for i in range(radios.count()):
        radios.nth(i).check()
    judged = page.locator("h1").inner_text().split(" · ")[-1]
    page.click("#judge button")
    expect(page.locator("#done")).to_contain_text(judged)
    sign_out(page)
    sign_in(page, "qa2")
    page.goto("/calibration?round=2026-12 盲评")
    page.locator("#todo a", has_text=judged).click()
    page.locator("#judge input[value=pass]").first.check()
    rest = page.locator("#judge input[value=fail]")
    for i in range(1, rest.count()):
        rest.nth(i).check()
    page.click("#judge button")
    expect(page.locator("#agreement")).to_contain_text("%")
    expect(page.locator("h2", has_text="总体一致率")).not_to_contain_text("—")
    expect(page.locator("#inspectors")).to_contain_text("qa2")


def test_the_admin_reads_the_audit_log_and_adds_a_user(page):
    from playwright.sync_api import expect

    sign_in(page, "admin")
    page.goto("/audit")
    page.select_option("select[name=who]", "qa")
    page.click("#audit-filters button[type=submit]")
    rows = page.locator("#audit tr:has(td)")
    assert rows.count() >= 1
    for text in rows.all_inner_texts():
        assert "qa" in text and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", text)
    page.goto("/users")
    form = page.locator("#add-user")
    form.locator("input[name=username]").fill("agent88")
    form.locator("input[name=password]").fill("agent88-pass")
    form.locator("select[name=role]").select_option("agent")
    form.locator("input[name=agent_id]").fill("８８")
    form.locator("input[name=team]").fill("售後二組")
    form.locator("input[name=display_name]").fill("坐席88")
    form.locator("button").click()
    expect(page.locator("p.ok")).to_have_text("已添加用户 agent88")
    expect(page.locator("#user-agent88 input[name=agent_id]")).to_have_value("88")
    expect(page.locator("#user-agent88 input[name=team]")).to_have_value("售后二组")
    sign_out(page)
    page.goto("/login")
    page.fill("input[name=username]", "agent88")
    page.fill("input[name=password]", "agent88-pass")
    page.click("button[type=submit]")
    expect(page.locator("nav .who")).to_contain_text("坐席88 · 坐席 · 售后二组")


def test_the_dashboard_radar_shows_named_behaviours(page):
    """Chart.js draws the radar of the chosen agent: the core skills and the soft skills shown, by name."""
    sign_in(page, "qa")
    page.goto("/")
    page.wait_for_selector("#radar-agent option", state="attached")
    labels = page.evaluate("Chart.getChart('radar').data.labels")
    values = page.evaluate("Chart.getChart('radar').data.datasets[0].data")
    assert {"情绪管理", "服务意识", "沟通技巧"} <= set(labels)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", label) for label in labels)  # names, not keys
    assert all(v > 0 for label, v in zip(labels, values) if label not in ("情绪管理", "服务意识", "沟通技巧"))


def test_an_inspector_works_through_their_queue(page):
    """A QA lead makes a sampling plan with the form and samples a week; the inspector opens 我的待复核,
    judges every failed finding of the first conversation with the usual confirm/overturn buttons,
    finishes it, skips the next with a reason; the team lead sees their team's progress."""
    from playwright.sync_api import expect

    sign_in(page, "qa")
    page.goto("/queue/plans")
    form = page.locator("#plan-form")
    form.locator("input[name=id]").fill("e2e-week")
    form.locator("input[name=name]").fill("端到端每周抽检")
    form.locator("input[name=score_max]").fill("100")
    form.locator("input[name=inspectors]").fill("qa")
    form.locator("button").click()
    expect(page.locator("h1")).to_contain_text("e2e-week")
    page.fill("#run-form input[name=day]", "2026-10-10")  # the week of cp-001 and cp-002
    page.click("#run-form button")
    expect(page.locator("#done")).to_contain_text("2026-W41")
    sampled = int(re.search(r"抽中 (\d+) 条", page.inner_text("#done")).group(1))
    assert sampled >= 2

    page.click("nav >> text=我的待复核")
    expect(page.locator("#count-open")).to_have_text(str(sampled))
    expect(page.locator("#queue")).to_contain_text("低于 100 分")
    first = page.locator("#queue tr[id^=item-]").first
    conversation = first.locator("td a").inner_text()
    first.locator("td a").click()
    task = page.locator("section.task")
    expect(task).to_contain_text("端到端每周抽检")
    result = task.get_attribute("data-result")
    missing = task.locator(".missing").inner_text()
    rules = missing.split("：", 1)[1].split("、") if "还需复核" in missing else []
    for n, rule in enumerate(rules):  # the existing review flow: one confirm or overturn per failed finding
        row = page.locator(f"#finding-{result}-{rule}")
        row.locator("input[name=comment]").fill("复核任务")
        row.locator(f"button[value={'overturn' if n == 0 else 'confirm'}]").click()
        expect(page.locator(f"#finding-{result}-{rule} .tag")).to_have_text("人工改判" if n == 0 else "人工确认")
    expect(page.locator("section.task .missing")).to_have_text("未通过的质检项都已复核，可以完成")
    page.click("section.task button.finish")
    expect(page.locator("p.ok")).to_contain_text("已完成复核任务")
    expect(page.locator("#count-done")).to_have_text("1")
    expect(page.locator("#closed")).to_contain_text(conversation)

    following = page.locator("#queue tr[id^=item-]").first
    following.locator("select[name=skip_reason]").select_option("duplicate")
    following.locator("button", has_text="跳过").click()
    expect(page.locator("p.ok")).to_contain_text("已跳过复核任务")
    expect(page.locator("#count-skipped")).to_have_text("1")
    expect(page.locator("#count-open")).to_have_text(str(sampled - 2))
    expect(page.locator("#closed")).to_contain_text("重复会话")
    sign_out(page)

    sign_in(page, "lead2")
    page.click("nav >> text=复核进度")
    expect(page.locator("#plans")).to_contain_text("端到端每周抽检")
    expect(page.locator("#workload")).to_contain_text("qa")
    expect(page.locator("#open-items")).not_to_contain_text("投诉专席")  # another team's items are not the lead's


def test_live_assist_waits_and_sends_again_a_turn_refused_as_too_fast(page):
    """The server refuses a frame past the sender's allowance with `retry_after` and closes a connection that keeps
    sending past it (zuoxi/web/assist.py): the page dropped such a turn and sent the next at once, so a long fast
    replay would be cut off. It keeps the turn and sends it again once allowed, the end too; a turn refused for good
    still goes."""
    from playwright.sync_api import expect

    sign_in(page, "agent07")
    page.goto("/live")
    page.fill("#text", "您好，请问有什么可以帮您")
    page.press("#text", "Enter")
    expect(page.locator('#transcript .turn[data-turn="0"]')).to_have_count(1)
    until(page, "() => !waiting && sent === 1")
    page.evaluate(
        """() => {
            window.frames_sent = [];
            const send = socket.send.bind(socket);
            socket.send = frame => { window.frames_sent.push(JSON.parse(frame)); send(frame); };
            local.push({role: 'customer', text: '我的快递还没到'});
            addTurn(1, local[1]); sent = 2; waiting = true;  // as if turn 1 had just gone out
            handle({type: 'error', error: '发送太快，请稍后再发', turns: 1, retry_after: 0.2});
        }"""
    )
    until(page, "() => window.frames_sent.some(f => f.type === 'turn' && f.seq === 1)")
    assert page.evaluate("() => window.frames_sent.filter(f => f.type === 'turn').map(f => f.text)") == [
        "我的快递还没到"
    ]
    expect(page.locator('#transcript .turn[data-turn="1"]')).to_have_count(1)
    until(page, "() => !waiting && sent === 2")
    page.evaluate(
        """() => {
            local.push({role: 'agent', text: '太长了'});
            addTurn(2, local[2]); sent = 3; waiting = true;
            handle({type: 'error', error: '一句太长', turns: 2, retry_after: null});
        }"""
    )
    expect(page.locator('#transcript .turn[data-turn="2"]')).to_have_count(0)  # refused for good: dropped
    assert page.evaluate("() => local.length") == 2
    # the end itself refused as too fast: sent again once allowed, and the result comes
    page.evaluate(
        """() => {
            window.frames_sent.length = 0; ending = true;
            handle({type: 'error', error: '发送太快，请稍后再发', turns: 2, retry_after: 0.2});
        }"""
    )
    until(page, "() => window.frames_sent.some(f => f.type === 'end')")
    expect(page.locator("#final")).to_contain_text("质检得分", timeout=20000)


def until(page, predicate: str, seconds: float = 10.0) -> None:
    """Wait for a page-side condition (the pages' CSP forbids eval, which Playwright's wait_for_function uses)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, predicate
        page.wait_for_timeout(50)
