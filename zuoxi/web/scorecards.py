"""Scorecards edited in the browser: kept in the database, known to the engine by their text
(`register_text`, no files), validated with the same loader as `zuoxi scorecard check` (errors by line)."""

from __future__ import annotations

import re

import yaml

from zuoxi.messages import Problems
from zuoxi.model import Conversation
from zuoxi.pipeline import iter_analyses
from zuoxi.rules.engine import compile_text, get_scorecard
from zuoxi.rules.scorecard import BUILTIN_DIR, ScorecardError, builtin_names, masked_text, register_text
from zuoxi.store import Store
from zuoxi.store.queries import ConversationFilter
from zuoxi.store.scorecards import (
    conversations_to_rescore,
    custom_scorecard_text,
    custom_scorecards,
    custom_scorecards_version,
    save_custom_scorecard,
)
from zuoxi.store.users import Account

NAME = re.compile(r"^[a-z][a-z0-9_-]{1,60}$")
_ID_LINE = re.compile(r"(?m)^id:.*$")
RESCORE_LIMIT = 5000  # one request re-scores at most this many conversations


class ScorecardProblem(Problems):
    """A scorecard the editor cannot save: its problems, or a name it may not take."""


def with_id(text: str, name: str) -> str:
    """The text with its top-level `id:` set to the name it is saved under. Results are stored by
    that id: a copy of core saved as "mine" that still said `id: core` would replace core's results."""
    return _ID_LINE.sub(f"id: {name}", text, count=1) if _ID_LINE.search(text) else f"id: {name}\n{text}"


def _stated_id(text: str) -> str | None:
    """The text's top-level `id`, as its YAML reads (quotes and all), if it has one."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # the check names the problem
    return str(data["id"]) if isinstance(data, dict) and data.get("id") is not None else None


def _title(text: str) -> str | None:
    """The scorecard's `name` (what people read, e.g. 核心技能质检表), if the text has one."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return str(data["name"]) if isinstance(data, dict) and data.get("name") else None


class ScorecardLibrary:
    def __init__(self, store: Store):
        self.store = store
        self._titles = {
            n: _title((BUILTIN_DIR / f"{n}.yaml").read_text(encoding="utf-8")) or n for n in builtin_names()
        }
        self._version: tuple[int, object] | None = None
        self.refresh()

    def refresh(self) -> None:
        """Know the database's scorecards as last saved, by any server process (another process's edit was known
        here only after a restart: a live session or rescore here used the older text)."""
        version = custom_scorecards_version(self.store.engine)
        if version == self._version:
            return
        for name, text in custom_scorecards(self.store.engine):
            register_text(name, text)
            self._titles[name] = _title(text) or name
        self._version = version

    def titles(self) -> dict[str, str]:
        """Each scorecard's name for people, by id: 核心技能质检表 for core."""
        self.refresh()
        return dict(self._titles)

    def names(self) -> list[tuple[str, bool]]:
        """(name, built in) of every scorecard."""
        self.refresh()
        custom = [name for name, _ in custom_scorecards(self.store.engine)]
        return [(n, True) for n in builtin_names()] + [(n, False) for n in custom]

    def text(self, name: str) -> str:
        if name in builtin_names():
            return (BUILTIN_DIR / f"{name}.yaml").read_text(encoding="utf-8")
        text = custom_scorecard_text(self.store.engine, name)
        if text is None:
            raise KeyError(name)
        return text

    def check(self, name: str, text: str) -> list[str]:
        """Problems of `text` as a scorecard, each `name.yaml:line: message`; [] when it compiles."""
        try:
            compile_text(name, text)
        except ScorecardError as error:
            return error.problems
        return []

    def save(self, account: Account, name: str, text: str, copy_of: str | None = None) -> None:
        """Save `text`, personal data masked (`masked_text`), as scorecard `name`. Its `id:` must be `name` (or absent: then it is written in): a text
        saying `id: my_center` saved as other_name was stored with its id rewritten, and its results carried a
        name its author never gave. `copy_of`: the editor's "另存为", a copy of that scorecard whose id is
        rewritten to the new one."""
        if not NAME.match(name):
            raise ScorecardProblem([f"{name}：评分表 id 由 2–61 个小写字母、数字、- 或 _ 组成，以字母开头"])
        if name in builtin_names():
            raise ScorecardProblem([f"{name}：内置评分表不能修改，请另存为新的评分表"])
        stated = _stated_id(text)
        if stated is not None and stated not in (name, copy_of):
            stated = stated if len(stated) <= 61 else stated[:60] + "…"
            raise ScorecardProblem(
                [
                    f"文中的 id 是 {stated}，却要保存为评分表 {name}：评分结果按所存的 id 记录，两者须一致。"
                    f"请把文中的 id 改为 {name}，或保存为 {stated}"
                ]
            )
        text = with_id(text, name)
        problems = self.check(name, text)
        if problems:
            raise ScorecardProblem(problems)
        # Masked once checked (the problems' lines are those of the text as typed): the stored text, its audit
        # entry and every result it scores hold no personal data in clear.
        if (masked := masked_text(text)) != text:
            text = masked
            if problems := self.check(name, text):
                raise ScorecardProblem(problems)
        save_custom_scorecard(self.store.engine, account, name, text)
        register_text(name, text)
        self._titles[name] = _title(text) or name

    def rescore(self, account: Account, name: str, f: ConversationFilter) -> int:
        """Score the filtered conversations (in the account's scope) with scorecard `name`; returns how many.

        Only names of this library (never a file path from a request); KeyError otherwise."""
        if name not in dict(self.names()):
            raise KeyError(name)
        get_scorecard(name)  # fail before touching anything
        rows = conversations_to_rescore(self.store.engine, account, f, RESCORE_LIMIT)
        results = iter_analyses((Conversation.model_validate(data) for _, data in rows), name, mask=False)
        items = list(zip((key for key, _ in rows), results))
        self.store.save_results(items)
        return len(items)
