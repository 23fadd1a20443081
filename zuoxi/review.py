"""Review (复核), appeal (申诉) and calibration: people correcting the machine, and the machine's
rules learning from it.

- An inspector confirms or overturns a finding; the score is recomputed by the same engine
  (`CompiledScorecard.rescore`) and every version is kept (`result_versions`).
- An agent appeals a failed finding of their own conversation with a reason; a team lead (own
  team) or an inspector accepts it (the finding is overturned) or rejects it.
- Calibration: several inspectors judge the same findings blind (they see the transcript, not the
  machine's or each other's verdicts); agreement per rule and each inspector's strictness follow.
- Rule precision: confirmed ÷ reviewed failed findings, per rule, so a noisy rule is visible.

Who may do what is checked here; what is read and written, with an audit entry for every change (who,
when, what, before and after), is `zuoxi.store.reviews`, which also keeps the history, the appeals list
and the blind calibration queue. What people write (comments, appeal reasons) is stored with personal
data masked, like the conversations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from zuoxi.model import Result
from zuoxi.store import reviews as stored
from zuoxi.store.queries import Forbidden
from zuoxi.store.reviews import ReviewError
from zuoxi.store.users import AGENTS, INSPECTORS, OVERSEERS, Account

__all__ = ["ReviewError"]  # raised by the store's side too; its callers import it from here

VERDICTS = ("confirm", "overturn")


def review_finding(engine, account: Account, result_pk: int, rule: str, verdict: str, comment: str = "") -> Result:
    """An inspector's confirm/overturn of one finding; returns the recomputed current result."""
    if account.role not in INSPECTORS:
        raise Forbidden("only inspectors review findings")
    if verdict not in VERDICTS:
        raise ReviewError("复核结论 verdict 只能是 confirm（确认）或 overturn（改判）")
    return stored.add_review(engine, account, result_pk, rule, verdict, comment)


def appeal_finding(engine, account: Account, result_pk: int, rule: str, reason: str) -> int:
    """An agent appeals a failed finding of their own conversation; returns the appeal id."""
    if account.role not in AGENTS:
        raise Forbidden("appeals are made by the agent whose conversation it is")
    if not reason.strip():
        raise ReviewError("申诉需要填写理由")
    return stored.add_appeal(engine, account, result_pk, rule, reason)


def resolve_appeal(engine, account: Account, appeal_id: int, accept: bool, comment: str = "") -> Result:
    """A team lead (own team), inspector or admin accepts (overturns the finding) or rejects an appeal."""
    if account.role not in OVERSEERS:
        raise Forbidden("appeals are resolved by a team lead or an inspector")
    return stored.resolve_appeal(engine, account, appeal_id, accept, comment)


# --- calibration and rule quality ------------------------------------------------------------------


def calibrate(
    engine, account: Account, result_pk: int, rule: str, status: str, round_name: str, comment: str = ""
) -> None:
    """One inspector's blind judgement of one item (pass/fail) in a calibration round; a later one replaces it."""
    if account.role not in INSPECTORS:
        raise Forbidden("only inspectors take part in calibration")
    if status not in ("pass", "fail"):
        raise ReviewError("校准判定只能是通过或未通过")
    if not 0 < len(round_name) <= 100:
        raise ReviewError("轮次名需为 1–100 个字")
    stored.add_judgement(engine, account, result_pk, rule, status, round_name, comment)


@dataclass
class CalibrationReport:
    round: str
    items: list[tuple[str, int, float]]  # rule, items judged by ≥ 2 inspectors, pairwise agreement
    inspectors: list[tuple[str, int, float, float]]  # inspector, judgements, fail rate, agreement with the machine
    overall: float | None


def calibration_report(engine, round_name: str) -> CalibrationReport:
    judged: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
    per_inspector: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for review in stored.judgements(engine, round_name):
        judged[(review.result_pk, review.rule)][review.inspector] = review.verdict
        per_inspector[review.inspector].append((review.verdict, review.machine_status))
    agree: dict[str, list[int]] = defaultdict(list)
    for (_, rule), by in judged.items():
        for a, b in combinations(sorted(by), 2):
            agree[rule].append(int(by[a] == by[b]))
    items = sorted(((rule, len(v), round(sum(v) / len(v), 3)) for rule, v in agree.items()), key=lambda x: x[2])
    everything = [x for v in agree.values() for x in v]
    inspectors = sorted(
        (
            (
                name,
                len(v),
                round(sum(s == "fail" for s, _ in v) / len(v), 3),
                round(sum(s == m for s, m in v) / len(v), 3),
            )
            for name, v in per_inspector.items()
        ),
        key=lambda x: -x[2],
    )
    return CalibrationReport(
        round_name, items, inspectors, round(sum(everything) / len(everything), 3) if everything else None
    )


def rule_precision(engine) -> list[tuple[str, int, int, float]]:
    """(rule, reviewed failed findings, confirmed, precision) — accepted appeals count as overturned."""
    reviewed: dict[str, list[int]] = defaultdict(list)
    for rule, confirmed in stored.precision_judgements(engine):
        reviewed[rule].append(int(confirmed))
    return sorted(
        ((rule, len(v), sum(v), round(sum(v) / len(v), 3)) for rule, v in reviewed.items()), key=lambda x: x[3]
    )
