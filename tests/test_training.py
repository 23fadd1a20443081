"""Typical cases and the training simulator: the curated library, scripted trainees, the
optional LLM engine against a fake server, search, candidates and promotion, CLI and API."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from zuoxi.engines.local import Batch
from zuoxi.cli import app as cli
from zuoxi.ingest import read_file
from zuoxi.store import Store
from zuoxi.store.users import add_user
from zuoxi.training.cases import TAGS, builtin_cases
from zuoxi.training.library import CaseLibrary
from zuoxi.training.llm import LLMEngine
from zuoxi.training.simulator import ESCALATE_AT, DrillSession
from zuoxi.web import create_app

CASES = {c.id: c for c in builtin_cases()}
STALLING = "这个我这边也没有办法，您再等等看吧。"


def good_trainee(case) -> list[str]:
    """Greets, shows empathy, asks for every fact, then gives the case's best replies and closes."""
    lines = ["您好，很高兴为您服务，非常理解您的心情，给您添麻烦了。"]
    lines += [f"麻烦您告诉我一下{fact.asked_by[0]}，我好帮您处理。" for fact in case.facts]
    lines += [best.reply for best in case.best_solutions]
    lines.append("感谢您的耐心，请问还有其他可以帮您的吗？")
    return lines


def drill(case, lines, seed=0, engine=None) -> DrillSession:
    session = DrillSession(case, seed=seed, engine=engine)
    for line in lines:
        session.agent_says(line)
        if session.outcome:
            break
    return session


# --- the curated library -------------------------------------------------------------------------

def test_at_least_fifteen_curated_cases_cover_the_scenarios():
    assert len(CASES) >= 15
    assert set(TAGS) <= {t for c in CASES.values() for t in c.tags}
    assert {c.scorecard for c in CASES.values()} >= {"core", "ecommerce", "complaint", "outbound"}
    assert len({c.difficulty for c in CASES.values()}) >= 4
    for case in CASES.values():
        turns = case.conversation.turns
        assert all(turns[b.turn].role == "customer" for b in case.best_solutions), case.id
        assert case.escalation_turn is None or 0 <= case.escalation_turn < len(turns), case.id
        assert set(case.resolution.needs_facts) <= {f.key for f in case.facts}, case.id


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_a_good_trainee_resolves_every_case(case_id):
    case = CASES[case_id]
    session = drill(case, good_trainee(case))
    report = session.report()
    assert report.outcome in ("accepted", "accepted_alternative"), (case_id, report.events, [t.text for t in session.turns])
    assert report.score >= 0.7 * report.max_score, (case_id, [f.rule for f in report.result.failed()])
    assert max(report.anger) < ESCALATE_AT


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_a_broken_record_escalates_within_eight_turns(case_id):
    session = drill(CASES[case_id], [STALLING] * 8)
    assert session.outcome == "escalated", (case_id, session.anger, session.events)
    assert session.agent_turns <= 8 and session.anger == sorted(session.anger)  # anger only rises
    assert any(e.startswith("repeated") for events in session.events for e in events)


def test_same_seed_same_customer():
    case = CASES["wrong-burger"]
    lines = ["您好。", "您说。", "拒收就行。", "拒收就行。"]
    first = [t.text for t in drill(case, lines, seed=7).turns]
    assert first == [t.text for t in drill(case, lines, seed=7).turns]
    variants = {tuple(t.text for t in drill(case, lines, seed=s).turns) for s in range(8)}
    assert len(variants) > 1  # different seeds, different customers


def test_rude_words_raise_anger_more_than_stalling():
    case = CASES["wrong-burger"]
    rude = DrillSession(case)
    rude.agent_says("你听不懂吗？我说了拒收就行。")
    stall = DrillSession(case)
    stall.agent_says(STALLING)
    assert rude.current_anger > stall.current_anger
    assert any(e.startswith("insulted") for e in rude.events[0])


def test_asking_reveals_a_fact():
    case = CASES["wrong-burger"]
    session = DrillSession(case)
    turn = session.agent_says("您好，请问您的订单号是多少？")
    assert turn.text == case.facts[0].answer and "asked:order" in turn.events


# --- the LLM engine against a fake OpenAI-compatible server -----------------------------------------

class FakeServer:
    """A loopback server answering /v1/chat/completions the way `mode` says."""

    def __init__(self):
        self.mode, self.requests = "ok", []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                if outer.mode == "slow":
                    time.sleep(1.5)
                payload = {"ok": {"choices": [{"message": {"role": "assistant", "content": "我就想换个汉堡，你帮我查查行吗？"}}]},
                           "malformed": {"unexpected": True}, "slow": {}}[outer.mode]
                data = json.dumps(payload, ensure_ascii=False).encode() if outer.mode != "garbage" else b"<html>oops"
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def fake_llm():
    server = FakeServer()
    yield server
    server.close()


