"""The training (陪练) findings of the web walkthrough: one promoted case of millions of characters made every training
page take a minute for everyone (every field and list of a case is now bounded, refused in Chinese, and the library
parses a stored case once); a team lead read an inspector's drills once a conversation of their team carried the
inspector's username as its agent id (a lead's scope is their team's agents, never another role's users); and the
training-effects page named cases by id."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from trainees import CASES

from zuoxi.coaching import cases as bounds
from zuoxi.coaching import library as library_module
from zuoxi.coaching.cases import CaseError, builtin_cases, check_fields
from zuoxi.coaching.library import CaseLibrary
from zuoxi.model import Conversation
from zuoxi.store import Store
from zuoxi.store.cases import NewTrainingAttempt, add_training_attempt
from zuoxi.store.effects import drilled_cases
from zuoxi.store.queries import team_agents, trainee_scope
from zuoxi.store.tables import TrainingCase
from zuoxi.store.users import Account, add_user
from zuoxi.web import create_app

PASSWORD = "correct-horse"
TEAM, OTHER = "售后二组", "售后一组"
USERS = {  # username: (role, team, agent_id)
    "admin": ("admin", None, None),
    "qa": ("inspector", None, None),
    "lead2": ("team_lead", TEAM, None),
    "lead9": ("team_lead", TEAM, None),  # another lead of the same team
    "agent07": ("agent", TEAM, "07"),
    "agentA1": ("agent", OTHER, "A1"),  # an agent of another team
    "drifter": ("agent", None, "D1"),  # an agent with no team: theirs by the conversations they take
}
# Conversations of the lead's team, by agent id: "qa", "admin", "lead9" and "A1" are uploaded data naming users who
# are no agents of the team; "walkin" is an agent id no user has.
ON_TEAM = ["07", "qa", "admin", "lead9", "A1", "D1", "walkin"]
# Who drilled wrong-burger, as attempts store them (agent id, else username).
TRAINEES = ["07", "qa", "admin", "lead2", "lead9", "A1", "D1", "walkin"]
MINE = {"07", "D1", "walkin", "lead2"}  # what lead2 may see: the team's agents, and their own


def curation(**changes) -> dict:
    """A case as the promotion API takes it, within every bound."""
    return {
        "id": "burger-api",
        "title": "又一个汉堡",
        "tags": ["外卖"],
        "difficulty": 2,
        "description": "客户想查订单是否送出",
        "need": "查一下是否送出",
        "analysis": "车轱辘话",
        "guide": [{"question": "诉求？", "answer": "查一下"}],
        "best_solutions": [{"turn": 1, "reply": "我马上帮您查一下。"}],
        "resolution": {"accept": ["帮您查"], "alternatives": []},
        "persona": {},
        **changes,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("training-walk") / "training.db")
    store = Store(path)
    turns = [{"role": "agent", "text": "您好，请讲。"}, {"role": "customer", "text": "帮我查一下订单送出没有"}]
    keys = store.add_conversations(
        [(Conversation(id=f"c-{agent}", agent_id=agent, team=TEAM, turns=turns), "x.jsonl") for agent in ON_TEAM]
        + [(Conversation(id="c-other", agent_id="A1", team=OTHER, turns=turns), "x.jsonl")]
    )
    for name, (role, team, agent_id) in USERS.items():
        add_user(store.engine, name, PASSWORD, role, team, agent_id)
    for trainee in TRAINEES:
        add_training_attempt(
            store.engine,
            NewTrainingAttempt(
                case_id="wrong-burger",
                trainee=trainee,
                outcome="accepted",
                score=80,
                max_score=100,
                anger=[0.2],
                engine="offline",
                turns=[{"role": "agent", "text": "您好"}],
                failed_rules=[],
            ),
        )
    app = create_app(path, models=False)
    clients = {}
    for name in USERS:
        client = TestClient(app)
        signed = client.post("/api/login", json={"username": name, "password": PASSWORD})
        assert signed.status_code == 200, signed.text
        client.headers["X-CSRF-Token"] = signed.json()["csrf_token"]
        clients[name] = client
    yield {"app": app, "store": store, "clients": clients, "key": keys[0]}
    store.close()


# --- 1. every field and list of a case is bounded ------------------------------------------------------------------


def test_the_bundled_cases_sit_well_within_the_bounds():
    """The bounds are several times what the curated cases hold: a trainer writing a real case never meets one."""
    for case in builtin_cases():
        assert len(case.title) * 2 <= bounds.MAX_TITLE and len(case.description) * 4 <= bounds.MAX_SCENE, case.id
        assert len(case.need) * 4 <= bounds.MAX_NEED and len(case.analysis) * 4 <= bounds.MAX_ANALYSIS, case.id
        assert len(case.guide) * 4 <= bounds.MAX_ITEMS and len(case.best_solutions) * 4 <= bounds.MAX_ITEMS, case.id
        assert all(len(b.reply) * 4 <= bounds.MAX_LINE for b in case.best_solutions), case.id
        assert all(len(w) * 4 <= bounds.MAX_WORD for p in case.resolution.parts for w in p.words), case.id
        check_fields(case.model_dump(exclude={"conversation"}))  # what promotion checks, the same schema


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"title": "长" * 3_000_000, "description": "长" * 3_000_000}, "标题：太长（最多 100 个字）；场景描述：太长"),
        ({"need": "需" * 1001}, "客户真正的诉求：太长（最多 1000 个字）"),
        ({"analysis": "析" * 5001}, "案例分析：太长（最多 5000 个字）"),
        ({"guide": [{"question": "qqqqqqqqqq", "answer": "a"}] * 200_000}, "引导问题：条目太多（最多 20 个）"),
        (
            {"guide": [{"question": "诉求？", "answer": "答" * 1001}]},
            "引导问题第 1 条的参考答案：太长（最多 1000 个字）",
        ),
        ({"best_solutions": [{"turn": 1, "reply": "回" * 1001}]}, "最佳话术第 1 条的话术：太长"),
        ({"best_solutions": [{"turn": 1, "reply": "好"}] * 21}, "最佳话术：条目太多（最多 20 个）"),
        ({"resolution": {"accept": ["帮您查"] * 51}}, "解决条件的满足诉求的说法：条目太多（最多 50 个）"),
        ({"resolution": {"accept": ["查" * 51]}}, "解决条件的满足诉求的说法第 1 条：太长（最多 50 个字）"),
        ({"resolution": {"accept": ["查"], "alternatives": ["券"] * 21}}, "可接受的替代方案：条目太多"),
        ({"tags": ["外卖"] * 11}, "标签：条目太多（最多 10 个）"),
        ({"tags": ["标" * 21]}, "标签第 1 条：太长（最多 20 个字）"),
        ({"facts": [{"key": "k", "asked_by": ["订单"], "answer": "a"}] * 21}, "客户掌握的信息：条目太多"),
        ({"persona": {"name": "张" * 201}}, "客户性格的称呼：太长（最多 200 个字）"),
        ({"id": "a" * 101}, "案例 id：太长（最多 100 个字）"),
        ({"suggestions": {"SA-01": "建" * 1001}}, "改进建议的SA-01：太长"),
    ],
)
def test_a_case_past_a_bound_is_refused_in_chinese_naming_the_field(changes, said):
    with pytest.raises(CaseError) as refused:
        check_fields(curation(**changes))
    assert said in str(refused.value) and len(str(refused.value)) < 500


def test_a_list_of_many_bad_entries_is_one_short_message():
    with pytest.raises(CaseError) as refused:
        check_fields(curation(guide=[{"question": "q" * 300, "answer": "a"}] * 20))
    assert "引导问题第 1 条的问题：太长（最多 200 个字）" in str(refused.value)
    assert "等共 20 处" in str(refused.value) and len(str(refused.value)) < 300


def test_the_api_refuses_an_oversized_case_with_a_chinese_422_and_stores_nothing(world):
    qa, key = world["clients"]["qa"], world["key"]
    url = f"/api/training/candidates/{key}/promote"
    for changes, said in (
        ({"title": "长" * 3_000_000, "description": "长" * 3_000_000}, "标题：太长（最多 100 个字）"),
        ({"guide": [{"question": "qqqqqqqqqq", "answer": "a"}] * 200_000}, "引导问题：条目太多（最多 20 个）"),
    ):
        started = time.monotonic()
        refused = qa.post(url, json=curation(id="huge-case", **changes))
        assert refused.status_code == 422 and said in refused.json()["detail"], refused.text[:300]
        assert time.monotonic() - started < 30  # it took 13 s and more to store; refused before any masking
    with Session(world["store"].engine) as session:
        assert session.get(TrainingCase, "huge-case") is None
    done = qa.post(url, json=curation(id="burger-api"))
    assert done.status_code == 200 and done.json() == {"case_id": "burger-api"}


def test_the_form_shows_its_bounds_and_refuses_past_them_on_the_form(world):
    qa, key = world["clients"]["qa"], world["key"]
    page = qa.get(f"/training/promote/{key}").text
    assert f'name="title" required size="40" maxlength="{bounds.MAX_TITLE}"' in page
    assert f'name="analysis" rows="3" required maxlength="{bounds.MAX_ANALYSIS}"' in page
    assert f'name="best_reply" rows="2" required maxlength="{bounds.MAX_LINE}"' in page
    form = {
        "csrf_token": qa.headers["X-CSRF-Token"],
        "id": "form-huge",
        "title": "长" * 20_000,
        "tags": ["外卖"],
        "description": "场景",
        "need": "诉求",
        "analysis": "分析",
        "question": "诉求？",
        "answer": "答",
        "best_turn": "2",
        "best_reply": "我马上帮您查一下。",
        "accept": "帮您查," + "查" * 60,
    }
    refused = qa.post(f"/training/promote/{key}", data=form, follow_redirects=False)
    assert refused.status_code == 400  # the form again, with why and what was typed
    said = refused.text
    assert "标题：太长（最多 100 个字）" in said and "满足诉求的说法第 2 条：太长（最多 50 个字）" in said
    with Session(world["store"].engine) as session:
        assert session.get(TrainingCase, "form-huge") is None


def test_a_stored_case_past_the_bounds_no_longer_breaks_training_and_cases_are_parsed_once(world, monkeypatch, caplog):
    """A case promoted before the bounds, past them, is left out of the library (logged), not a failure of every
    page; a stored case is parsed once, not on every request (every training page read every case's full text)."""
    store = world["store"]
    big = {**CASES["wrong-burger"].model_dump(mode="json", exclude_none=True), "id": "legacy-huge"}
    big["title"] = "长" * 5000
    with Session(store.engine) as session, session.begin():
        session.add(
            TrainingCase(
                id="legacy-huge",
                yaml=yaml.safe_dump(big, allow_unicode=True, sort_keys=False),
                conversation_key=None,
                created_by=None,
                created_at=datetime.now(UTC),
            )
        )
    parsed = []
    real = library_module.parse_case
    monkeypatch.setattr(library_module, "parse_case", lambda text, source: parsed.append(source) or real(text, source))
    library = CaseLibrary(store)
    with caplog.at_level(logging.WARNING, logger="zuoxi.coaching.library"):
        ids = {c.id for c in library.cases()}
    assert "legacy-huge" not in ids and "wrong-burger" in ids and "legacy-huge" in caplog.text
    first = len(parsed)
    for _ in range(3):
        library.cases()
        library.search("汉堡 拒收")
    assert len(parsed) == first  # nothing parsed again
    agent = world["clients"]["agent07"]
    listing = agent.get("/training")
    assert listing.status_code == 200 and "长" * 200 not in listing.text
    assert agent.get("/training/legacy-huge").status_code == 404
    assert agent.get("/training/wrong-burger").status_code == 200
    assert agent.get("/api/training/cases").status_code == 200
    with Session(store.engine) as session, session.begin():
        session.delete(session.get(TrainingCase, "legacy-huge"))


# --- 2. a team lead sees their team's agents' drills, nobody else's -------------------------------------------------


def test_a_team_lead_does_not_see_an_inspector_s_drills_through_uploaded_agent_ids(world):
    lead = world["clients"]["lead2"]
    for who in ("qa", "admin", "lead9", "A1"):
        refused = lead.get("/api/training/attempts", params={"who": who})
        assert refused.status_code == 403 and refused.json()["detail"] == "只能查看本人或本班组的演练记录", who
    for who in ("07", "D1", "walkin", "lead2"):
        assert [a["trainee"] for a in lead.get("/api/training/attempts", params={"who": who}).json()] == [who]
    assert [a["trainee"] for a in lead.get("/api/training/attempts").json()] == ["lead2"]  # one's own
    assert world["clients"]["qa"].get("/api/training/attempts", params={"who": "lead2"}).status_code == 200
    assert [a["trainee"] for a in world["clients"]["agent07"].get("/api/training/attempts?who=qa").json()] == ["07"]


def test_the_scope_comes_from_users_and_is_the_one_the_effects_pages_use(world):
    engine = world["store"].engine
    assert team_agents(engine, TEAM) == {"07", "agent07", "D1", "walkin"}
    assert team_agents(engine, OTHER) == {"A1", "agentA1"}
    lead = Account(0, "lead2", "team_lead", TEAM, None, None)
    assert trainee_scope(engine, lead) == MINE | {"agent07"}  # an agent's username too (drilled before an agent id)
    assert trainee_scope(engine, Account(0, "qa", "inspector", None, None, None)) is None
    assert trainee_scope(engine, Account(0, "agent07", "agent", TEAM, "07", None)) == {"07"}
    assert drilled_cases(engine, lead) == [("wrong-burger", len(MINE), len(MINE))]
    page = world["clients"]["lead2"].get("/effects/training").text
    assert f"（{len(MINE)} 人演练 {len(MINE)} 次）" in page
    assert f"（{len(TRAINEES)} 人演练 {len(TRAINEES)} 次）" in world["clients"]["qa"].get("/effects/training").text


# --- 3. the training-effects page names cases by title --------------------------------------------------------------


def test_the_training_effects_selector_shows_case_titles(world):
    page = world["clients"]["qa"].get("/effects/training").text
    title = CASES["wrong-burger"].title
    assert f'<option value="wrong-burger" >{title}（' in page
    assert "wrong-burger（" not in page
    chosen = world["clients"]["qa"].get("/effects/training", params={"case": "wrong-burger"}).text
    assert f'<option value="wrong-burger" selected>{title}（' in chosen
