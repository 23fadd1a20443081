"""Review (复核), appeal (申诉) and calibration: people correcting the machine, and the machine's
rules learning from it.

- An inspector confirms or overturns a finding; the score is recomputed by the same engine
  (`CompiledScorecard.rescore`) and every version is kept (`result_versions`).
- An agent appeals a failed finding of their own conversation with a reason; a team lead (own
  team) or an inspector accepts it (the finding is overturned) or rejects it.
- Calibration: several inspectors judge the same findings blind (they see the transcript, not the
  machine's or each other's verdicts); agreement per rule and each inspector's strictness follow.
- Rule precision: confirmed ÷ reviewed failed findings, per rule, so a noisy rule is visible.

Every change writes an audit entry: who, when, what, before and after. What people write
(comments, appeal reasons) is stored with personal data masked, like the conversations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zuoxi.model import Result
from zuoxi.privacy import mask_text
from zuoxi.rules.engine import get_scorecard
from zuoxi.store import as_utc, result_facts, utc_now
from zuoxi.store.audit import audit
from zuoxi.store.queries import Forbidden, NotFound, result_row_for
from zuoxi.store.tables import AppealRow, ResultRow, ResultVersion, ReviewRow, User
from zuoxi.store.users import AGENTS, INSPECTORS, OVERSEERS, Account

VERDICTS = ("confirm", "overturn")


class ReviewError(ValueError):
    pass


def _written(text: str, limit: int, what: str) -> str:
    """What a person wrote, trimmed and masked, refused (not truncated) when over its column's size."""
    text = mask_text(text.strip())
    if len(text) > limit:
        raise ReviewError(f"{what}最多 {limit} 个字")
    return text


def _machine_status(result: ResultRow, rule: str) -> str:
    for finding in result.data["findings"]:
        if finding["rule"] == rule:
            return finding["status"]
    raise NotFound(f"评分结果中没有规则 {rule}")


def _flip(status: str) -> str:
    return "pass" if status == "fail" else "fail"


def decisions(session: Session, result: ResultRow) -> dict[str, str]:
    """Each rule's status as people decided it, latest decision first-class: reviews and resolved appeals."""
    events = []
    for r in session.scalars(select(ReviewRow).where(ReviewRow.result_pk == result.pk, ReviewRow.kind == "review")):
        events.append(
            (r.created_at, r.id, r.rule, r.machine_status if r.verdict == "confirm" else _flip(r.machine_status))
        )
    for a in session.scalars(select(AppealRow).where(AppealRow.result_pk == result.pk, AppealRow.status == "accepted")):
        # resolving sets status and resolved_at together; created_at only stands in for a row edited by hand
        events.append((a.resolved_at or a.created_at, a.id, a.rule, "pass"))
    decided: dict[str, str] = {}
    for _, _, rule, status in sorted(events, key=lambda e: (as_utc(e[0]), e[1])):
        decided[rule] = status
    return decided


def _apply(session: Session, account: Account, result: ResultRow, reason: str) -> Result:
    """Recompute the current version from the machine result and every decision; keep the version."""
    machine = Result.model_validate(result.data)
    before = {"score": result.final_score, "failed": (result.failed_rules or "").split()}
    current = get_scorecard(result.scorecard).rescore(machine, decisions(session, result))
    for name, value in result_facts(current).items():
        setattr(result, name, value)
    result.reviewed = True
    last = session.scalar(select(func.max(ResultVersion.version)).where(ResultVersion.result_pk == result.pk))
    if last is None:
        session.add(
            ResultVersion(
                result_pk=result.pk,
                version=0,
                score=machine.score,
                data=result.data,
                reason="machine",
                user_id=None,
                created_at=result.analyzed_at,
            )
        )
        last = 0
    session.add(
        ResultVersion(
            result_pk=result.pk,
            version=last + 1,
            score=current.score,
            data=current.model_dump(mode="json"),
            reason=reason,
            user_id=account.id,
            created_at=utc_now(),
        )
    )
    audit(
        session,
        account,
        "rescore",
        "result",
        result.pk,
        before,
        {"score": current.score, "failed": [f.rule for f in current.findings if f.status == "fail"]},
    )
    return current


