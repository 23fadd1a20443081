"""Who may store a live-assist session, and as whose: a conversation typed into the panel is no call on the platform.

The walkthrough (2026-12, finding 1): as agent07, five sessions of textbook turns ended with `store: true` were each
stored as a conversation of agent 07 scored 100, and their average went from 82.2 over 18 conversations to 86.1 over
23 on their dashboard and the inspector's; and a replay of a stored conversation with one turn changed was stored as a
new conversation of the replayed one's agent and team (a "fixed" copy of a failed call). Now only inspectors and
admins store a session, as their own, and an agent's or team lead's `store` is answered with the score and a note."""

from __future__ import annotations

import pytest

from tests.test_web_pages import Client, build, items, key_of
from zuoxi.web.assist import NOT_STORED

POLITE = [
    ("customer", "你好，我想查一下我的订单"),
    ("agent", "您好，很高兴为您服务，请问有什么可以帮您？"),
    ("customer", "我的快递什么时候到"),
    ("agent", "请您稍等，我马上帮您查询"),
    ("agent", "感谢您的耐心等待，祝您生活愉快，再见"),
]


@pytest.fixture(scope="module")
def clients(tmp_path_factory, samples):
    app = build(tmp_path_factory.mktemp("live-store"), samples)
    return {name: Client(app, name) for name in ("qa", "lead2", "agent07", "admin")}


def session(client: Client, session_id: str, turns, query: str = "", store: bool = True) -> dict:
    """Plays `turns` ((role, text) pairs) into a live session and ends it; the result message."""
    with client.http.websocket_connect(f"/api/live/{session_id}?scorecard=core{query}") as ws:
        assert ws.receive_json()["type"] == "state"
        for seq, (role, text) in enumerate(turns):
            ws.send_json({"type": "turn", "seq": seq, "role": role, "text": text})
            assert ws.receive_json()["type"] == "update"
        ws.send_json({"type": "end", "store": store})
        return ws.receive_json()


def figures(clients) -> dict:
    """What each role's scores read: dashboards, lists, exports and skill effects."""
    seen = {}
    for name in ("qa", "lead2", "agent07"):
        client = clients[name]
        seen[name, "dashboard"] = client.get("/api/dashboard").json()
        seen[name, "list"] = sorted((i["key"], i["score"]) for i in items(client))
        seen[name, "filters"] = client.get("/api/filters").json()
        export = client.get("/api/export.csv")
        assert export.status_code == 200
        seen[name, "export"] = export.text
    seen["effects"] = clients["qa"].get("/api/effects/agents/07").json()
    return seen


def test_an_agents_typed_sessions_never_count_as_their_conversations(clients):
    agent = clients["agent07"]
    before = figures(clients)
    assert before["agent07", "list"], "agent 07 has conversations of their own"
    results = [session(agent, f"fake-{n}", POLITE) for n in range(5)]
    assert figures(clients) == before
    assert not [i for i in items(clients["qa"]) if i["id"].startswith("fake-")]
    for result in results:
        assert result["type"] == "result" and result["score"] == result["max_score"]  # the score is shown…
        assert "key" not in result and result["note"] == NOT_STORED  # …and the agent told it was not stored


def test_a_team_lead_stores_no_session_either(clients):
    before = figures(clients)
    result = session(clients["lead2"], "lead-typed", POLITE)
    assert figures(clients) == before
    assert "key" not in result and result["note"] == NOT_STORED


def test_a_replay_with_a_changed_turn_is_never_the_replayed_agents_conversation(clients):
    agent, qa = clients["agent07"], clients["qa"]
    own = key_of(agent, "cp-001")
    original = agent.get(f"/api/conversations/{own}").json()["conversation"]
    fixed = [(t["role"], t["text"]) for t in original["turns"] if t["text"].strip()]
    fixed[1] = ("agent", "您好，很高兴为您服务，请您稍等，我马上帮您处理")
    before = figures(clients)
    # the agent's "fixed" copy of their own call: scored, not stored
    result = session(agent, "fixed-copy", fixed, f"&conversation={own}")
    assert figures(clients) == before
    assert "key" not in result and result["note"] == NOT_STORED
    # an inspector's: stored, as the inspector's own (no agent, no team), naming the conversation it came from
    stored = session(qa, "qa-edited", fixed, f"&conversation={own}")
    assert stored["key"] not in (None, own)
    copy = qa.get(f"/api/conversations/{stored['key']}").json()["conversation"]
    assert (copy["agent_id"], copy["team"]) == (None, None) != (original["agent_id"], original["team"])
    assert copy["meta"]["live"] is True and copy["meta"]["replay_of"] == own
    for name in ("agent07", "lead2"):  # not the agent's, nor their team's
        assert figures(clients)[name, "dashboard"] == before[name, "dashboard"]
        assert stored["key"] not in {i["key"] for i in items(clients[name])}
    # nor may a stored session take a stored conversation's id, beside which it would stand in every list
    count = len(items(qa))
    shadow = session(qa, "cp-001", fixed, f"&conversation={own}")
    assert "key" not in shadow and "cp-001" in shadow["note"] and len(items(qa)) == count


def test_inspectors_still_store_and_link_sessions(clients):
    qa, admin = clients["qa"], clients["admin"]
    typed = session(qa, "qa-typed", POLITE)
    detail = qa.get(f"/api/conversations/{typed['key']}").json()
    assert detail["conversation"]["meta"]["live"] is True and detail["results"]
    assert "qa-typed" in {i["id"] for i in items(qa)}
    assert "key" in session(admin, "admin-typed", POLITE[:2])
    # a whole replay links the stored conversation, whoever replays it (an agent too: nothing is stored)
    key = key_of(qa, "ec-003")
    whole = [(t["role"], t["text"]) for t in qa.get(f"/api/conversations/{key}").json()["conversation"]["turns"]]
    count = len(items(qa))
    assert session(qa, "qa-whole", whole, f"&conversation={key}")["key"] == key
    own = key_of(clients["agent07"], "cp-001")
    said = clients["agent07"].get(f"/api/conversations/{own}").json()["conversation"]["turns"]
    replay = [(t["role"], t["text"]) for t in said if t["text"].strip()]
    assert session(clients["agent07"], "mine-whole", replay, f"&conversation={own}")["key"] == own
    assert len(items(qa)) == count
    # without `store` nothing is stored and nothing is said about it
    assert {"key", "note"}.isdisjoint(session(clients["agent07"], "no-store", POLITE, store=False))


def test_the_panel_tells_agents_their_sessions_are_not_stored(clients):
    assert "不保存为质检记录" in clients["agent07"].page("/live")
    assert "不保存为质检记录" in clients["lead2"].page("/live")
    assert "不保存为质检记录" not in clients["qa"].page("/live")