def test_llm_engine_words_the_reply(fake_llm):
    session = drill(CASES["wrong-burger"], ["拒收就行。"], engine=LLMEngine(fake_llm.url, "fake-model", timeout=1))
    assert session.turns[-1].text == "我就想换个汉堡，你帮我查查行吗？" and not session.degraded
    request = fake_llm.requests[0]
    assert request["model"] == "fake-model" and request["messages"][0]["role"] == "system"
    assert CASES["wrong-burger"].need in request["messages"][0]["content"]


@pytest.mark.parametrize("mode", ["malformed", "garbage", "slow"])
def test_llm_failures_fall_back_to_the_offline_engine(fake_llm, mode):
    fake_llm.mode = mode
    engine = LLMEngine(fake_llm.url, "fake-model", timeout=0.3)
    session = drill(CASES["wrong-burger"], ["拒收就行。", "拒收就行。"], engine=engine)
    offline = drill(CASES["wrong-burger"], ["拒收就行。", "拒收就行。"])
    assert session.degraded and session.outcome is None
    assert session.anger == offline.anger  # the rules, not the engine, move the customer
    assert all(t.text for t in session.turns)


def test_llm_engine_from_the_environment(monkeypatch):
    monkeypatch.delenv("ZUOXI_LLM_BASE_URL", raising=False)
    assert LLMEngine.from_environment() is None
    monkeypatch.setenv("ZUOXI_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ZUOXI_LLM_MODEL", "m")
    engine = LLMEngine.from_environment()
    assert engine.url == "http://127.0.0.1:9/v1/chat/completions" and engine.model == "m"


# --- library: search, candidates, promotion, attempts ------------------------------------------------

@pytest.fixture
def analyzed(tmp_path, samples):
    store = Store(str(tmp_path / "train.db"))
    for _ in Batch([samples / "complaint_desk.jsonl", samples / "ecommerce_chats.jsonl"], store=store, analyze=True).run():
        pass
    return store


def test_search_by_keyword_tag_and_similarity(analyzed, samples):
    library = CaseLibrary(analyzed)
    assert library.search("汉堡 拒收")[0][0].id == "wrong-burger"
    tagged = library.search("", tags=["回访"])
    assert tagged and all("回访" in c.tags for c, _ in tagged)
    assert all(c.difficulty == 2 for c, _ in library.search("", difficulty=2))
    burger = next(c for c in read_file(samples / "complaint_desk.jsonl") if c.id == "cp-002")
    assert library.search(like=burger)[0][0].id in {"wrong-burger", *[c.id for c in CASES.values() if "汉堡" in c.search_text()]}


def test_candidates_rank_the_troubled_conversations_and_promotion(analyzed):
    library = CaseLibrary(analyzed)
    candidates = library.candidates()
    ids = [c.conversation_id for c in candidates]
    assert "cp-001" in ids[:5] and "ec-003" not in ids  # the burger call ranks high; a smooth sale is no candidate
    assert all(c.reasons for c in candidates) and [c.rank for c in candidates] == sorted((c.rank for c in candidates), reverse=True)
    top = next(c for c in candidates if c.conversation_id == "cp-001")
    curation = {"id": "burger-again", "title": "又一个汉堡", "tags": ["外卖"], "difficulty": 2, "description": "同上",
                "need": "查一下是否送出", "analysis": "车轱辘话", "guide": [{"question": "诉求？", "answer": "查一下"}],
                "best_solutions": [{"turn": 1, "reply": "我马上帮您查一下。"}], "resolution": {"accept": ["帮您查"]},
                "persona": {"patience": 0.3}}
    case = library.promote(top.key, curation)
    assert library.get("burger-again").conversation.id == "cp-001" and case.persona.patience == 0.3
    assert "cp-001" not in [c.conversation_id for c in library.candidates()]
    with pytest.raises(Exception, match="already exists"):
        library.promote(top.key, curation)
    session = drill(library.get("burger-again"), ["您好，我马上帮您查一下。"])
    assert session.outcome == "accepted"
    library.record("07", session.report(), "offline")
    assert [a.outcome for a in library.attempts("07", "burger-again")] == ["accepted"]


# --- command line and API ----------------------------------------------------------------------------

