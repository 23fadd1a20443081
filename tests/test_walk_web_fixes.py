"""Findings of a web walkthrough: conversations sampled before they were scored were never sampled for their period;
an inspector who resolved an agent's appeal kept that agent's queue items (which the plan's rules no longer let
them take); an empty drill scored 100/100; the live drill transcript showed typed personal data unmasked; the
appeal and case-promotion forms lost what the user typed when refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.queues_world import MONDAY, WEEK, Spec, add, conversation, result
from zuoxi.queues import items as I
from zuoxi.queues.sampling import run_plan
from zuoxi.review import appeal_finding, resolve_appeal
from zuoxi.store import queues as Q
from zuoxi.store import reviews as stored_reviews
from zuoxi.store.audit import audit_entries
from zuoxi.store.tables import TrainingAttempt
from zuoxi.store.users import add_user, get_account

SATURDAY = MONDAY + timedelta(days=5)
EVERYTHING = "id: all\nname: 全抽\nrandom: {share: 1.0}\nassignment: {method: round_robin}\n"


def user(engine, name: str, role: str = "inspector", team: str | None = None, agent_id: str | None = None):
    return add_user(engine, name, "password-1", role, team, agent_id)


def stored_plan(engine, text: str) -> None:
    from zuoxi.queues.plans import parse_plan

    Q.save_plan(engine, parse_plan(text, "test.yaml"), text, None)


# --- 1. a run considers only the conversations it could see scored ---------------------------------------------


def test_conversations_imported_before_a_run_and_scored_after_it_are_sampled_by_the_next(store):
    engine = store.engine
    user(engine, "qa1")
    stored_plan(engine, EVERYTHING)
    specs = [Spec(f"late-score-{i}", score=70 + i) for i in range(4)]
    keys = store.add_conversations((conversation(s), "walk.jsonl") for s in specs)  # imported, no results yet
    first = run_plan(engine, "all", WEEK, today=SATURDAY)
    assert (first.considered, first.sampled) == (0, 0)  # nothing scored: nothing to look at
    store.save_results(zip(keys, (result(s) for s in specs)))  # analysed after the run
    second = run_plan(engine, "all", WEEK, today=SATURDAY)
    assert (second.considered, second.sampled) == (4, 4)  # was (0, 0): counted as considered by the first run
    third = run_plan(engine, "all", WEEK, today=SATURDAY)
    assert third.considered == 0  # the second run did look at them: one chance each
    add(store, Spec("fresh", score=60))  # imported and scored after: the next run sees it, as before
    assert run_plan(engine, "all", WEEK, today=SATURDAY).considered == 1


# --- 2. resolving an appeal hands the resolver's conflicting items on ------------------------------------------


def _appeal_world(tmp_path, plan: str):
    from zuoxi.store import Store

    store = Store(str(tmp_path / "appeal-items.db"))
    engine = store.engine
    qa1, qa2 = user(engine, "qa1"), user(engine, "qa2")
    agent = user(engine, "agent21", "agent", "一组", "21")
    add(
        store,
        Spec("appealed", agent="21", score=50, failed=["EM-02"]),
        Spec("another", agent="21", score=40),
        Spec("someone-else", agent="B2", team="二组", score=40),
    )
    stored_plan(engine, plan)
    run_plan(engine, "p", WEEK, today=SATURDAY)
    admin = get_account(engine, qa1.id)

    def items() -> dict[str, object]:
        return {i.conversation_id: i for i in Q.queue_items(engine, admin, SATURDAY, limit=100)}

    return store, engine, qa1, qa2, agent, items


def _give(engine, items, names: dict[str, str]) -> None:
    boss = user(engine, "boss", "admin")
    for conversation_id, who in names.items():
        I.reassign(engine, boss, items()[conversation_id].id, who, SATURDAY)


def test_an_inspector_who_resolves_an_agent_s_appeal_hands_that_agent_s_open_items_on(tmp_path):
    plan = "id: p\nname: 计划\nrandom: {share: 1.0}\nassignment: {method: round_robin, exclude_own_team: false}\n"
    store, engine, qa1, qa2, agent, items = _appeal_world(tmp_path, plan)
    _give(engine, items, {"appealed": "qa2", "another": "qa2", "someone-else": "qa2"})
    pk = items()["appealed"].result_pk
    appeal = appeal_finding(engine, agent, pk, "EM-02", "我已经安抚过客户了")
    resolve_appeal(engine, qa2, appeal, accept=False)  # the resolution goes through
    now = items()
    # Both items of agent 21 went to the one inspector the rules allow; the other agent's stays with qa2.
    assert (now["appealed"].assignee, now["another"].assignee, now["someone-else"].assignee) == ("qa1", "qa1", "qa2")
    with pytest.raises(I.QueueError, match="处理过该坐席的申诉"):  # the rule the move follows
        I.reassign(engine, get_account(engine, qa1.id), now["another"].id, "qa2", SATURDAY)
    _, entries = audit_entries(engine, who="qa2", action="queue.reassign")
    assert sorted(e.entity_id for e in entries if e.after["reason"] == "appeal") == sorted(
        str(now[c].id) for c in ("appealed", "another")
    )
    store.close()


def test_items_nobody_may_take_after_an_appeal_wait_unassigned_and_conversation_plans_move_only_that_one(tmp_path):
    plan = (
        "id: p\nname: 计划\nrandom: {share: 1.0}\n"
        "assignment: {method: workload, exclude_own_team: false, avoid_appeal_handlers: conversation, "
        "inspectors: [qa2]}\n"
    )
    store, engine, _, qa2, agent, items = _appeal_world(tmp_path, plan)
    assert {i.assignee for i in items().values()} == {"qa2"}
    appeal = appeal_finding(engine, agent, items()["appealed"].result_pk, "EM-02", "理由")
    resolve_appeal(engine, qa2, appeal, accept=True)
    now = items()
    assert now["appealed"].assignee is None and now["appealed"].due_on is None  # the plan has nobody else
    assert now["another"].assignee == "qa2"  # the plan avoids the appealed conversation only
    store.close()


# --- the web app: drills and forms -------------------------------------------------------------------------------

PASSWORD = "correct-horse"


@pytest.fixture
def web(tmp_path):
    from fastapi.testclient import TestClient

    from zuoxi.web import create_app

    db = str(tmp_path / "walk-web.db")
    app = create_app(db, models=False)
    engine = app.state.store.engine
    for name, role, agent in (("a21", "agent", "21"), ("qa", "inspector", None)):
        add_user(engine, name, PASSWORD, role, agent_id=agent)
    keys = add(app.state.store, Spec("appeal-me", agent="21", score=50, failed=["EM-02"]))

    def client(name: str):
        c = TestClient(app)
        c.headers["X-CSRF-Token"] = c.post("/api/login", json={"username": name, "password": PASSWORD}).json()[
            "csrf_token"
        ]
        return c

    return {"app": app, "a21": client("a21"), "qa": client("qa"), "key": keys["appeal-me"]}


def test_a_drill_the_trainee_never_answered_has_no_score(web):
    a21 = web["a21"]
    drill = a21.post("/api/training/drills", json={"case_id": "wrong-burger", "seed": 1}).json()["drill_id"]
    report = a21.post(f"/api/training/drills/{drill}/finish").json()
    assert report["score"] is None and report["attempt_id"] is None  # was 100.0: nothing failed, nothing said
    assert report["answered"] is False and report["note"] == "没有作答：本次不计分，也不记入历史。"
    assert report["failed"] == [] and report["best_solutions"]  # the debrief still comes
    assert a21.get("/api/training/attempts").json() == []
    drill = a21.post("/api/training/drills", json={"case_id": "wrong-burger", "seed": 1}).json()["drill_id"]
    a21.post(f"/api/training/drills/{drill}/turns", json={"text": "您好，请问有什么可以帮您？"})
    answered = a21.post(f"/api/training/drills/{drill}/finish").json()
    assert answered["answered"] and answered["score"] is not None and answered["attempt_id"]


def test_a_drill_line_comes_back_masked_as_the_attempt_stores_it(web):
    a21 = web["a21"]
    drill = a21.post("/api/training/drills", json={"case_id": "wrong-burger", "seed": 1}).json()["drill_id"]
    answer = a21.post(f"/api/training/drills/{drill}/turns", json={"text": "我的电话 13812345678"}).json()
    assert answer["agent"] == "我的电话 *******5678" and answer["customer"]
    a21.post(f"/api/training/drills/{drill}/finish")
    with Session(web["app"].state.store.engine) as session:
        [turns] = session.scalars(select(TrainingAttempt.turns)).all()
    assert [t["text"] for t in turns[1:3]] == [answer["agent"], answer["customer"]]
    script = a21.get("/static/training_case.js").text
    assert "say('agent', answer.agent)" in script and "say('agent', text)" not in script  # the page shows the server's


def test_a_refused_appeal_shows_the_form_again_with_the_reason_typed(web):
    a21, key = web["a21"], web["key"]
    page = a21.get(f"/conversations/{key}").text
    assert 'name="reason" placeholder="申诉理由" size="16" required maxlength="2000"' in page
    pk = a21.get(f"/api/conversations/{key}").json()["results"][0]["result_id"]
    csrf = a21.headers["X-CSRF-Token"]
    reason = "客户先骂人，" + "我一直在安抚" * 1000  # 6,006 characters
    refused = a21.post(
        f"/conversations/{key}/appeal",
        data={"csrf_token": csrf, "result_id": pk, "rule": "EM-02", "reason": reason},
        follow_redirects=False,
    )
    assert refused.status_code == 400 and "输入有误" not in refused.text  # was a bare 422 page, the text lost
    assert "申诉理由太长：6,006 个字，最多 2,000 个字" in refused.text
    assert f'value="{reason}" autofocus' in refused.text  # in the form of the finding appealed
    assert (
        stored_reviews.list_appeals(web["app"].state.store.engine, get_account(web["app"].state.store.engine, 1)).items
        == []
    )
    empty = a21.post(
        f"/conversations/{key}/appeal",
        data={"csrf_token": csrf, "result_id": pk, "rule": "EM-02", "reason": "  "},
        follow_redirects=False,
    )
    assert empty.status_code == 400 and "申诉需要填写理由" in empty.text
    done = a21.post(
        f"/conversations/{key}/appeal",
        data={"csrf_token": csrf, "result_id": pk, "rule": "EM-02", "reason": "客户先骂人，我一直在安抚"},
        follow_redirects=False,
    )
    assert done.status_code == 303


def test_a_refused_case_promotion_keeps_every_field_typed(web):
    qa, key = web["qa"], web["key"]
    form = {
        "csrf_token": qa.headers["X-CSRF-Token"],
        "id": "kept-fields",
        "title": "保留的标题",
        "difficulty": "4",
        "scorecard": "complaint",
        "description": "保留的场景描述",
        "need": "保留的诉求",
        "analysis": "保留的分析",
        "patience": "0.7",
        "politeness": "0.4",
        "anger": "0.6",
        "question": "保留的问题？",
        "answer": "保留的答案",
        "best_turn": "1",
        "best_reply": "保留的话术",
        "accept": "帮您查,为您补发",
        "alternatives": "优惠券",
    }  # no tag ticked
    refused = qa.post(f"/training/promote/{key}", data=form, follow_redirects=False)
    page = refused.text
    assert refused.status_code == 400 and "标签：不能为空" in page
    for name in ("id", "title", "patience", "politeness", "anger", "question", "best_turn", "accept", "alternatives"):
        assert f'name="{name}"' in page and f'value="{form[name]}"' in page, name
    for name in ("description", "need", "analysis", "answer", "best_reply"):
        assert f">{form[name]}</textarea>" in page, name
    assert "<option selected>4</option>" in page and '<option value="complaint" selected>' in page
    form["tags"] = ["外卖"]
    refused = qa.post(f"/training/promote/{key}", data={**form, "best_turn": "99"}, follow_redirects=False)
    assert refused.status_code == 400 and "没有第 99 句" in refused.text
    assert 'value="外卖" checked' in refused.text and 'value="99"' in refused.text
    for blank in ("title", "description", "need", "analysis"):  # the browser's `required` bypassed
        refused = qa.post(f"/training/promote/{key}", data={**form, blank: "  "}, follow_redirects=False)
        assert refused.status_code == 400 and "不能为空" in refused.text, blank
    assert qa.post(f"/training/promote/{key}", data=form, follow_redirects=False).status_code == 303  # as typed
