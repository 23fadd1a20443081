"""The scoring engine: a compiled scorecard turns a prepared conversation into a `Result`.

An item's rule is a trigger (`when`, optional) and either an expectation (`expect`: what must
follow each trigger) or a prohibition (`forbid`: what must not happen). The item is `n/a` when it
does not apply or its trigger never occurs, `fail` when any occurrence breaks the rule, else `pass`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from zuoxi.model import Result
from zuoxi.rules.operators import Compiler, Condition, Context, Hit, RuleError
from zuoxi.rules.scorecard import (
    Item,
    Origin,
    ScorecardError,
    ScorecardSpec,
    Unvalidated,
    builtin_names,
    line_of,
    load_spec,
    locate,
    registered_text,
    strip_lines,
)

# Skill names of the three core skills of seed 000, as the output and dashboards show them.
CORE_SKILLS = ("emotion_management", "service_awareness", "communication")

SIGN_OFF = frozenset({"closing", "greet"})  # acts that end a handling without adding to it


@dataclass
class CompiledItem:
    item: Item
    section: str
    applies_roles: tuple[str, ...]
    when: Condition | None
    expect: Condition | None
    forbid: Condition | None
    veto_if: Condition | None
    dismiss_if: Condition | None


@dataclass
class Judgement:
    """A rule judged at one trigger: `kind` says whether its prohibition or its expectation decided."""

    kind: str  # "forbid" | "expect"
    violated: bool
    evidence: list[Hit]
    degree: float = 0.0
    whole: tuple[Hit, ...] = ()  # evidence the engine picked (the reply where something was missing): shown whole


@dataclass
class Occurrence:
    evidence: list[Hit]
    degree: float = 0.0
    whole: tuple[Hit, ...] = ()


class CompiledScorecard:
    def __init__(self, spec: ScorecardSpec, origins: list[Origin]):
        self.spec = spec
        self.compiler = Compiler(spec.lexicons, spec.synonyms)
        self.items: list[CompiledItem] = []
        problems = []
        for s_index, section in enumerate(spec.sections):
            source, raw, raw_index = origins[s_index]
            for i_index, item in enumerate(section.items):
                base = ("sections", raw_index, "items", i_index)
                try:
                    self.items.append(
                        CompiledItem(
                            item=item,
                            section=section.id,
                            applies_roles=tuple(item.applies.roles),
                            **{name: self._compile(getattr(item, name), base + (name,)) for name in CONDITIONS},
                        )
                    )
                except RuleError as error:
                    where = ".".join(map(str, error.loc))
                    problems.append(f"{source}:{line_of(raw, error.loc) or '?'}: {item.id}: {where}: {error}")
        self.profile = []
        for p_index, entry in enumerate(spec.profile):
            try:
                self.profile.append((entry, self.compiler.compile(entry.condition, ("profile", p_index, "condition"))))
            except RuleError as error:
                problems.append(f"{spec.source}: profile {entry.id}: {error}")
        if problems:
            raise ScorecardError(problems)
        self.compiler.matcher.build()
        self.sections = {s.id: s for s in spec.sections}
        self.weights = {c.item.id: abs(c.item.points) for c in self.items}

    def _compile(self, spec, loc) -> Condition | None:
        return None if spec is None else self.compiler.compile(spec, loc)

    def scan_keywords(self, turns) -> dict[int, list[Hit]]:
        """The scorecard's keyword hits in `turns` (list key → hits), for a caller that keeps them per
        turn (live assist) and hands them back to `context`."""
        return self.compiler.matcher.scan(turns)

    def context(self, prepared, emotions=None, audio=None, keyword_hits=None, acts=None) -> Context:
        """`keyword_hits` (list key → hits) saves the keyword scan when the caller has it already;
        `acts` are the turn models' dialogue acts (none without the models)."""
        return Context(
            prepared=prepared,
            matcher=self.compiler.matcher,
            emotions=emotions or {},
            audio=audio,
            acts=acts,
            _keyword_hits=keyword_hits,
        )

    # ---------------------------------------------------------------------------------------
    def anchors(self, c: CompiledItem, ctx: Context) -> list[Hit | None] | None:
        """Where the item is judged: one anchor per trigger turn (less those `dismiss_if` finds
        something for), `[None]` for an item without a trigger (the whole conversation), or None when
        the item is n/a."""
        item, conv = c.item, ctx.prepared.conversation
        if item.applies.channel and conv.channel != item.applies.channel:
            return None
        if item.applies.times and not ctx.prepared.has_times:
            return None
        if item.applies.transcript == "opening" and conv.meta.get("opening") == "not_logged":
            return None
        if any(not ctx.role_indices(role) for role in c.applies_roles):
            return None
        if c.when is None:
            return [None]
        anchors: list[Hit] = []
        for hit in c.when.hits(ctx, None) or ():
            if not anchors or anchors[-1].turn != hit.turn:
                anchors.append(hit)
        if anchors and c.dismiss_if is not None:
            anchors = self._not_dismissed(c.dismiss_if, ctx, anchors)
        if not anchors:
            return None
        return [*(anchors[:1] if item.once else anchors)]

    @staticmethod
    def _not_dismissed(dismiss_if: Condition, ctx: Context, anchors: list[Hit]) -> list[Hit]:
        """The triggers `dismiss_if` finds nothing for — or cannot judge yet (None: nobody has answered the
        trigger, so it stands until what follows says otherwise). The acts the check marks are not kept: they
        would narrow a failed finding's evidence to the clause read for the dismissal, not for the finding."""
        marks = dict(ctx.act_marks)
        kept = [hit for hit in anchors if not dismiss_if.hits(ctx, hit)]
        ctx.act_marks.clear()
        ctx.act_marks.update(marks)
        return kept

    def judge(
        self, c: CompiledItem, ctx: Context, anchor: Hit | None, wait: bool = False, skip_expect: bool = False
    ) -> Judgement | None:
        """One trigger of an item judged — the one judgement batch scoring and live assist share.
        A prohibition is judged first: what it finds is the violation. Otherwise the expectation
        (unless `skip_expect`): with `wait`, only once later turns can no longer change it
        (`Condition.settled`, for live assist). None when nothing can be judged (yet)."""
        if c.forbid is not None:
            found = c.forbid.hits(ctx, anchor)
            if found is None:
                return None
            if found:
                return Judgement("forbid", True, found)
        if c.expect is None or skip_expect:
            return Judgement("forbid", False, []) if c.forbid is not None else None
        if wait and not c.expect.settled(ctx, anchor):
            return None
        degree = c.expect.degree(ctx, anchor) if c.item.partial else None
        found = c.expect.hits(ctx, anchor) if degree is None else None
        if degree is None and found is None:
            return None
        satisfied = degree >= c.item.min_degree if degree is not None else bool(found)
        missing = tuple(self._missing_in(c, ctx, anchor)) if anchor and not satisfied else ()
        shown = [anchor, *missing] if anchor and not satisfied else []
        return Judgement("expect", not satisfied, shown, degree or 0.0, missing)

    @staticmethod
    def _missing_in(c: CompiledItem, ctx: Context, anchor: Hit) -> list[Hit]:
        """The agent's turn after a customer's trigger where what was expected is missing, shown
        beside what called for it (the agent's faulty turn a reader points at): the first agent
        turn the expectation looked in, or for a partial one (steps of a whole handling) the last
        before the sign-offs. Nothing more where the trigger is the agent's own turn: it is that one."""
        if ctx.turns[anchor.turn].role == "agent" or c.expect is None:
            return []
        replies = [t for t in c.expect.looked_at(ctx, anchor) if t > anchor.turn and ctx.turns[t].role == "agent"]
        if not replies:
            return []
        # a partial one: the last word on the matter, sign-offs after it (or turns of no act) set aside
        reply = (ctx.without_trailing(replies, SIGN_OFF) or replies[:1])[-1] if c.item.partial else replies[0]
        return [Hit(reply, 0, len(ctx.turns[reply].text))]

    def _occurrences(self, c: CompiledItem, ctx: Context) -> list[Occurrence] | None:
        """The rule's violations, or None when the item is n/a."""
        anchors = self.anchors(c, ctx)
        if anchors is None:
            return None
        violations, judged = [], False
        for anchor in anchors:
            j = self.judge(c, ctx, anchor)
            if j is None:
                continue
            judged = True
            if not j.violated:
                continue
            if j.kind == "expect":
                violations.append(Occurrence(j.evidence, j.degree, j.whole))
            elif c.when is None:  # each offending turn is one offence (repeats deduct more)
                for turn in sorted({h.turn for h in j.evidence}):
                    violations.append(Occurrence([h for h in j.evidence if h.turn == turn]))
            else:
                shown = [anchor] if c.item.evidence == "trigger" and anchor is not None else []
                violations.append(Occurrence(j.evidence + shown))
        return violations if judged else None

    def _evidence_hits(
        self, c: CompiledItem, ctx: Context, violations: list[Occurrence]
    ) -> list[tuple[Hit, tuple[str, ...] | None]]:
        """A failed finding's evidence, each hit with the acts marked in it (`Context.marked`, what the clause
        narrowing reads) — none for a turn the engine picked itself (the agent's reply where something was
        missing, the first or last agent turn): no act of this rule was read there, and another rule's act
        marked on the same whole turn would narrow it to words that have nothing to do with this finding."""
        hits = sorted({h for v in violations for h in v.evidence})
        whole = {h for v in violations for h in v.whole}
        mode = c.item.evidence
        if mode in ("first_agent", "last_agent") or not hits:
            agent = ctx.prepared.role_turns("agent")
            if agent and not (hits and mode is None):
                turn = agent[0] if mode != "last_agent" else agent[-1]
                return [(Hit(turn.index, 0, len(turn.text)), None)]
        return [(h, None) if h in whole else ctx.marked(h) for h in hits]

    def evaluate(self, ctx: Context) -> Result:
        conv = ctx.prepared.conversation
        findings: list[dict] = []
        # failed findings' evidence with the acts marked in it then (`Context.marked`), all narrowed below at once
        shown: dict[int, list[tuple[Hit, Any]]] = {}
        for c in self.items:
            item = c.item
            ctx.act_marks.clear()  # only this item's own conditions narrow its evidence
            violations = self._occurrences(c, ctx)
            points, severity = 0.0, item.severity
            if violations is None:
                status = "n/a"
            elif violations:
                status = "fail"
                repeats = min(len(violations) - 1, item.max_repeats)
                if item.points < 0:
                    scale = 1 - max(v.degree for v in violations) if item.partial else 1.0
                    points = (item.points * scale) - abs(item.repeat_points) * repeats
                if c.veto_if is not None and (c.veto_if.hits(ctx, None) or []):
                    severity = "veto"
                shown[len(findings)] = self._evidence_hits(c, ctx, violations)
            else:
                status = "pass"
                points = max(item.points, 0.0)
            findings.append(
                {  # validated together with the Result, in one call (twice as fast)
                    "rule": item.id,
                    "name": item.name,
                    "status": status,
                    "severity": severity,
                    "points": round(points, 2),
                    "evidence": [],
                    "message": item.message if status == "fail" else "",
                    "suggestion": item.suggestion if status == "fail" else "",
                    "section": c.section,
                }
            )
        refined = ctx.refined({ask for asks in shown.values() for ask in asks})
        for at, asks in shown.items():
            findings[at]["evidence"] = [
                {"turn": h.turn, "start": h.start, "end": h.end, "text": conv.turns[h.turn].text[h.start : h.end]}
                for h in (refined.get(ask, ask[0]) for ask in asks)
            ]
        skills = {}
        for entry, condition in self.profile:
            found = condition.hits(ctx, None) or []
            skills[entry.id] = round(min(1.0, len({h.turn for h in found}) / entry.saturate), 3)
        return self._summarize(conv.id, findings, skills)

    def _summarize(self, conversation_id: str, findings: list[dict], profile: dict[str, float]) -> Result:
        """Score, veto, section ratios and core skills from the findings' statuses and points
        (findings as dicts of `Finding` fields)."""
        weights = self.weights
        deductions = sum(-f["points"] for f in findings if f["status"] == "fail" and f["points"] < 0)
        bonus = sum(f["points"] for f in findings if f["status"] == "pass" and f["points"] > 0)
        veto = any(f["status"] == "fail" and f["severity"] == "veto" for f in findings)
        section_totals: dict[str, list[float]] = {}
        for f in findings:
            if f["status"] == "n/a":
                continue
            weight = weights.get(f["rule"], 0.0)
            totals = section_totals.setdefault(f["section"], [0.0, 0.0])
            totals[0] += weight - min(weight, -f["points"]) if f["points"] < 0 else weight
            totals[1] += weight
        max_score = self.spec.max_score
        score = 0.0 if veto else min(max_score, max(0.0, max_score - deductions + bonus))
        sections = {sid: round(kept / total, 3) if total else 1.0 for sid, (kept, total) in section_totals.items()}
        skills = {sid: sections.get(sid, 1.0) for sid in CORE_SKILLS if sid in self.sections}
        skills.update(profile)
        return Result.model_validate(
            {
                "conversation_id": conversation_id,
                "scorecard": self.spec.id,
                "score": round(score, 2),
                "max_score": max_score,
                "veto": veto,
                "findings": findings,
                "sections": sections,
                "skills": skills,
            }
        )

    def rescore(self, result: Result, statuses: dict[str, str]) -> Result:
        """`result` with people's decisions applied: `statuses` maps a rule to "pass" or "fail"
        (a review that overturns the machine, an accepted appeal). Points, veto, score, sections
        and core skills are recomputed as `evaluate` computes them; everything else is kept."""
        items = {c.item.id: c.item for c in self.items}
        findings = []
        for f in result.findings:
            status = statuses.get(f.rule, f.status)
            if status == f.status or f.rule not in items:
                findings.append(f)
                continue
            item = items[f.rule]
            if status == "pass":
                update = {
                    "status": "pass",
                    "points": max(item.points, 0.0),
                    "message": "",
                    "suggestion": "",
                    "severity": item.severity,
                    "evidence": [],
                }
            else:
                update = {
                    "status": "fail",
                    "points": min(item.points, 0.0),
                    "message": item.message,
                    "suggestion": item.suggestion,
                    "severity": item.severity,
                }
            findings.append(f.model_copy(update=update))
        profile = {k: v for k, v in result.skills.items() if k not in CORE_SKILLS}
        summary = self._summarize(result.conversation_id, [f.model_dump() for f in findings], profile)
        return result.model_copy(
            update={k: getattr(summary, k) for k in ("score", "veto", "findings", "sections", "skills")}
        )