def reapply_decisions(session: Session, result: ResultRow) -> None:
    """After re-analysis: the current version is the new machine result with people's decisions on top."""
    decided = decisions(session, result)
    if not decided:
        return
    current = get_scorecard(result.scorecard).rescore(Result.model_validate(result.data), decided)
    for name, value in result_facts(current).items():
        setattr(result, name, value)
    result.reviewed = True


def review_finding(engine, account: Account, result_pk: int, rule: str, verdict: str, comment: str = "") -> Result:
    """An inspector's confirm/overturn of one finding; returns the recomputed current result."""
    if account.role not in INSPECTORS:
        raise Forbidden("only inspectors review findings")
    if verdict not in VERDICTS:
        raise ReviewError("复核结论只能是确认或改判")
    with Session(engine) as session, session.begin():
        result, _ = result_row_for(session, account, result_pk)
        machine = _machine_status(result, rule)
        if machine == "n/a":
            raise ReviewError(f"{rule} 不适用于这个会话，无需复核")
        review = ReviewRow(
            result_pk=result.pk,
            rule=rule,
            machine_status=machine,
            verdict=verdict,
            comment=_written(comment, 2000, "复核意见"),
            kind="review",
            reviewer_id=account.id,
            created_at=utc_now(),
        )
        session.add(review)
        session.flush()
        audit(
            session,
            account,
            f"review.{verdict}",
            "finding",
            f"{result.pk}/{rule}",
            {"status": machine},
            {"status": machine if verdict == "confirm" else _flip(machine), "comment": review.comment},
        )
        return _apply(session, account, result, f"review {rule}: {verdict}")


def appeal_finding(engine, account: Account, result_pk: int, rule: str, reason: str) -> int:
    """An agent appeals a failed finding of their own conversation; returns the appeal id."""
    if account.role not in AGENTS:
        raise Forbidden("appeals are made by the agent whose conversation it is")
    if not reason.strip():
        raise ReviewError("申诉需要填写理由")
    with Session(engine) as session, session.begin():
        result, _ = result_row_for(session, account, result_pk)
        current = {f["rule"]: f["status"] for f in (result.final_data or result.data)["findings"]}
        if current.get(rule) != "fail":
            raise ReviewError(f"{rule} 在这个会话中没有被判为未通过，不能申诉")
        if session.scalar(
            select(AppealRow).where(
                AppealRow.result_pk == result.pk, AppealRow.rule == rule, AppealRow.status == "open"
            )
        ):
            raise ReviewError(f"{rule} 已有待处理的申诉")
        appeal = AppealRow(
            result_pk=result.pk,
            rule=rule,
            reason=_written(reason, 2000, "申诉理由"),
            status="open",
            agent_user_id=account.id,
            created_at=utc_now(),
        )
        session.add(appeal)
        session.flush()
        audit(session, account, "appeal.open", "appeal", appeal.id, None, {"rule": rule, "reason": appeal.reason})
        return appeal.id


def resolve_appeal(engine, account: Account, appeal_id: int, accept: bool, comment: str = "") -> Result:
    """A team lead (own team), inspector or admin accepts (overturns the finding) or rejects an appeal."""
    if account.role not in OVERSEERS:
        raise Forbidden("appeals are resolved by a team lead or an inspector")
    with Session(engine) as session, session.begin():
        appeal = session.get(AppealRow, appeal_id)
        if appeal is None:
            raise NotFound(f"申诉 {appeal_id}")
        result, _ = result_row_for(session, account, appeal.result_pk)
        if appeal.status != "open":
            raise ReviewError(f"这条申诉已经{'接受' if appeal.status == 'accepted' else '驳回'}，不能再处理")
        appeal.status = "accepted" if accept else "rejected"
        appeal.resolver_id, appeal.resolution, appeal.resolved_at = (
            account.id,
            _written(comment, 2000, "处理意见"),
            utc_now(),
        )
        audit(
            session,
            account,
            f"appeal.{appeal.status}",
            "appeal",
            appeal.id,
            {"status": "open"},
            {"status": appeal.status, "comment": appeal.resolution},
        )
        if accept:
            return _apply(session, account, result, f"appeal {appeal.rule}: accepted")
        return Result.model_validate(result.final_data or result.data)


