"""Values longer than a column holds are refused or stored alike on SQLite and PostgreSQL: on PostgreSQL one of them
failed the insert of a whole chunk (`value too long for type character varying(100)`, exit 2, none of the file's
conversations stored), while SQLite, which keeps any length, stored it. A NUL in `meta` is dropped as in the turns."""

from __future__ import annotations

import json

from sqlalchemy import text
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.store import Store

CARD = "6222020000000007"  # masked as **** **** **** 0007: 16 characters stored as 19


def line(ident: str, **fields) -> str:
    turns = [
        {"role": "customer", "text": f"我想问下{ident}的退款"},
        {"role": "agent", "text": "您好，请问有什么可以帮您"},
    ]
    return json.dumps({"id": ident, "channel": "chat", "turns": turns, **fields}, ensure_ascii=False)


def stored(url: str, sql: str) -> list:
    store = Store(url)
    with store.engine.connect() as connection:
        rows = connection.execute(text(sql)).all()
    store.close()
    return [tuple(row) for row in rows]


def test_a_value_too_long_once_masked_is_refused_at_its_line_and_the_rest_of_the_batch_stored(db_url, tmp_path):
    """The id, agent and team are bounded as read (200, 100, 100 characters) and stored masked, which makes a card
    number three characters longer: such a value is an error at its line, on every database, with or without masking."""
    data = tmp_path / "calls.jsonl"
    data.write_text(
        "\n".join(
            [
                line("ok-1", team="售后一组"),
                line("team-card", team="组" * 84 + CARD),
                line("agent-card", agent_id="a" * 84 + CARD),
                line("x" * 184 + CARD),
                line("ok-2", team="组" * 89 + "13800138000"),  # a phone number masked keeps its length: 100
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    for where in (["--db", db_url], ["--db", f"sqlite:///{tmp_path / 'unmasked.db'}", "--no-mask"]):
        result = CliRunner().invoke(app, ["analyze", str(data), *where, "--no-models", "--format", "json"])
        assert result.exit_code == 0, result.output
        for at, name, length in ((2, "team", 103), (3, "agent_id", 103), (4, "id", 203)):
            assert f"{data}:{at}: {name}：打码后 {length} 个字，太长（最多" in result.output, result.output
        assert CARD not in result.output
    assert stored(db_url, "SELECT id FROM conversations ORDER BY id") == [("ok-1",), ("ok-2",)]
    assert len(stored(db_url, "SELECT pk FROM results")) == 2


def test_a_path_of_any_length_is_stored(db_url, tmp_path):
    """`conversations.source` and `imported_files.path` held 1,000 characters."""
    folder = tmp_path
    for part in range(5):
        folder = folder / (f"{part}" * 240)
    folder.mkdir(parents=True)
    data = folder / "calls.jsonl"
    data.write_text(line("deep-1") + "\n", encoding="utf-8")
    assert len(str(data)) > 1200
    result = CliRunner().invoke(app, ["analyze", str(data), "--db", db_url, "--no-models", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert stored(db_url, "SELECT source FROM conversations") == [(str(data),)]
    assert stored(db_url, "SELECT path FROM imported_files") == [(str(data),)]


def test_a_scorecard_of_many_failed_items_is_stored(db_url, tmp_path):
    """`results.failed_rules` (every failed item's id) held 1,000 characters: 40 failed items of 31 characters did
    not fit."""
    items = "".join(
        f"""
      - id: LONG-RULE-IDENTIFIER-NUMBER-{i:03d}
        name: 规则{i}
        points: -1
        expect:
          keyword: {{role: agent, words: ["不会出现的词语{i}"]}}
        message: 没有说
"""
        for i in range(40)
    )
    scorecard = tmp_path / "longrules.yaml"
    scorecard.write_text(
        f"id: longrules\nname: 长规则\nsections:\n  - id: s1\n    name: 一\n    items:{items}", "utf-8"
    )
    data = tmp_path / "calls.jsonl"
    data.write_text(line("many-1") + "\n" + line("many-2") + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["analyze", str(data), "--db", db_url, "--no-models", "--scorecard", str(scorecard), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    [(failed,), _] = stored(db_url, "SELECT failed_rules FROM results")
    assert len(failed.split()) == 40 and len(failed) > 1000


def test_a_scorecard_item_id_is_at_most_50_characters(tmp_path):
    """A review or an appeal names its item in a column of 50 characters: a finding of a longer id could never be
    reviewed on PostgreSQL."""
    scorecard = tmp_path / "ids.yaml"
    body = "id: ids\nname: 编号\nsections:\n  - id: s1\n    name: 一\n    items:\n"
    item = "      - id: {}\n        name: 条目\n        points: -1\n        expect: {{keyword: {{words: [您好]}}}}\n        message: m\n"
    scorecard.write_text(body + item.format("A" * 50), "utf-8")
    assert CliRunner().invoke(app, ["scorecard", "check", str(scorecard)]).exit_code == 0
    scorecard.write_text(body + item.format("A" * 51), "utf-8")
    result = CliRunner().invoke(app, ["scorecard", "check", str(scorecard)])
    assert result.exit_code == 1
    assert f"{scorecard}:7: sections.0.items.0.id：太长（最多 50 个字）" in result.output
    scorecard.write_text(body.replace("id: ids", f"id: {'s' * 101}") + item.format("A"), "utf-8")
    result = CliRunner().invoke(app, ["scorecard", "check", str(scorecard)])
    assert result.exit_code == 1 and f"{scorecard}:1: id：太长（最多 100 个字）" in result.output  # results.scorecard


def test_nul_characters_in_meta_are_dropped(db_url, tmp_path):
    """PostgreSQL's json column kept a NUL of `meta` as \\u0000, which every cast to jsonb then refused."""
    data = tmp_path / "calls.jsonl"
    data.write_text(line("nul-meta", meta={"note": "a\x00b", "k\x00ey": ["c\x00", {"d": "\x00e"}]}) + "\n", "utf-8")
    result = CliRunner().invoke(app, ["import", str(data), "--db", db_url])
    assert result.exit_code == 0, result.output
    [(data_json,)] = stored(db_url, "SELECT data FROM conversations")
    meta = (json.loads(data_json) if isinstance(data_json, str) else data_json)["meta"]
    assert meta == {"note": "ab", "key": ["c", {"d": "e"}]}
    if db_url.startswith("postgresql"):
        assert stored(db_url, "SELECT data::jsonb -> 'meta' ->> 'note' FROM conversations") == [("ab",)]
