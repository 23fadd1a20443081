"""ARCHITECTURE.md's recipes, followed once each, so the document cannot drift from the code: a rule
operator, an input format, a page and a scorecard are added here exactly as the recipes say. (The model
recipe is followed by tests/test_models.py::test_training_runs_end_to_end_on_a_slice, which trains from
../shared/data.)"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from zuoxi.ingest import read_file
from zuoxi.ingest.canonical import validate
from zuoxi.ingest.registry import EXTENSIONS, READERS, Source, reader
from zuoxi.model import Conversation
from zuoxi.pipeline import analyze_conversation
from zuoxi.rules import scorecard as S
from zuoxi.rules.operators.base import OPERATORS, SCOPE_OPTIONS, Condition, Env, Hit, operator, parse_scope
from zuoxi.store import Store
from zuoxi.store.users import INSPECTORS, add_user
from zuoxi.web import create_app
from zuoxi.web.pages import render
from zuoxi.web.security import Signed, require_role

CONVERSATION = Conversation.model_validate(
    {
        "id": "recipe",
        "turns": [
            {"role": "customer", "text": "快递三天了还没到！！"},
            {"role": "agent", "text": "您好，我帮您查一下！！！"},
            {"role": "agent", "text": "已经催促快递了"},
        ],
    }
)


def test_recipe_rule_operator():
    """Recipe 1: a class with `@operator(name, options)`, constructor (spec, loc, env), `hits(ctx, anchor)`;
    then any scorecard may use `name:` (here a scorecard given as text)."""

    @operator("exclamations", SCOPE_OPTIONS | {"min"})
    class Exclamations(Condition):
        """Turns with at least `min` exclamation marks."""

        def __init__(self, spec: dict[str, Any], loc: tuple[Any, ...], env: Env):
            self.scope, self.min = parse_scope(spec, loc), int(spec.get("min", 2))

        def hits(self, ctx, anchor):
            found = []
            for t in self.scope.turns(ctx, anchor):
                marks = [m.start() for m in re.finditer("[!！]", ctx.turns[t].text)]
                if len(marks) >= self.min:
                    found.append(Hit(t, marks[0], marks[-1] + 1))
            return found

    try:
        S.register_text(
            "recipe-operator",
            "id: recipe-operator\nname: 配方\nsections:\n  - id: s\n    name: 语气\n    items:\n"
            "      - id: X-90\n        name: 感叹号过多\n        points: -5\n"
            "        forbid:\n          exclamations: {role: agent, min: 3}\n        message: 客服连用感叹号\n",
        )
        result = analyze_conversation(CONVERSATION, scorecard="recipe-operator", models=False)
        finding = next(f for f in result.findings if f.rule == "X-90")
        assert finding.status == "fail" and [e.turn for e in finding.evidence] == [1]
    finally:
        OPERATORS.pop("exclamations")


def test_recipe_input_format(tmp_path):
    """Recipe 2: a function with `@reader(format, *extensions)` taking a `Source` and yielding
    conversations or errors; `read_file` then reads such files by extension or `--format`."""

    @reader("pipes", ".pipes")
    def pipes_file(source: Source):
        turns = []
        for line in source.text.splitlines():
            role, _, text = line.partition("|")
            turns.append({"role": role.strip(), "text": text.strip()})
        yield validate({"id": source.name.rsplit("/", 1)[-1], "turns": turns}, source.name, 1)

    path = tmp_path / "chat.pipes"
    path.write_text("customer|还没到\nagent|我来查\nrobot|?\n", encoding="utf-8")
    good = tmp_path / "ok.pipes"
    good.write_text("customer|还没到\nagent|我来查\n", encoding="utf-8")
    try:
        (conversation,) = read_file(good)
        assert [t.role for t in conversation.turns] == ["customer", "agent"]
        (error,) = read_file(path)
        assert "chat.pipes" in str(error) and "role" in str(error)  # a bad file is an error naming it
        with pytest.raises(ValueError, match="two readers"):
            reader("pipes")(pipes_file)
    finally:
        READERS.pop("pipes")
        EXTENSIONS.pop(".pipes")


def test_recipe_page(tmp_path):
    """Recipe 4: a route on a router with `signed: Signed = require_role(GROUP)`, rendered by
    `render(request, template, signed, ...)`; signed-out callers get 401, other roles 403."""
    router = APIRouter()

    @router.get("/recipe")
    def recipe_page(request: Request, signed: Signed = require_role(INSPECTORS)):
        return render(request, "base.html.j2", signed)

    db = str(tmp_path / "recipe.db")
    store = Store(db)
    for name, role in (("insp", "inspector"), ("agent", "agent")):
        add_user(store.engine, name, "correct-horse", role, None, "07" if role == "agent" else None)
    store.close()
    app = create_app(db, models=False)
    app.include_router(router)
    assert TestClient(app).get("/recipe").status_code == 401
    for name, status in (("insp", 200), ("agent", 403)):
        client = TestClient(app)
        assert client.post("/api/login", json={"username": name, "password": "correct-horse"}).status_code == 200
        assert client.get("/recipe").status_code == status


def test_recipe_scorecard(tmp_path):
    """Recipe 5: a YAML file (sections → items → a condition), checked by `zuoxi scorecard check FILE` and
    used with `--scorecard FILE`; `include:` brings in another scorecard's items."""
    from typer.testing import CliRunner

    from zuoxi.cli import app

    path = tmp_path / "mine.yaml"
    path.write_text(
        "id: mine\nname: 我的评分表\ninclude: [core]\nsections:\n  - id: extra\n    name: 附加\n    items:\n"
        "      - id: X-91\n        name: 催促快递\n        points: -5\n        expect:\n"
        "          keyword: {role: agent, words: [催促]}\n        message: 没有催促快递\n",
        encoding="utf-8",
    )
    checked = CliRunner().invoke(app, ["scorecard", "check", str(path)])
    assert checked.exit_code == 0 and "OK" in checked.output
    result = analyze_conversation(CONVERSATION, scorecard=str(path), models=False)
    assert next(f for f in result.findings if f.rule == "X-91").status == "pass"
    assert any(f.rule.startswith("EM-") for f in result.findings)  # core came in through include