@dataclass
class AppealView:
    id: int
    result_pk: int
    conversation_key: str
    conversation_id: str
    rule: str
    reason: str
    status: str
    agent: str
    resolution: str | None
    created_at: datetime


def list_appeals(engine, account: Account, status: str | None = "open") -> list[AppealView]:
    from zuoxi.store.queries import may_see
    from zuoxi.store.tables import ConversationRow

    query = (
        select(AppealRow, ResultRow, ConversationRow, User.username)
        .join(ResultRow, ResultRow.pk == AppealRow.result_pk)
        .join(ConversationRow, ConversationRow.key == ResultRow.conversation_key)
        .join(User, User.id == AppealRow.agent_user_id)
        .order_by(AppealRow.created_at.desc())
    )
    if status:
        query = query.where(AppealRow.status == status)
    with Session(engine) as session:
        return [
            AppealView(a.id, a.result_pk, c.key, c.id, a.rule, a.reason, a.status, username, a.resolution, a.created_at)
            for a, _, c, username in session.execute(query)
            if may_see(account, c)
        ]


def history(engine, account: Account, result_pk: int) -> dict:
    """Versions, reviews, appeals of one result (within the account's scope)."""
    with Session(engine) as session:
        result, _ = result_row_for(session, account, result_pk)
        # keyed by int | None: a version's or an appeal's user may be none (the machine's, an open appeal)
        users: dict[int | None, str] = dict(session.execute(select(User.id, User.username)).tuples().all())
        versions = session.scalars(
            select(ResultVersion).where(ResultVersion.result_pk == result.pk).order_by(ResultVersion.version)
        ).all()
        reviews = session.scalars(
            select(ReviewRow)
            .where(ReviewRow.result_pk == result.pk, ReviewRow.kind == "review")
            .order_by(ReviewRow.created_at)
        ).all()
        appeals = session.scalars(
            select(AppealRow).where(AppealRow.result_pk == result.pk).order_by(AppealRow.created_at)
        ).all()
        return {
            "versions": [
                {
                    "version": v.version,
                    "score": v.score,
                    "reason": v.reason,
                    "by": users.get(v.user_id),
                    "at": v.created_at.isoformat(),
                }
                for v in versions
            ],
            "reviews": [
                {
                    "rule": r.rule,
                    "machine_status": r.machine_status,
                    "verdict": r.verdict,
                    "comment": r.comment,
                    "by": users.get(r.reviewer_id),
                    "at": r.created_at.isoformat(),
                }
                for r in reviews
            ],
            "appeals": [
                {
                    "id": a.id,
                    "rule": a.rule,
                    "reason": a.reason,
                    "status": a.status,
                    "resolution": a.resolution,
                    "by": users.get(a.agent_user_id),
                    "resolved_by": users.get(a.resolver_id),
                    "at": a.created_at.isoformat(),
                }
                for a in appeals
            ],
        }


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
    with Session(engine) as session, session.begin():
        result, _ = result_row_for(session, account, result_pk)
        machine = _machine_status(result, rule)
        for old in session.scalars(
            select(ReviewRow).where(
                ReviewRow.result_pk == result.pk,
                ReviewRow.rule == rule,
                ReviewRow.kind == "calibration",
                ReviewRow.round == round_name,
                ReviewRow.reviewer_id == account.id,
            )
        ):
            session.delete(old)
        session.add(
            ReviewRow(
                result_pk=result.pk,
                rule=rule,
                machine_status=machine,
                verdict=status,
                comment=_written(comment, 2000, "意见"),
                kind="calibration",
                round=round_name,
                reviewer_id=account.id,
                created_at=utc_now(),
            )
        )
        audit(
            session,
            account,
            "calibration",
            "finding",
            f"{result.pk}/{rule}",
            None,
            {"round": round_name, "status": status},
        )


@dataclass
class CalibrationReport:
    round: str
    items: list[tuple[str, int, float]]  # rule, items judged by ≥ 2 inspectors, pairwise agreement
    inspectors: list[tuple[str, int, float, float]]  # inspector, judgements, fail rate, agreement with the machine
    overall: float | None


