"""What an agent's turns do, read the way QA reads them — one function for the simulated customer (陪练)
and anything else that must agree with the scorecards.

Each reading of `reading.yaml` is a scorecard condition: a QA rule's own (rude is EM-01's condition, a
bare refusal SA-02's trigger, …) or an `act` condition. So the dialogue-act models decide, fused with
the shared lexicons, and a cue word that is negated, quoted or supposed ("不会联系快递", "如果能补发")
denies the act whatever the models lean to; without the models the cue words alone decide.

A caller's own word lists (a case's facts' topics, its triggers) count only where they are *affirmed*:
past the same veto the rules apply, and not taken back later in their clause — "查询不了", "95533也别打",
"后四位我不能告诉你" (a negation right after the words, or a refusal word in their clause). A phrase that
itself says no ("不会向您索要", "不激活") is judged by the rules' veto alone. Word lists of *actions* (what
the agent must do: a case's solution) must moreover be the agent's own doing: not an errand put on the
customer ("您联系快递吧", "您可以自己查询") nor a question restating what the customer wants ("您是想让我们
给您补发吗？").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from zuoxi.analyze.models import ArtefactError, load_models
from zuoxi.model import Conversation
from zuoxi.normalize import prepare
from zuoxi.rules.operators.base import CLAUSE_END, Condition, Context, Filtered, Hit
from zuoxi.rules.operators.compiler import Compiler
from zuoxi.rules.scorecard import load_spec

READINGS = Path(__file__).resolve().parent / "reading.yaml"
_NEGATION = re.compile(r"不|没|别|无法|未")
_AFTER = 4  # characters after the words where a negation takes them back ("查询不了", "95533也别打")
# "您/你 (可以/自己/去…)" just before the words, not "给您/为您/帮您…": the customer is told to do it.
_ERRAND = re.compile(r"(?<![给为帮替向跟对和])(您|你)(可以|自己|去|再|先|直接|就|也)*$")
_RESTATING = re.compile(r"^(请问)?(您|你)(是不是|是|的意思是)")  # "您是想…吗？": what the customer wants, asked back

WordLists = tuple[tuple[str, tuple[str, ...]], ...]


def _keyword(compiler: Compiler, spec: dict, key: str) -> Filtered:
    """A keyword condition (its raw hits are what a word list names, before the scope's filters)."""
    condition = compiler.compile({"keyword": spec}, (key,))
    assert isinstance(condition, Filtered)
    return condition


@dataclass(frozen=True)
class TurnReading:
    acts: frozenset[str]  # the readings of reading.yaml the turn performs
    said: frozenset[str]  # the keys of the caller's word lists (and actions) said, affirmed, in the turn
    denied: frozenset[str]  # the keys whose every mention in the turn was negated, quoted, supposed or taken back
    errands: frozenset[str]  # actions put on the customer instead ("您联系快递吧"), not said otherwise
    asked_back: frozenset[str]  # actions only asked back as what the customer wants ("您是想…吗？")


def reading_specs() -> dict[str, dict]:
    """Each reading's condition, a rule reference resolved to the rule's own condition."""
    specs = yaml.safe_load(READINGS.read_text(encoding="utf-8"))
    return {name: _resolve(spec) for name, spec in specs.items()}


def _resolve(spec: dict) -> dict:
    """`scorecard/ID/part` is the rule's condition; further steps pick a branch of it (`expect/any/0`): the part
    of a rule that reads the line itself, not what the rule also accepts from later turns."""
    if "rule" not in spec:
        return spec
    scorecard, rule, part, *steps = spec["rule"].split("/")
    item = next(i for s in load_spec(scorecard)[0].sections for i in s.items if i.id == rule)
    condition: Any = getattr(item, part)
    for step in steps:
        condition = condition[int(step)] if isinstance(condition, list) else condition[step]
    return condition


class _Reader:
    """reading.yaml's conditions and the caller's word lists, compiled with one keyword matcher."""

    def __init__(self, words: WordLists, actions: WordLists):
        lexicons = load_spec("core")[0].lexicons
        compiler = Compiler(lexicons, {})
        self.acts: dict[str, Condition] = {
            name: compiler.compile(spec, (name,)) for name, spec in reading_specs().items()
        }
        self.words = {
            key: _keyword(compiler, {"role": "agent", "words": list(ws), "conditional": "skip"}, key)
            for key, ws in (*words, *actions)
        }
        self.actions = {key for key, _ in actions}
        self.refusal = compiler.compile({"keyword": {"role": "agent", "words": ["@refusal"]}}, ("refusal",))
        self.matcher = compiler.matcher
        self.matcher.build()


@lru_cache(maxsize=64)
def _reader(words: WordLists, actions: WordLists) -> _Reader:
    return _Reader(words, actions)


def _lists(lists: Mapping[str, Sequence[str]] | None) -> WordLists:
    return tuple((key, tuple(ws)) for key, ws in (lists or {}).items())


def _acts_of(conversation: Conversation):
    try:
        return load_models().predict_many([conversation])[0].acts
    except ArtefactError:
        return None  # no trained models here: the cue words decide


def read_agent_turns(
    conversation: Conversation,
    words: Mapping[str, Sequence[str]] | None = None,
    actions: Mapping[str, Sequence[str]] | None = None,
    models: bool = True,
) -> dict[int, TurnReading]:
    """The reading of every agent turn of `conversation`, by index; `words` and `actions` are named word
    lists to look for, affirmed, the actions as the agent's own doing (module docstring); their keys
    must differ. `models=False` reads with the cue words alone."""
    reader = _reader(_lists(words), _lists(actions))
    prepared = prepare(conversation)
    ctx = Context(prepared=prepared, matcher=reader.matcher, acts=_acts_of(conversation) if models else None)
    agent = ctx.role_indices("agent")
    acts: dict[int, set[str]] = {t: set() for t in agent}
    for name, condition in reader.acts.items():
        for hit in condition.hits(ctx, None) or ():
            if hit.turn in acts:
                acts[hit.turn].add(name)
    refusals = reader.refusal.hits(ctx, None) or []
    found: dict[str, dict[int, set[str]]] = {
        kind: {t: set() for t in agent} for kind in ("mentioned", "said", "errand", "asked_back")
    }
    for key, condition in reader.words.items():
        for hit in condition.raw(ctx):
            if hit.turn in found["mentioned"]:
                found["mentioned"][hit.turn].add(key)
        for hit in condition.hits(ctx, None) or ():
            if hit.turn in found["said"] and not _taken_back(ctx, hit, refusals):
                kind = _whose(ctx, hit) if key in reader.actions else "said"
                found[kind][hit.turn].add(key)
    readings = {}
    for t in agent:
        said = found["said"][t]
        errands = found["errand"][t] - said
        asked_back = found["asked_back"][t] - said - errands
        denied = found["mentioned"][t] - said - errands - asked_back
        readings[t] = TurnReading(*map(frozenset, (acts[t], said, denied, errands, asked_back)))
    return readings


def _clause(norm: str, hit: Hit) -> tuple[int, int]:
    start = max((m.end() for m in CLAUSE_END.finditer(norm, 0, hit.start)), default=0)
    end = next((m.start() for m in CLAUSE_END.finditer(norm, hit.end)), len(norm))
    return start, end


def _taken_back(ctx: Context, hit: Hit, refusals: list[Hit]) -> bool:
    """Words the rest of their clause takes back: a refusal word in the clause, or a negation just after
    them that is not an A-not-A question ("有没有", "是不是"). Words that are themselves a negation keep."""
    norm = ctx.turns[hit.turn].norm
    if _NEGATION.search(norm[hit.start : hit.end]):
        return False
    start, end = _clause(norm, hit)
    if any(r.turn == hit.turn and start <= r.start and r.end <= end for r in refusals):
        return True
    after = norm[hit.end : min(end, hit.end + _AFTER)]
    for match in _NEGATION.finditer(after):
        i = hit.end + match.start()
        if match.group() in "不没" and 0 < i < len(norm) - 1 and norm[i - 1] == norm[i + 1]:
            continue
        return True
    return False


def _whose(ctx: Context, hit: Hit) -> str:
    """Whose an affirmed action is: the agent's ("said"), an "errand" put on the customer, or "asked_back"
    as what the customer wants."""
    turn = ctx.turns[hit.turn]
    start, _ = _clause(turn.norm, hit)
    if _ERRAND.search(turn.norm[start : hit.start]):
        return "errand"
    sentence = next((turn.norm[s:e].strip() for s, e in turn.sentences if s <= hit.start < e), "")
    if _RESTATING.search(sentence) and sentence.rstrip("。！!…~～ ").endswith(("?", "？", "吗")):
        return "asked_back"
    return "said"
