"""Typical cases and the training simulator: the curated library, the closing turn and a seed-free
score, the optional LLM engine against a fake server (hangs, trickles, errors, nonsense), search,
candidates and promotion, CLI and API. The customer's behaviour itself is tested in test_simulator.py."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from trainees import CASES, CLOSING, STALLING, drill, good_trainee
from typer.testing import CliRunner

from zuoxi.cli import app as cli
from zuoxi.coaching.cases import TAGS, CaseError
from zuoxi.coaching.library import CaseLibrary
from zuoxi.coaching.llm import LLMEngine
from zuoxi.coaching.simulator import MAX_AGENT_LINE, DrillSession, EmptyLine
from zuoxi.engines.local import Batch
from zuoxi.ingest import read_file
from zuoxi.rules.engine import get_scorecard
from zuoxi.store import Store
from zuoxi.store.tables import TrainingAttempt
from zuoxi.store.users import add_user
from zuoxi.web import create_app

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
        # the customer's own lines state no fact it holds: those come only when asked
        own = [case.presses(p) for p in case.resolution.parts] + [t.says or "" for t in case.triggers]
        assert not [f.key for f in case.facts for line in own if f.answer in line], case.id
        assert any(not p.hidden for p in case.resolution.parts), case.id


def test_same_seed_same_customer():
    case = CASES["wrong-burger"]
    lines = ["您好。", "您说。", "拒收就行。", "拒收就行。"]
    first = [t.text for t in drill(case, lines, seed=7).turns]
    assert first == [t.text for t in drill(case, lines, seed=7).turns]
    variants = {tuple(t.text for t in drill(case, lines, seed=s).turns) for s in range(8)}
    assert len(variants) > 1  # different seeds, different customers


PLAIN = ["您好。", "您说。", "好的。", "嗯嗯，好的。", "这个要看情况。", "好的。", "您稍等。", "好的。"]


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_the_score_does_not_depend_on_the_seed(case_id):
    """The same trainee lines get the same anger, outcome and score whatever the customer's wording
    (CS-03 used to count the seed's filler lines: 56 vs 66 for identical lines)."""
    case = CASES[case_id]
    for lines in (good_trainee(case), PLAIN, [STALLING] * 8):
        judged = set()
        wordings = set()
        for seed in range(6):
            session = drill(case, lines, seed=seed)
            report = session.report()
            judged.add(
                (report.score, tuple(f.rule for f in report.result.failed()), report.outcome, tuple(report.anger))
            )
            wordings.add(tuple(t.text for t in session.turns))
        assert len(judged) == 1, (case_id, judged)
    assert len(wordings) > 1  # the wording did vary with the seed


def test_after_the_outcome_the_trainee_still_closes():
    """Accepting ends the customer's side; the trainee's closing line is then scored (CS-08)."""
    case = CASES["late-delivery-cooker"]
    closed = drill(
        case, good_trainee(case), closing="实在抱歉给您添麻烦了，感谢您的理解，请问还有其他可以帮您的吗？祝您生活愉快。"
    )
    cut = drill(case, good_trainee(case), closing=None)
    assert closed.outcome == cut.outcome == "accepted" and closed.finished and cut.closing
    assert closed.turns[-1].role == "agent" and len(closed.turns) == len(cut.turns) + 1
    assert closed.report().score > cut.report().score
    # The closing line is judged: CS-08 fails without it. (EC-06 counts the six steps present, in any order,
    # and fails from three missing — docs/rules.md — so this trainee's five steps pass it either way.)
    assert "CS-08" in {f.rule for f in cut.report().result.failed()}
    assert not {"CS-08", "EC-06"} & {f.rule for f in closed.report().result.failed()}
    with pytest.raises(RuntimeError, match="the drill is over"):
        closed.agent_says("还在吗？")
    escalated = drill(CASES["wrong-burger"], [STALLING] * 8, closing="非常抱歉，给您添麻烦了，感谢您的耐心，再见。")
    assert escalated.outcome == "escalated" and escalated.turns[-1].text.startswith("非常抱歉")


def test_suggestions_fit_the_case():
    """SA-01's generic suggestion is about an order being 送出: no case outside takeaway shows it; a case's own
    suggestion replaces the scorecard's in the report."""
    for case in CASES.values():
        items = [i for section in get_scorecard(case.scorecard).spec.sections for i in section.items]
        shown = [case.suggestions.get(i.id, i.suggestion or "") for i in items]
        if "外卖" not in case.tags:
            assert not any("送出" in text for text in shown), case.id
    case = CASES["card-activation-success"]
    report = drill(case, ["您好，您放心，这张卡百分百没问题，一定能激活。"]).report()
    sa05 = next(f for f in report.result.failed() if f.rule == "SA-05")
    assert sa05.suggestion == case.suggestions["SA-05"] and "95533" in sa05.suggestion


def test_asking_reveals_a_fact():
    case = CASES["wrong-burger"]
    session = DrillSession(case)
    turn = session.agent_says("您好，请问您的订单号是多少？")
    assert turn.text == case.facts[0].answer and "fact:order" in turn.events
    assert session.agent_says("订单号是多少来着？").text != case.facts[0].answer  # answered once


# --- the LLM engine against a fake OpenAI-compatible server -----------------------------------------

LLM_LINE = "我就想换个汉堡，你帮我查查行吗？"
ANSWERS = {
    "ok": {"choices": [{"message": {"role": "assistant", "content": LLM_LINE}}]},
    "malformed": {"unexpected": True},
    "english": {"choices": [{"message": {"content": "As an AI language model, I cannot role-play."}}]},
    "agent": {"choices": [{"message": {"content": "坐席：您好，请问有什么可以帮您？"}}]},
    "empty": {"choices": [{"message": {"content": "   "}}]},
}


class FakeServer:
    """A loopback /v1/chat/completions that answers, hangs, trickles, errors or talks nonsense, as
    `mode` says; it counts requests and, for a trickle, the bytes it got out before the client left."""

    def __init__(self):
        self.mode, self.requests, self.trickled = "ok", [], 0
        self.release, self.handled = threading.Event(), threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                outer.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                try:
                    self.answer(outer.mode)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    outer.handled.set()

            def answer(self, mode):
                if mode == "hang":  # accepts, then says nothing until the test ends
                    outer.release.wait()
                    return
                if mode == "error":
                    self.send_error(500, "model crashed")
                    return
                data = (
                    b"<html>oops"
                    if mode == "garbage"
                    else json.dumps(ANSWERS.get(mode, ANSWERS["ok"]), ensure_ascii=False).encode()
                )
                if mode == "trickle":  # a valid answer, one byte at a time: every read succeeds, the whole takes long
                    data += b" " * 400
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if mode != "trickle":
                    self.wfile.write(data)
                    return
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    outer.trickled += 1
                    if outer.release.wait(0.05):
                        return

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_llm():
    server = FakeServer()
    yield server
    server.close()


LINES = ["拒收就行。", "拒收就行。", "您好，我马上帮您查一下是否已经送出。"]


def test_llm_engine_words_the_reply(fake_llm):
    session = drill(CASES["wrong-burger"], LINES[:1], engine=LLMEngine(fake_llm.url, "fake-model", timeout=5))
    assert session.turns[-1].text == LLM_LINE and not session.degraded and session.backend == "llm"
    request = fake_llm.requests[0]
    assert request["model"] == "fake-model" and request["messages"][0]["role"] == "system"
    assert CASES["wrong-burger"].need in request["messages"][0]["content"]
    worded = drill(CASES["wrong-burger"], LINES, engine=LLMEngine(fake_llm.url, "fake-model", timeout=5))
    offline = drill(CASES["wrong-burger"], LINES)
    assert worded.report().engine == "llm" and worded.turns[2].text == LLM_LINE != offline.turns[2].text
    assert (worded.report().score, worded.outcome, worded.anger) == (
        offline.report().score,
        offline.outcome,
        offline.anger,
    )


@pytest.mark.parametrize(
    "mode, why",
    [
        ("hang", "秒内没有答完"),
        ("trickle", "秒内没有答完"),
        ("error", "HTTP 500"),
        ("garbage", "不是 JSON"),
        ("malformed", "格式不对"),
        ("english", "不像客户"),
        ("agent", "不像客户"),
        ("empty", "不像客户"),
    ],
)
def test_a_failing_llm_is_switched_off_for_the_rest_of_the_drill(fake_llm, mode, why):
    """One failure, whatever its kind, and the drill goes on offline without asking the server again;
    the rules, not the engine, move the customer; each line records who worded it."""
    fake_llm.mode = mode
    session = drill(CASES["wrong-burger"], LINES, engine=LLMEngine(fake_llm.url, "fake-model", timeout=0.5))
    offline = drill(CASES["wrong-burger"], LINES)
    assert len(fake_llm.requests) == 1  # the circuit breaker: never retried within the attempt
    assert session.degraded and session.backend == "offline" and why in session.backend_failure
    assert session.anger == offline.anger and session.outcome == offline.outcome
    assert [b for b in session.backends if b not in (None, "case")] == ["offline"] * 3
    assert all(t.text for t in session.turns)
    if mode == "trickle":  # one deadline for the whole answer: the client left long before the last byte
        assert fake_llm.handled.wait(30)
        assert 0 < fake_llm.trickled < 400


def test_the_attempt_records_which_backend_said_each_line(fake_llm, tmp_path):
    engine = LLMEngine(fake_llm.url, "fake-model", timeout=5)
    session = DrillSession(CASES["wrong-burger"], engine=engine)
    session.agent_says(LINES[0])
    fake_llm.mode = "error"
    session.agent_says(LINES[1])
    session.agent_says(LINES[2])
    library = CaseLibrary(Store(str(tmp_path / "attempts.db")))
    report = session.report()
    library.record("07", report, report.engine)
    with Session(library.store.engine) as db:
        stored = db.scalars(select(TrainingAttempt)).one()
    assert stored.engine == "llm+offline"
    assert [t.get("backend") for t in stored.turns if t["role"] == "customer"] == ["case", "llm", "offline", "offline"]


def test_an_attempt_is_stored_with_personal_data_masked(tmp_path):
    """Whether from the terminal or the web, what the trainee typed is stored masked."""
    library = CaseLibrary(Store(str(tmp_path / "masked.db")))
    session = drill(CASES["wrong-burger"], ["您好，请留个电话13812345678或邮箱zhang@example.com"], closing=None)
    session.stop()
    library.record("07", session.report(), "offline")
    with Session(library.store.engine) as db:
        stored = json.dumps(db.scalars(select(TrainingAttempt)).one().turns, ensure_ascii=False)
    assert "13812345678" not in stored and "5678" in stored and "zhang@" not in stored


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
    for _ in Batch(
        [samples / "complaint_desk.jsonl", samples / "ecommerce_chats.jsonl"], store=store, analyze=True
    ).run():
        pass
    return store


def test_search_by_keyword_tag_and_similarity(analyzed, samples):
    library = CaseLibrary(analyzed)
    assert library.search("汉堡 拒收")[0][0].id == "wrong-burger"
    tagged = library.search("", tags=["回访"])
    assert tagged and all("回访" in c.tags for c, _ in tagged)
    assert all(c.difficulty == 2 for c, _ in library.search("", difficulty=2))
    burger = next(c for c in read_file(samples / "complaint_desk.jsonl") if c.id == "cp-002")
    assert library.search(like=burger)[0][0].id in {
        "wrong-burger",
        *[c.id for c in CASES.values() if "汉堡" in c.search_text()],
    }


def test_candidates_rank_the_troubled_conversations_and_promotion(analyzed):
    library = CaseLibrary(analyzed)
    candidates = library.candidates()
    ids = [c.conversation_id for c in candidates]
    assert "cp-001" in ids[:5] and "ec-003" not in ids  # the burger call ranks high; a smooth sale is no candidate
    assert all(c.reasons for c in candidates) and [c.rank for c in candidates] == sorted(
        (c.rank for c in candidates), reverse=True
    )
    top = next(c for c in candidates if c.conversation_id == "cp-001")
    curation = {
        "id": "burger-again",
        "title": "又一个汉堡",
        "tags": ["外卖"],
        "difficulty": 2,
        "description": "同上，客户留的电话13812345678",  # what a trainer types is masked like any conversation
        "need": "查一下是否送出",
        "analysis": "车轱辘话",
        "guide": [{"question": "诉求？", "answer": "查一下"}],
        "best_solutions": [{"turn": 1, "reply": "我马上帮您查一下。"}],
        "resolution": {"accept": ["帮您查"]},
        "persona": {"patience": 0.3},
    }
    case = library.promote(top.key, curation)
    assert library.get("burger-again").conversation.id == "cp-001" and case.persona.patience == 0.3
    assert case.description == "同上，客户留的电话*******5678"
    assert "cp-001" not in [c.conversation_id for c in library.candidates()]
    with pytest.raises(Exception, match="已存在"):
        library.promote(top.key, curation)
    count = len(case.conversation.turns)  # a turn index (0-based, as in the case files) past the conversation
    reply = {"turn": 1, "reply": "我马上帮您查一下。"}
    for said, bad in (  # said in Chinese, the turn both as given (0-based) and as people count (from 1)
        (
            f"最佳话术第 2 条：下标 {count}（从 0 数起）是第 {count + 1} 句，对话只有 {count} 句，没有第 {count + 1} 句",
            {"best_solutions": [reply, {"turn": count, "reply": "我马上帮您查一下。"}]},
        ),
        (
            f"最佳话术第 1 条：下标 -1 不是一句（下标从 0 数起，这段对话是 0–{count - 1}）",
            {"best_solutions": [{"turn": -1, "reply": "我马上帮您查一下。"}]},
        ),
        (
            f"升级的句子：下标 {count + 5}（从 0 数起）是第 {count + 6} 句，对话只有 {count} 句，没有第 {count + 6} 句",
            {"escalation_turn": count + 5},
        ),
    ):
        with pytest.raises(CaseError) as refused:
            library.promote(top.key, {**curation, "id": "burger-far", **bad})
        assert str(refused.value) == said
    assert "burger-far" not in {c.id for c in library.cases()}
    session = drill(library.get("burger-again"), ["您好，我马上帮您查一下。"])
    assert session.outcome == "accepted"
    library.record("07", session.report(), "offline")
    assert [a.outcome for a in library.attempts("07", "burger-again")] == ["accepted"]


# --- command line and API ----------------------------------------------------------------------------


def test_train_in_the_terminal(tmp_path):
    db = str(tmp_path / "cli.db")
    listed = CliRunner().invoke(cli, ["train", "--db", db, "--tag", "外卖"])
    assert listed.exit_code == 0 and "wrong-burger" in listed.stdout
    answers = "\n".join(["客户想查一下", "第3句", "先查询", *good_trainee(CASES["wrong-burger"]), CLOSING]) + "\n"
    done = CliRunner().invoke(cli, ["train", "wrong-burger", "--db", db, "--trainee", "t1"], input=answers)
    assert done.exit_code == 0, done.output
    assert (
        "案例重现" in done.stdout
        and "参考：" in done.stdout
        and "客户接受" in done.stdout
        and "历次得分" in done.stdout
    )
    assert "客户引擎：离线" in done.stdout and "请说一句结束语" in done.stdout
    # the reference replies name the customer lines as the replay numbers them (from 1): the case file's 1 and 3
    assert [b.turn for b in CASES["wrong-burger"].best_solutions] == [1, 3]
    assert re.findall(r"答第(\d+)句", done.stdout) == ["2", "4"]
    assert [a.outcome for a in CaseLibrary(Store(db)).attempts("t1")] == ["accepted"]
    assert CliRunner().invoke(cli, ["train", "no-such-case", "--db", db]).exit_code == 2


def test_a_case_s_turns_are_numbered_from_one_where_people_read_them(tmp_path):
    """The replay (page and terminal) counted a case's turns from 0 and the drill report's 参考话术 said 答第1句 for
    the line shown as 2, where every other page counts from 1; the case files and the API keep 0-based indices."""
    from pathlib import Path

    from rich.console import Console

    from zuoxi.coaching.terminal import replay
    from zuoxi.web import coaching

    case = CASES["wrong-burger"]  # it escalated at index 3; its best replies answer indices 1 and 3
    count = len(case.conversation.turns)
    assert case.escalation_turn == 3
    console = Console(width=400, record=True, color_system=None)
    replay(console, case)
    lines = [line for line in console.export_text().splitlines() if re.match(r" ?\d+ (坐席|客户)：", line)]
    assert [int(line.split()[0]) for line in lines] == list(range(1, count + 1))
    assert [line.split()[0] for line in lines if "← 升级" in line] == ["4"]

    app = create_app(str(tmp_path / "replay.db"))
    add_user(app.state.store.engine, "a07", "correct-horse", "agent", agent_id="07")
    a07 = TestClient(app)
    a07.post("/api/login", json={"username": "a07", "password": "correct-horse"})
    page = a07.get("/training/wrong-burger").text
    shown = re.findall(r'data-i="(\d+)"[^>]*><div class="who">(\d+) ', page)
    assert [(int(i), int(n)) for i, n in shown] == [(i, i + 1) for i in range(count)]  # data-i stays the index
    escalated = re.findall(
        r'<div class="who">(\d+) [^<]*</div>\s*<div class="bubble">[^<]*<span class="emo angry">', page
    )
    assert escalated == ["4"]
    api = a07.get("/api/training/cases/wrong-burger", params={"reveal": True}).json()
    assert api["escalation_turn"] == 3 and [b["turn"] for b in api["debrief"]["best_solutions"]] == [1, 3]
    script = (Path(coaching.__file__).parent / "static" / "training_case.js").read_text(encoding="utf-8")
    assert "答第${esc(b.turn + 1)}句" in script and "答第${esc(b.turn)}句" not in script


def test_the_terminal_says_when_the_llm_is_switched_off(tmp_path, fake_llm):
    fake_llm.mode = "error"
    env = {"ZUOXI_LLM_BASE_URL": fake_llm.url, "ZUOXI_LLM_MODEL": "fake-model", "ZUOXI_LLM_TIMEOUT": "5"}
    done = CliRunner().invoke(
        cli,
        ["train", "wrong-burger", "--stage", "drill", "--db", str(tmp_path / "t.db")],
        input="\n".join(LINES) + "\n/quit\n",
        env=env,
    )
    assert done.exit_code == 0, done.output
    screen = done.stdout.replace("\n", "")
    assert "客户引擎：LLM（fake-model @ 127.0.0.1" in screen
    assert "LLM 出错已停用：模型服务返回 HTTP 500" in screen and "客户引擎 offline" in screen
    assert len(fake_llm.requests) == 1


def test_a_blank_trainee_line_is_refused_and_moves_nothing():
    """A blank line was taken as "……" and the customer's anger rose; the terminal skips such lines."""
    session = DrillSession(CASES["wrong-burger"], seed=1)
    before = (session.current_anger, len(session.turns), session.agent_turns)
    for blank in ("", " ", "\u3000\n\t"):
        with pytest.raises(EmptyLine, match="空白"):
            session.agent_says(blank)
    assert (session.current_anger, len(session.turns), session.agent_turns) == before
    assert session.agent_says("您好，请问有什么可以帮您？").text


def test_drills_over_the_api(tmp_path):
    db = str(tmp_path / "api.db")
    app = create_app(db)
    for name, role, agent in (("a07", "agent", "07"), ("a21", "agent", "21"), ("qa", "inspector", None)):
        add_user(app.state.store.engine, name, "correct-horse", role, agent_id=agent)

    def client(name):
        c = TestClient(app)
        c.headers["X-CSRF-Token"] = c.post("/api/login", json={"username": name, "password": "correct-horse"}).json()[
            "csrf_token"
        ]
        return c

    a07, a21, qa = client("a07"), client("a21"), client("qa")
    listed = a07.get("/api/training/cases", params={"q": "汉堡"}).json()
    assert listed[0]["id"] == "wrong-burger" and "need" not in listed[0]
    assert "debrief" not in a07.get("/api/training/cases/wrong-burger").json()
    assert a07.get("/api/training/cases/wrong-burger", params={"reveal": True}).json()["debrief"]["need"]
    started = a07.post("/api/training/drills", json={"case_id": "wrong-burger", "seed": 1}).json()
    drill_id = started["drill_id"]
    assert a21.post(f"/api/training/drills/{drill_id}/turns", json={"text": "你好"}).status_code == 403
    for blank in ("", "  ", "\u3000\n"):  # refused, the customer unmoved (it was taken as "……", anger rising)
        refused = a07.post(f"/api/training/drills/{drill_id}/turns", json={"text": blank})
        assert refused.status_code == 422 and "空白" in refused.json()["detail"]
    assert started["backend"] == {"engine": "offline", "failure": None, "model": None}
    for line in good_trainee(CASES["wrong-burger"]):
        answer = a07.post(f"/api/training/drills/{drill_id}/turns", json={"text": line}).json()
        if answer["outcome"]:
            break
    assert answer["outcome"] == "accepted" and answer["closing"] and "report" not in answer
    closed = a07.post(f"/api/training/drills/{drill_id}/turns", json={"text": CLOSING}).json()
    assert closed["customer"] == "" and closed["report"]["score"] >= 70 and closed["report"]["best_solutions"]
    assert closed["report"]["engine"] == "offline"
    over = a07.post(f"/api/training/drills/{drill_id}/turns", json={"text": "再见"})
    assert over.status_code == 409 and over.json()["detail"] == "演练已经结束（解决）"
    assert a07.post(f"/api/training/drills/{drill_id}/finish").status_code == 409  # stored once
    assert a07.post(f"/api/training/drills/{drill_id}/turns", json={"text": "好" * 1001}).status_code == 422
    assert [a["outcome"] for a in a07.get("/api/training/attempts").json()] == ["accepted"]
    assert a21.get("/api/training/attempts", params={"who": "07"}).json() == []  # agents see only their own
    assert [a["trainee"] for a in qa.get("/api/training/attempts", params={"who": "07"}).json()] == ["07"]
    assert (
        a07.get("/api/training/candidates").status_code == 403 and qa.get("/api/training/candidates").status_code == 200
    )
    assert a07.get("/training").status_code == 200 and "wrong-burger" in a07.get("/training/wrong-burger").text
    assert f'maxlength="{MAX_AGENT_LINE}"' in a07.get("/training/wrong-burger").text  # the page's bound is the API's


def test_a_numeric_agent_id_s_drills_are_kept_under_the_id_its_conversations_have(tmp_path):
    """Conversations and users keep an agent id as `mask_id` masks it (then canonical: `masked_label`); drills
    and a team lead's scope masked it as a text (`mask_text`). A 16-digit id that passes Luhn with no card's prefix
    is a card to `mask_text` only: that agent's drills were stored as **** **** **** NNNN, and the training-effects
    figures never met the agent's work. Every path stores and compares a trainee as agent ids are."""
    from zuoxi.model import Conversation
    from zuoxi.privacy import luhn_ok, mask_conversation, mask_id, mask_text
    from zuoxi.store.effects import drills
    from zuoxi.store.queries import trainee_scope
    from zuoxi.store.tables import ConversationRow

    agent = next(n for n in (f"123456789012345{d}" for d in "0123456789") if luhn_ok(n))  # no card starts with 1
    assert mask_id(agent) == agent and mask_text(agent) == "**** **** **** " + agent[-4:]
    db = str(tmp_path / "numeric.db")
    app = create_app(db)
    store = app.state.store
    conversation = Conversation(
        id="c-1", agent_id=agent, team="售后一组", turns=[{"role": "agent", "text": "您好，请问有什么可以帮您？"}]
    )
    store.add_conversations([(mask_conversation(conversation), "calls.jsonl")])
    add_user(store.engine, "agent-n", "correct-horse", "agent", "售后一组", agent)
    lead = add_user(store.engine, "lead-n", "correct-horse", "team_lead", "售后一组")

    client = TestClient(app)
    client.headers["X-CSRF-Token"] = client.post(
        "/api/login", json={"username": "agent-n", "password": "correct-horse"}
    ).json()["csrf_token"]
    drill_id = client.post("/api/training/drills", json={"case_id": "wrong-burger", "seed": 1}).json()["drill_id"]
    client.post(f"/api/training/drills/{drill_id}/turns", json={"text": "您好，请问有什么可以帮您？"})
    assert client.post(f"/api/training/drills/{drill_id}/finish").status_code == 200
    typed = CliRunner().invoke(
        cli,
        ["train", "wrong-burger", "--stage", "drill", "--trainee", agent, "--db", db],
        input="您好，请问有什么可以帮您\n/quit\n",
    )
    assert typed.exit_code == 0, typed.output
    with Session(store.engine) as session:
        assert list(session.scalars(select(ConversationRow.agent_id))) == [agent]
        assert list(session.scalars(select(TrainingAttempt.trainee))) == [agent, agent]
    assert agent in trainee_scope(store.engine, lead)
    assert [d.agent_id for d in drills(store.engine, lead, "wrong-burger")] == [agent, agent]
    lead_client = TestClient(app)
    lead_client.post("/api/login", json={"username": "lead-n", "password": "correct-horse"})
    seen = lead_client.get("/api/training/attempts", params={"who": agent})
    assert seen.status_code == 200 and [a["trainee"] for a in seen.json()] == [agent, agent]
    assert [a["trainee"] for a in client.get("/api/training/attempts").json()] == [agent, agent]


def test_an_inspector_promotes_a_candidate_in_the_browser_form(analyzed):
    app = create_app(analyzed.url)
    add_user(app.state.store.engine, "qa", "correct-horse", "inspector")
    qa = TestClient(app)
    csrf = qa.post("/api/login", json={"username": "qa", "password": "correct-horse"}).json()["csrf_token"]
    listing = qa.get("/training").text
    key = next(c.key for c in CaseLibrary(analyzed).candidates() if c.conversation_id == "cp-004")
    assert f"/training/promote/{key}" in listing
    page = qa.get(f"/training/promote/{key}").text
    assert "我退货都两个星期了" in page
    # numbered from 1 as people count (cp-004 opens with the agent): the form's default is the first customer line
    shown = [int(n) for n in re.findall(r'<div class="who">(\d+) ', page)]
    assert shown == list(range(1, len(shown) + 1)) and len(shown) > 5
    assert '<div class="who">2 客户' in page and 'name="best_turn" type="number" min="1"' in page
    assert re.search(r'name="best_turn"[^>]* value="2"', page)
    form = {
        "csrf_token": csrf,
        "id": "refund-again",
        "title": "退款踢皮球",
        "tags": ["投诉", "退换货"],
        "difficulty": "4",
        "scorecard": "complaint",
        "description": "退款两周未到",
        "need": "要一个明确的退款时间",
        "analysis": "推诿",
        "patience": "0.3",
        "politeness": "0.4",
        "anger": "0.6",
        "question": "诉求？",
        "answer": "明确时间",
        "best_turn": "2",  # as the form shows it: the customer's first line, turn 1 of the case file
        "best_reply": "我来负责跟进，今天下班前给您回电。",
        "accept": "我来负责，今天下班前",
    }
    bad = qa.post(f"/training/promote/{key}", data={**form, "id": "Bad Id"}, follow_redirects=False)
    assert bad.status_code == 400 and 'value="Bad Id"' in bad.text  # the form again, as typed
    # a line number that names no line is refused on the form, in Chinese, and nothing is stored
    for typed, said in (
        ("0", "句子从 1 数起，没有第 0 句"),
        ("-1", "句子从 1 数起，没有第 -1 句"),
        (str(len(shown) + 1), f"这段对话只有 {len(shown)} 句，没有第 {len(shown) + 1} 句"),
        ("", "请填写客户那句的序号（从 1 数）"),
        ("第二句", "“第二句”不是整数，请填写客户那句的序号（从 1 数）"),
    ):
        refused = qa.post(f"/training/promote/{key}", data={**form, "best_turn": typed}, follow_redirects=False)
        assert refused.status_code == 400 and f"最佳话术回应第几句：{said}" in refused.text, typed  # the form, why
    with pytest.raises(KeyError):
        CaseLibrary(analyzed).get("refund-again")
    last = qa.post(f"/training/promote/{key}", data={**form, "id": "refund-last", "best_turn": str(len(shown))})
    assert last.status_code == 200 and CaseLibrary(analyzed).get("refund-last").best_solutions[0].turn == len(shown) - 1
    done = qa.post(f"/training/promote/{key}", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/training/refund-again"
    case = CaseLibrary(analyzed).get("refund-again")
    assert case.best_solutions[0].turn == 1 and case.conversation.turns[1].role == "customer"  # stored 0-based
    assert (
        case.tags == ["投诉", "退换货"]
        and case.resolution.accept == ["我来负责", "今天下班前"]
        and case.persona.patience == 0.3
    )
    again = qa.post(f"/training/promote/{key}", data=form, follow_redirects=False)
    assert again.status_code == 400 and "已存在" in again.text  # the form shows why
    # A file sent in place of a field is no value: the default difficulty (it once failed with 500).
    fields = {k: v for k, v in form.items() if k != "difficulty"} | {"id": "refund-file"}
    upload = qa.post(
        f"/training/promote/{key}", data=fields, files={"difficulty": ("d.txt", b"4")}, follow_redirects=False
    )
    assert upload.status_code == 303 and upload.headers["location"] == "/training/refund-file"
    assert CaseLibrary(analyzed).get("refund-file").difficulty == 3


def test_one_user_starting_many_drills_ends_only_their_own():
    """The server keeps at most 1,000 running drills: one user starting a thousand ended everyone else's (404 in
    the middle of a drill). Past their own ten, a user's oldest drill goes, and nobody else's."""
    from fastapi import HTTPException

    from zuoxi.web.coaching import MAX_DRILLS_PER_USER, Drills

    drills = Drills()
    case = CASES["wrong-burger"]
    theirs = drills.start(2, DrillSession(case))
    mine = [drills.start(1, DrillSession(case)) for _ in range(1001)]
    assert drills.get(theirs, 2) is not None
    for drill_id in mine[-MAX_DRILLS_PER_USER:]:
        assert drills.get(drill_id, 1) is not None
    with pytest.raises(HTTPException) as gone:
        drills.get(mine[-MAX_DRILLS_PER_USER - 1], 1)
    assert gone.value.status_code == 404


def test_the_drill_command_checks_its_trainee_and_llm_settings_first(tmp_path, monkeypatch):
    """A trainee name over 100 characters was accepted (PostgreSQL then lost the finished drill with a traceback), and
    ZUOXI_LLM_TIMEOUT=abc was a traceback: both are one line before the drill starts."""
    db = str(tmp_path / "drill.db")
    long = CliRunner().invoke(cli, ["train", "wrong-burger", "--stage", "drill", "--trainee", "T" * 101, "--db", db])
    assert long.exit_code == 2 and "--trainee" in long.output
    monkeypatch.setenv("ZUOXI_LLM_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("ZUOXI_LLM_MODEL", "m")
    monkeypatch.setenv("ZUOXI_LLM_TIMEOUT", "abc")
    bad = CliRunner().invoke(cli, ["train", "wrong-burger", "--stage", "drill", "--trainee", "t", "--db", db], input="")
    assert bad.exit_code == 2 and "ZUOXI_LLM_TIMEOUT" in bad.output


def test_a_drill_the_trainee_said_nothing_in_is_not_an_attempt(tmp_path):
    """Nothing said, nothing failed: such a drill scored 100/100 and went into the trainee's history, raising the
    average. It is now no attempt, in the terminal and the web app alike (both record through the library)."""
    db = str(tmp_path / "silent.db")
    silent = CliRunner().invoke(
        cli, ["train", "wrong-burger", "--stage", "drill", "--trainee", "t", "--db", db], input=""
    )
    assert silent.exit_code == 0 and "没有作答" in silent.output and "得分" not in silent.output
    assert CaseLibrary(Store(db)).attempts("t") == []
    spoke = CliRunner().invoke(
        cli,
        ["train", "wrong-burger", "--stage", "drill", "--trainee", "t", "--db", db],
        input="您好，请问有什么可以帮您？\n/quit\n",
    )
    assert spoke.exit_code == 0 and "得分" in spoke.output and len(CaseLibrary(Store(db)).attempts("t")) == 1


def test_the_case_list_shows_every_id_whole_in_an_80_column_terminal(tmp_path):
    """The id is what the trainee types next; at 80 columns the list cut it ("annual-fee-dispu…")."""
    from rich.console import Console

    from zuoxi.coaching.terminal import list_cases

    library = CaseLibrary(Store(f"sqlite:///{tmp_path / 'cases.db'}"))
    ranked = [(case, 0.0) for case in library.cases()]
    console = Console(width=80, record=True, color_system=None)
    list_cases(console, ranked)
    shown = console.export_text()
    assert ranked and all(case.id in shown for case, _ in ranked), shown