def calibration_report(engine, round_name: str) -> CalibrationReport:
    with Session(engine) as session:
        rows = session.execute(
            select(ReviewRow, User.username)
            .join(User, User.id == ReviewRow.reviewer_id)
            .where(ReviewRow.kind == "calibration", ReviewRow.round == round_name)
        ).all()
    judged: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
    per_inspector: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for review, username in rows:
        judged[(review.result_pk, review.rule)][username] = review.verdict
        per_inspector[username].append((review.verdict, review.machine_status))
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


@dataclass
class QueuedConversation:
    """A conversation as the blind queue shows it: what identifies it, nothing of its scores."""

    key: str
    id: str
    channel: str
    team: str | None
    agent_id: str | None
    started_at: datetime | None


def calibration_queue(engine, account: Account, round_name: str, pick: int = 20) -> dict[str, list[QueuedConversation]]:
    """A round's blind queue for one inspector: `todo`, conversations others judged in the round and
    they have not; `done`, those they judged; `more`, recent conversations not yet in the round,
    to add. No score or verdict is part of it, so the queue cannot prime the judging."""
    from zuoxi.store.queries import scoped
    from zuoxi.store.tables import ConversationRow

    with Session(engine) as session:
        judged = session.execute(
            select(ResultRow.conversation_key, ReviewRow.reviewer_id)
            .join(ResultRow, ResultRow.pk == ReviewRow.result_pk)
            .where(ReviewRow.kind == "calibration", ReviewRow.round == round_name)
        ).all()
        mine = {key for key, reviewer in judged if reviewer == account.id}
        others = {key for key, _ in judged} - mine
        columns = (
            ConversationRow.key,
            ConversationRow.id,
            ConversationRow.channel,
            ConversationRow.team,
            ConversationRow.agent_id,
            ConversationRow.started_at,
        )

        def listed(keys=None, limit=None) -> list[QueuedConversation]:
            query = scoped(select(*columns), account)
            query = (
                query.where(ConversationRow.key.in_(keys))
                if keys is not None
                else query.where(
                    ConversationRow.key.not_in(mine | others),
                    ConversationRow.key.in_(select(ResultRow.conversation_key)),
                )
            )
            rows = session.execute(
                query.order_by(ConversationRow.started_at.desc(), ConversationRow.key).limit(limit)
            ).all()
            return [QueuedConversation(*row) for row in rows]

        return {"todo": listed(others), "done": listed(mine), "more": listed(limit=pick)}


def my_judgements(engine, account: Account, round_name: str, result_pks: list[int]) -> dict[str, str]:
    """This inspector's own judgements in the round, as "result pk:rule" → pass/fail (to show their
    earlier choices; never anyone else's)."""
    with Session(engine) as session:
        rows = session.scalars(
            select(ReviewRow).where(
                ReviewRow.kind == "calibration",
                ReviewRow.round == round_name,
                ReviewRow.reviewer_id == account.id,
                ReviewRow.result_pk.in_(result_pks),
            )
        )
        return {f"{r.result_pk}:{r.rule}": r.verdict for r in rows}


def calibration_rounds(engine) -> list[str]:
    with Session(engine) as session:
        return sorted(
            r for r in session.scalars(select(ReviewRow.round).where(ReviewRow.kind == "calibration").distinct()) if r
        )


def rule_precision(engine) -> list[tuple[str, int, int, float]]:
    """(rule, reviewed failed findings, confirmed, precision) — accepted appeals count as overturned."""
    reviewed: dict[str, list[int]] = defaultdict(list)
    with Session(engine) as session:
        for r in session.scalars(
            select(ReviewRow).where(ReviewRow.kind == "review", ReviewRow.machine_status == "fail")
        ):
            reviewed[r.rule].append(int(r.verdict == "confirm"))
        for a in session.scalars(select(AppealRow).where(AppealRow.status.in_(("accepted", "rejected")))):
            reviewed[a.rule].append(int(a.status == "rejected"))
    return sorted(
        ((rule, len(v), sum(v), round(sum(v) / len(v), 3)) for rule, v in reviewed.items()), key=lambda x: x[3]
    )