def _load_and_compile(name: str, text: str | None = None) -> CompiledScorecard:
    """`load_spec` then compiled; when the scorecard is refused for repeated item ids or points out of bounds,
    its rules' problems are reported with them (one run of `zuoxi scorecard check` for all of them)."""
    try:
        spec, origins = load_spec(name, text=text)
    except ScorecardError as error:
        more = _condition_problems(error.unvalidated) if error.unvalidated is not None else []
        if error.partial is not None:
            try:
                CompiledScorecard(*error.partial)
            except ScorecardError as compiled:
                more += compiled.problems
        if more:
            raise ScorecardError(error.problems + [p for p in dict.fromkeys(more) if p not in error.problems]) from None
        raise
    return CompiledScorecard(spec, origins)


CONDITIONS = ("when", "expect", "forbid", "veto_if", "dismiss_if")  # an item's fields that hold a rule


def _condition_problems(file: Unvalidated) -> list[str]:
    """The problems of the conditions of a file that did not validate, item by item, as `CompiledScorecard` words
    them: what the compiler can tell of the rules beside the file's own problems."""
    compiler = Compiler(file.lexicons, file.synonyms)
    sections = file.raw.get("sections")
    problems = []
    for s_index, section in enumerate(sections if isinstance(sections, list) else []):
        items = section.get("items") if isinstance(section, dict) else None
        for i_index, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            for name in CONDITIONS:
                if item.get(name) is None:
                    continue
                try:
                    compiler.compile(strip_lines(item[name]), ("sections", s_index, "items", i_index, name))
                except RuleError as error:
                    where = ".".join(map(str, error.loc))
                    line = line_of(file.raw, error.loc) or "?"
                    problems.append(f"{file.source}:{line}: {item.get('id', '?')}: {where}: {error}")
    return problems


@lru_cache(maxsize=32)
def _compiled(name: str, mtime: float) -> CompiledScorecard:
    return _load_and_compile(name)


def get_scorecard(name: str) -> CompiledScorecard:
    """A built-in scorecard by name, one registered from its text (`register_text`), or a YAML file by
    path; compiled once per process (again when its file or text changes)."""
    if name in _builtins():
        return _compiled(name, 0.0)  # package files do not change while running: no stat per call
    text = registered_text(name)
    if text is not None:
        return _compiled_text(name, text)
    path = locate(name)
    return _compiled(name, path.stat().st_mtime if path.exists() else 0.0)


def compile_text(name: str, text: str) -> CompiledScorecard:
    """Scorecard `text` compiled as `name` (its includes by name), without registering it: ScorecardError,
    with `name.yaml:line:` problems, when it does not compile."""
    return _load_and_compile(name, text)


@lru_cache(maxsize=32)
def _compiled_text(name: str, text: str) -> CompiledScorecard:
    return compile_text(name, text)


@lru_cache(maxsize=1)
def _builtins() -> frozenset[str]:
    return frozenset(builtin_names())
