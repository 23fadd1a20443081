"""The case library: curated cases plus promoted ones, keyword/similarity search, candidates
collected from analyzed conversations, and the trainees' attempts.

Search is BM25 (rank-bm25) over jieba tokens (rjieba) of a case's title, tags, scene, need,
analysis and transcript; "similar to this conversation" is the same ranking with the whole
conversation as the query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import rjieba
import yaml
from rank_bm25 import BM25Okapi

from zuoxi.coaching.cases import LABELS, Case, CaseError, builtin_cases, check_fields, parse_case
from zuoxi.coaching.simulator import DrillReport
from zuoxi.model import HIGH_RISK, Conversation
from zuoxi.normalize import normalize_text
from zuoxi.privacy import mask_conversation, mask_value
from zuoxi.store import Store
from zuoxi.store import cases as stored
from zuoxi.store.cases import AttemptView, NewTrainingAttempt, ScoredConversation, Worth

__all__ = ["AttemptView", "Candidate", "CaseLibrary"]
log = logging.getLogger(__name__)

# How much each signal adds to a candidate's rank (all in 0–1): a complaint risk from HIGH_RISK on (× the risk), each
# failed rule named here, a score under 60 (× how far under full marks). The store ranks results by it in SQL.
WORTH = Worth(risk=0.4, high_risk=HIGH_RISK, rules={"ES-01": 0.2, "ES-02": 0.2, "CS-01": 0.2}, low_score=0.3, low=60)
RULE_REASONS = {"ES-01": "投诉/升级", "ES-02": "情绪恶化", "CS-01": "车轱辘话"}
_STOP = set("的了吗呢啊吧呀嘛是我你您他她它们这那就也都还在和与及或，。！？、：；,.!?:; ")


def tokens(text: str) -> list[str]:
    return [w for w in rjieba.cut(normalize_text(text)) if w.strip() and w not in _STOP]


@dataclass
class Candidate:
    key: str
    conversation_id: str
    agent_id: str | None
    score: float
    complaint_risk: float | None
    reasons: list[str]
    rank: float


class CaseLibrary:
    """Every page and drill reads the library: a promoted case is parsed once, the first time its stored YAML is seen
    (again only when it changes, as `zuoxi db remask` may), and its search tokens cut once."""

    def __init__(self, store: Store):
        self.store = store
        self._read: dict[str, tuple[str, Case | None]] = {}  # promoted case id → (its YAML, the case or None)
        self._tokens: dict[str, tuple[Case, list[str]]] = {}  # case id → (that case, its search tokens)

    def cases(self) -> list[Case]:
        read: dict[str, tuple[str, Case | None]] = {}
        for ident, text in stored.promoted_cases(self.store.engine):
            known = self._read.get(ident)
            read[ident] = known if known is not None and known[0] == text else (text, _readable(ident, text))
        self._read = read
        return [*builtin_cases(), *(case for _, case in read.values() if case is not None)]

    def _search_tokens(self, case: Case) -> list[str]:
        known = self._tokens.get(case.id)
        if known is not None and known[0] is case:
            return known[1]
        cut = tokens(case.search_text())
        self._tokens[case.id] = (case, cut)
        return cut

    def get(self, case_id: str) -> Case:
        for case in self.cases():
            if case.id == case_id:
                return case
        raise KeyError(case_id)

    def search(
        self,
        query: str = "",
        tags: list[str] | None = None,
        difficulty: int | None = None,
        like: Conversation | None = None,
    ) -> list[tuple[Case, float]]:
        """Cases matching the filters, ranked by BM25 against `query` (or a whole conversation)."""
        cases = [
            c
            for c in self.cases()
            if (not tags or set(tags) <= set(c.tags)) and (difficulty is None or c.difficulty == difficulty)
        ]
        text = " ".join(t.text for t in like.turns) if like is not None else query
        if not cases or not text.strip():
            return [(c, 0.0) for c in cases]
        index = BM25Okapi([self._search_tokens(c) for c in cases])
        scores = index.get_scores(tokens(text))
        ranked = sorted(zip(cases, scores), key=lambda x: -x[1])
        return [(c, round(float(s), 3)) for c, s in ranked if s > 0]

    # --- candidates and promotion ---------------------------------------------------------------
    def candidates(self, limit: int = 20) -> list[Candidate]:
        """Analyzed conversations worth turning into cases, best first (not yet promoted): the store ranks every
        result by `WORTH` and hands back the first `limit` conversations, each with its best result."""
        return [_candidate(row) for row in stored.case_sources(self.store.engine, WORTH, limit)]

    def promote(self, key: str, curation: dict, user_id: int | None = None) -> Case:
        """Make a case of a stored conversation: `curation` holds the Case fields except the conversation. Refused
        (CaseError, in Chinese) past any field's bound before anything else is done with it; what the trainer typed
        is masked as conversations are (every agent reads a case)."""
        check_fields(curation)
        curation = mask_value(curation)

        def build(conversation: Conversation, taken: Callable[[str], bool]) -> tuple[str, str, Case]:
            data = {**curation, "conversation": conversation.model_dump(mode="json", exclude_none=True)}
            text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
            case = parse_case(text, f"promoted from {conversation.id}")
            _turns_within(case)
            if case.id in {c.id for c in builtin_cases()} or taken(case.id):
                raise CaseError(f"案例 {case.id!r} 已存在")
            return case.id, text, case

        return stored.promote_conversation(self.store.engine, key, user_id, build)

    # --- attempts ---------------------------------------------------------------------------------
    def record(self, trainee: str, report: DrillReport, engine: str) -> int | None:
        """Store an attempt; what the trainee typed is stored like any conversation, personal data
        (phones, IDs, cards, e-mails) masked. A drill the trainee said nothing in is no attempt (None): nothing failed,
        so it scored full marks and raised the trainee's average."""
        if not any(turn.role == "agent" for turn in report.transcript.turns):
            return None
        return stored.add_training_attempt(
            self.store.engine,
            NewTrainingAttempt(
                case_id=report.case_id,
                trainee=trainee,
                outcome=report.outcome,
                score=report.score,
                max_score=report.max_score,
                anger=report.anger,
                engine=engine,
                turns=[
                    {**t.model_dump(), **({"backend": b} if b else {})}
                    for t, b in zip(mask_conversation(report.transcript).turns, report.backends, strict=True)
                ],
                failed_rules=[f.rule for f in report.result.failed()],
            ),
        )

    def attempts(self, trainee: str | None = None, case_id: str | None = None) -> list[AttemptView]:
        return stored.training_attempts(self.store.engine, trainee, case_id)


