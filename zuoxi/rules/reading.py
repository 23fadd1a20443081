"""What an agent's turns do, read the way QA reads them — one function for the simulated customer (陪练)
and anything else that must agree with the scorecards.

Each reading of `reading.yaml` is a scorecard condition: a QA rule's own (rude is EM-01's condition, a
bare refusal SA-02's trigger, …) or an `act` condition. So the dialogue-act models decide, fused with
the shared lexicons, and a cue word that is negated, quoted or supposed ("不会联系快递", "如果能补发")
denies the act whatever the models lean to; without the models the cue words alone decide.

A caller's own word lists (a case's solution, its facts' topics) count only where they are *affirmed*:
past the same veto the rules apply, and not taken back later in their clause — "查询不了", "95533也别打",
"后四位我不能告诉你" (a negation right after the words, or a refusal word in their clause). A phrase that
itself says no ("不会向您索要", "不激活") is judged by the rules' veto alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from zuoxi.analyze.models import ArtefactError, load_models
from zuoxi.model import Conversation
from zuoxi.normalize import normalize_text, prepare
from zuoxi.rules.operators.base import CLAUSE_END, Condition, Context, Hit
from zuoxi.rules.operators.compiler import Compiler
from zuoxi.rules.scorecard import load_spec

READINGS = Path(__file__).resolve().parent / "reading.yaml"
_NEGATION = re.compile(r"不|没|别|无法|未")
_AFTER = 4  # characters after the words where a negation takes them back ("查询不了", "95533也别打")

WordLists = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class TurnReading:
    acts: frozenset[str]  # the readings of reading.yaml the turn performs
    said: frozenset[str]  # the keys of the caller's word lists said, affirmed, in the turn
    denied: frozenset[str]  # the keys whose every mention in the turn was negated, quoted, supposed or taken back


def reading_specs() -> dict[str, dict]:
    """Each reading's condition, a rule reference resolved to the rule's own condition."""
    specs = yaml.safe_load(READINGS.read_text(encoding="utf-8"))
    return {name: _resolve(spec) for name, spec in specs.items()}


def _resolve(spec: dict) -> dict:
    if "rule" not in spec:
        return spec
    scorecard, rule, part = spec["rule"].split("/")
    item = next(i for s in load_spec(scorecard)[0].sections for i in s.items if i.id == rule)
    return getattr(item, part)


class _Reader:
    """reading.yaml's conditions and the caller's word lists, compiled with one keyword matcher."""

    def __init__(self, words: WordLists):
        lexicons = load_spec("core")[0].lexicons
        compiler = Compiler(lexicons, {})
        self.acts: dict[str, Condition] = {name: compiler.compile(spec, (name,)) for name, spec in reading_specs().items()}
        self.words = {key: compiler.compile({"keyword": {"role": "agent", "words": list(ws), "conditional": "skip"}}, (key,))
                      for key, ws in words}
        self.refusal = compiler.compile({"keyword": {"role": "agent", "words": ["@refusal"]}}, ("refusal",))
        self.negative = {key: [bool(_NEGATION.search(normalize_text(w))) for w in ws] for key, ws in words}
        self.matcher = compiler.matcher
        self.matcher.build()


@lru_cache(maxsize=64)
def _reader(words: WordLists) -> _Reader:
    return _Reader(words)


def _acts_of(conversation: Conversation):
    try:
        return load_models().predict_many([conversation])[0].acts
    except ArtefactError:
        return None  # no trained models here: the cue words decide


def read_agent_turns(conversation: Conversation, words: Mapping[str, Sequence[str]] | None = None,
                     models: bool = True) -> dict[int, TurnReading]:
    """The reading of every agent turn of `conversation`, by index; `words` are named word lists to look
    for, affirmed (module docstring). `models=False` reads with the cue words alone."""
    reader = _reader(tuple((key, tuple(ws)) for key, ws in (words or {}).items()))
    prepared = prepare(conversation)
    ctx = Context(prepared=prepared, matcher=reader.matcher, acts=_acts_of(conversation) if models else None)
    agent = ctx.role_indices("agent")
    acts: dict[int, set[str]] = {t: set() for t in agent}
    for name, condition in reader.acts.items():
        for hit in condition.hits(ctx, None) or ():
            if hit.turn in acts:
                acts[hit.turn].add(name)
    refusals = reader.refusal.hits(ctx, None) or []
    said: dict[int, set[str]] = {t: set() for t in agent}
    mentioned: dict[int, set[str]] = {t: set() for t in agent}
    for key, condition in reader.words.items():
        for hit in condition.raw(ctx):
            if hit.turn in mentioned:
                mentioned[hit.turn].add(key)
        for hit in condition.hits(ctx, None) or ():
            if hit.turn in said and not _taken_back(ctx, hit, refusals):
                said[hit.turn].add(key)
    return {t: TurnReading(frozenset(acts[t]), frozenset(said[t]), frozenset(mentioned[t] - said[t])) for t in agent}


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