def test_train_in_the_terminal(tmp_path):
    db = str(tmp_path / "cli.db")
    listed = CliRunner().invoke(cli, ["train", "--db", db, "--tag", "外卖"])
    assert listed.exit_code == 0 and "wrong-burger" in listed.stdout
    answers = "\n".join(["客户想查一下", "第3句", "先查询", *good_trainee(CASES["wrong-burger"])]) + "\n"
    done = CliRunner().invoke(cli, ["train", "wrong-burger", "--db", db, "--trainee", "t1"], input=answers)
    assert done.exit_code == 0, done.output
    assert "案例重现" in done.stdout and "参考：" in done.stdout and "客户接受" in done.stdout and "历次得分" in done.stdout
    assert [a.outcome for a in CaseLibrary(Store(db)).attempts("t1")] == ["accepted"]
    assert CliRunner().invoke(cli, ["train", "no-such-case", "--db", db]).exit_code == 2


def test_drills_over_the_api(tmp_path):
    db = str(tmp_path / "api.db")
    app = create_app(db)
    for name, role, agent in (("a07", "agent", "07"), ("a21", "agent", "21"), ("qa", "inspector", None)):
        add_user(app.state.store.engine, name, "correct-horse", role, agent_id=agent)

    def client(name):
        c = TestClient(app)
        c.headers["X-CSRF-Token"] = c.post("/api/login", json={"username": name, "password": "correct-horse"}).json()["csrf_token"]
        return c

    a07, a21, qa = client("a07"), client("a21"), client("qa")
    listed = a07.get("/api/training/cases", params={"q": "汉堡"}).json()
    assert listed[0]["id"] == "wrong-burger" and "need" not in listed[0]
    assert "debrief" not in a07.get("/api/training/cases/wrong-burger").json()
    assert a07.get("/api/training/cases/wrong-burger", params={"reveal": True}).json()["debrief"]["need"]
    started = a07.post("/api/training/drills", json={"case_id": "wrong-burger", "seed": 1}).json()
    drill_id = started["drill_id"]
    assert a21.post(f"/api/training/drills/{drill_id}/turns", json={"text": "你好"}).status_code == 403
    for line in good_trainee(CASES["wrong-burger"]):
        answer = a07.post(f"/api/training/drills/{drill_id}/turns", json={"text": line}).json()
        if answer["outcome"]:
            break
    assert answer["outcome"] == "accepted" and answer["report"]["score"] >= 70 and answer["report"]["best_solutions"]
    assert a07.post(f"/api/training/drills/{drill_id}/turns", json={"text": "再见"}).status_code == 409
    assert [a["outcome"] for a in a07.get("/api/training/attempts").json()] == ["accepted"]
    assert a21.get("/api/training/attempts", params={"who": "07"}).json() == []  # agents see only their own
    assert [a["trainee"] for a in qa.get("/api/training/attempts", params={"who": "07"}).json()] == ["07"]
    assert a07.get("/api/training/candidates").status_code == 403 and qa.get("/api/training/candidates").status_code == 200
    assert a07.get("/training").status_code == 200 and "wrong-burger" in a07.get("/training/wrong-burger").text


def test_an_inspector_promotes_a_candidate_in_the_browser_form(analyzed):
    app = create_app(analyzed.url)
    add_user(app.state.store.engine, "qa", "correct-horse", "inspector")
    qa = TestClient(app)
    csrf = qa.post("/api/login", json={"username": "qa", "password": "correct-horse"}).json()["csrf_token"]
    listing = qa.get("/training").text
    key = next(c.key for c in CaseLibrary(analyzed).candidates() if c.conversation_id == "cp-004")
    assert f"/training/promote/{key}" in listing
    assert "我退货都两个星期了" in qa.get(f"/training/promote/{key}").text
    form = {"csrf_token": csrf, "id": "refund-again", "title": "退款踢皮球", "tags": ["投诉", "退换货"], "difficulty": "4",
            "scorecard": "complaint", "description": "退款两周未到", "need": "要一个明确的退款时间", "analysis": "推诿",
            "patience": "0.3", "politeness": "0.4", "anger": "0.6", "question": "诉求？", "answer": "明确时间",
            "best_turn": "1", "best_reply": "我来负责跟进，今天下班前给您回电。", "accept": "我来负责，今天下班前"}
    bad = qa.post(f"/training/promote/{key}", data={**form, "id": "Bad Id"}, follow_redirects=False)
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
    done = qa.post(f"/training/promote/{key}", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/training/refund-again"
    case = CaseLibrary(analyzed).get("refund-again")
    assert case.tags == ["投诉", "退换货"] and case.resolution.accept == ["我来负责", "今天下班前"] and case.persona.patience == 0.3
    again = qa.post(f"/training/promote/{key}", data=form, follow_redirects=False)
    assert "already+exists" in again.headers["location"]
    assert "already exists" in qa.get(again.headers["location"]).text  # the form shows why