def _candidate(result: ScoredConversation) -> Candidate:
    """Why a result is worth a case, and how much (`WORTH`, summed in the order the store's ranking sums it)."""
    failed = set((result.failed_rules or "").split())
    score = result.final_score if result.final_score is not None else result.score
    reasons, rank = [], 0.0
    risk = result.complaint_risk or 0.0
    if risk >= WORTH.high_risk:
        reasons.append(f"投诉风险 {risk:.0%}")
        rank += WORTH.risk * risk
    for rule, weight in WORTH.rules.items():
        if rule in failed:
            reasons.append(RULE_REASONS[rule])
            rank += weight
    if score < WORTH.low:
        reasons.append(f"低分 {score:.0f}")
        rank += WORTH.low_score * (1 - score / max(result.max_score, 1))
    return Candidate(
        result.key, result.conversation_id, result.agent_id, score, result.complaint_risk, reasons, round(rank, 3)
    )


def _readable(ident: str, text: str) -> Case | None:
    """A stored promoted case, or None (logged) when it no longer reads as a case: one promoted before cases were
    bounded, past a bound, is left out of the library rather than failing every training page."""
    try:
        return parse_case(text, f"training_cases/{ident}")
    except CaseError as error:
        log.warning("promoted training case %r left out of the library: %s", ident[:100], str(error)[:500])
        return None


def _turns_within(case: Case) -> None:
    """A promoted case's turn indices (0-based, as in the case files and the API) name turns of its conversation:
    any number was stored, and the drill report showed a model reply to a line the conversation does not have.
    Refused in Chinese, naming the field as the form does and the turn both as the index given and as people count
    turns (from 1, as every page numbers them): 最佳话术第 1 条：下标 7（从 0 数起）是第 8 句，对话只有 7 句…"""
    count = len(case.conversation.turns)
    named = [(f"{LABELS['best_solutions']}第 {i + 1} 条", b.turn) for i, b in enumerate(case.best_solutions)]
    if case.escalation_turn is not None:
        named.append((LABELS["escalation_turn"], case.escalation_turn))
    for where, index in named:
        if index < 0:
            raise CaseError(f"{where}：下标 {index} 不是一句（下标从 0 数起，这段对话是 0–{count - 1}）")
        if index >= count:
            raise CaseError(
                f"{where}：下标 {index}（从 0 数起）是第 {index + 1} 句，对话只有 {count} 句，没有第 {index + 1} 句"
            )
