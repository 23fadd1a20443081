"""What review, appeal and calibration (zuoxi.review) read and write: reviews, appeals and the result
versions they make, in one transaction each with their audit entries; a result's history; the blind
calibration queue and its judgements. Who may do what and the statistics stay in zuoxi.review.

Re-scoring a result from people's decisions lives here too, because storing a re-analysed result
(`Store.save_results`) applies the decisions again. What people write (comments, appeal reasons) is
stored with personal data masked, and refused when over its column's size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zuoxi.model import Result, without_nul
from zuoxi.privacy import mask_text
from zuoxi.rules.engine import get_scorecard
from zuoxi.store import as_utc, result_facts, utc_now
from zuoxi.store.audit import audit
from zuoxi.store.queries import NotFound, result_row_for, scope_clause, scoped
from zuoxi.store.tables import AppealRow, ConversationRow, ResultRow, ResultVersion, ReviewRow, User
from zuoxi.store.users import Account, without_controls

MAX_REASON = 2000  # an appeal's reason (the appeal form's maxlength)


class ReviewError(ValueError):
    pass


def _written(text: str, limit: int, what: str) -> str:
    """What a person wrote, without NUL or other control characters (an escape sequence acts on the terminal that
    lists it), trimmed and masked, refused (not truncated) when over its column's size."""
    text = mask_text(without_controls(without_nul(text)).strip())
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


def add_review(engine, account: Account, result_pk: int, rule: str, verdict: str, comment: str = "") -> Result:
    """A confirm/overturn of one finding (in the account's scope), audited; returns the recomputed current result."""
    with Session(engine) as session, session.begin():
        result, _ = result_row_for(session, account, result_pk, lock=True)
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


def add_appeal(engine, account: Account, result_pk: int, rule: str, reason: str) -> int:
    """An appeal of a failed finding (in the account's scope, none open on it yet), audited; returns its id. The
    result is locked first, so an appeal sent twice at once (a double click) is refused the second time; the unique
    index over open appeals (`OPEN_APPEAL_ONCE`) refuses it where no lock was taken."""
    try:
        with Session(engine) as session, session.begin():
            result, _ = result_row_for(session, account, result_pk, lock=True)
            current = {f["rule"]: f["status"] for f in (result.final_data or result.data)["findings"]}
            if current.get(rule) != "fail":
                raise ReviewError(f"{rule} 在这个会话中没有被判为未通过，不能申诉")
            if _open_appeal(session, result.pk, rule):
                raise ReviewError(f"{rule} 已有待处理的申诉")
            appeal = AppealRow(
                result_pk=result.pk,
                rule=rule,
                reason=_written(reason, MAX_REASON, "申诉理由"),
                status="open",
                agent_user_id=account.id,
                created_at=utc_now(),
            )
            session.add(appeal)
            session.flush()
            audit(session, account, "appeal.open", "appeal", appeal.id, None, {"rule": rule, "reason": appeal.reason})
            return appeal.id
    except IntegrityError:
        with Session(engine) as session:
            if _open_appeal(session, result_pk, rule):
                raise ReviewError(f"{rule} 已有待处理的申诉") from None
        raise


def _open_appeal(session: Session, result_pk: int, rule: str) -> bool:
    query = select(AppealRow.id).where(
        AppealRow.result_pk == result_pk, AppealRow.rule == rule, AppealRow.status == "open"
    )
    return session.scalar(query.limit(1)) is not None


def resolve_appeal(engine, account: Account, appeal_id: int, accept: bool, comment: str = "") -> Result:
    """Accept (overturn the finding) or reject an open appeal in the account's scope, audited; returns
    the current result.

    Whoever resolves an appeal may no longer review that agent's (or, by the plan, that conversation's) work
    (zuoxi.queues.assignment): their open queue items that the rule now covers go, in the same transaction, to
    another inspector as a run would give them, or back to nobody (`hand_on_after_appeal`). The resolution is not
    refused: an appeal has an agent waiting on it, and the items are work not yet done that anyone may finish."""
    from zuoxi.store.queues import hand_on_after_appeal  # here: zuoxi.store imports this module, store.queues it

    with Session(engine) as session, session.begin():
        found = session.get(AppealRow, appeal_id)
        if found is None:
            raise NotFound(f"申诉 {appeal_id}")
        # The result first, locked (reviews and appeals of it take turns), then the appeal, resolved only if still
        # open: resolved twice at once, it was rejected by one and rescored as accepted by the other.
        result, conversation = result_row_for(session, account, found.result_pk, lock=True)
        status = "accepted" if accept else "rejected"
        resolved = session.execute(
            update(AppealRow)
            .where(AppealRow.id == appeal_id, AppealRow.status == "open")
            .values(
                status=status,
                resolver_id=account.id,
                resolution=_written(comment, 2000, "处理意见"),
                resolved_at=utc_now(),
            )
            .execution_options(synchronize_session=False)
        )
        appeal = session.get(AppealRow, appeal_id, populate_existing=True)
        if appeal is None:  # deleted with its conversation meanwhile
            raise NotFound(f"申诉 {appeal_id}")
        if cast(CursorResult[Any], resolved).rowcount != 1:
            raise ReviewError(f"这条申诉已经{'接受' if appeal.status == 'accepted' else '驳回'}，不能再处理")
        audit(
            session,
            account,
            f"appeal.{appeal.status}",
            "appeal",
            appeal.id,
            {"status": "open"},
            {"status": appeal.status, "comment": appeal.resolution},
        )
        hand_on_after_appeal(session, account, conversation.agent_id, conversation.key)
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


@dataclass
class AppealPage:
    items: list[AppealView]
    total: int  # how many there are, counted up to MAX_APPEALS_COUNTED
    exact: bool  # False: there are more than `total`
    next: str | None  # cursor of the following, older page (`after`); None on the last
    prev: str | None  # cursor of the preceding, newer page (`before`); None on the first


APPEALS_PER_PAGE = 50
MAX_APPEALS_PER_PAGE = 200
MAX_APPEALS_COUNTED = 10_000
APPEAL_CURSOR = r"^-?[0-9]{1,16}:[0-9]{1,10}$"  # where an appeals page starts: an appeal's time (µs since 1970) and id
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _appeal_cursor(appeal: AppealView) -> str:
    return f"{(as_utc(appeal.created_at) - _EPOCH) // _MICROSECOND}:{appeal.id}"


def _past(cursor: str, newer: bool) -> ColumnElement[bool]:
    """The appeals after `cursor` in the list's order (newest first), or before it when `newer`. Its time is bound
    in UTC, as the times are stored (SQLite compares them as the text it keeps, without a zone)."""
    if not re.fullmatch(APPEAL_CURSOR, cursor):
        raise ValueError(cursor)
    at, _, appeal_id = cursor.partition(":")
    moment, ident = _EPOCH + int(at) * _MICROSECOND, int(appeal_id)
    if newer:
        return or_(AppealRow.created_at > moment, and_(AppealRow.created_at == moment, AppealRow.id > ident))
    return or_(AppealRow.created_at < moment, and_(AppealRow.created_at == moment, AppealRow.id < ident))


def list_appeals(
    engine,
    account: Account,
    status: str | None = "open",
    after: str | None = None,
    before: str | None = None,
    per_page: int = APPEALS_PER_PAGE,
) -> AppealPage:
    """One page of the appeals (of `status`; all when None) of the conversations the account may see, newest first:
    the page after cursor `after` (or before `before`), chosen and counted in SQL within the account's scope
    (`scope_clause`), then joined to its conversations' ids, without any result's or conversation's JSON.
    Inspectors and admins see every appeal: theirs are chosen from the appeals alone, never by scanning
    conversations (a plan SQLite took for the join when the appeals had no statistics)."""
    per_page = max(1, min(per_page, MAX_APPEALS_PER_PAGE))
    a, c = AppealRow, ConversationRow
    chosen = select(a).where(a.status == status) if status else select(a)
    if (scope := scope_clause(account)) is not None:
        chosen = chosen.join(ResultRow, ResultRow.pk == a.result_pk).join(c, c.key == ResultRow.conversation_key)
        chosen = chosen.where(scope)
    cursor = before or after
    page = (chosen.where(_past(cursor, newer=bool(before))) if cursor else chosen).limit(per_page + 1)
    # from `before` up (then reversed), else down from the newest or `after`
    found = page.order_by(a.created_at, a.id) if before else page.order_by(a.created_at.desc(), a.id.desc())
    p = found.subquery()
    listed = (
        select(p.c.id, p.c.result_pk, c.key, c.id, p.c.rule, p.c.reason, p.c.status, User.username, p.c.resolution)
        .add_columns(p.c.created_at)
        .join(ResultRow, ResultRow.pk == p.c.result_pk)
        .join(c, c.key == ResultRow.conversation_key)
        .join(User, User.id == p.c.agent_user_id)
    )
    with Session(engine) as session:
        rows = session.execute(listed.order_by(p.c.created_at.desc(), p.c.id.desc())).all()
        counted = chosen.with_only_columns(a.id).limit(MAX_APPEALS_COUNTED + 1).subquery()
        total = session.scalar(select(func.count()).select_from(counted)) or 0
    more = len(rows) > per_page
    items = [AppealView(*row) for row in (rows[1:] if before and more else rows[:per_page])]
    newer, older = (more, True) if before else (bool(after), more)
    return AppealPage(
        items,
        min(total, MAX_APPEALS_COUNTED),
        total <= MAX_APPEALS_COUNTED,
        next=_appeal_cursor(items[-1]) if items and older else None,
        prev=_appeal_cursor(items[0]) if items and newer else None,
    )


def history(engine, account: Account, result_pk: int) -> dict:
    """Versions, reviews, appeals of one result (within the account's scope)."""
    with Session(engine) as session:
        result, _ = result_row_for(session, account, result_pk)
        # keyed by int | None: a version's or an appeal's user may be none (the machine's, an open appeal)
        users: dict[int | None, str] = {
            user_id: name for user_id, name in session.execute(select(User.id, User.username))
        }
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


def add_judgement(
    engine, account: Account, result_pk: int, rule: str, status: str, round_name: str, comment: str = ""
) -> None:
    """The account's judgement of one item in a calibration round, audited; it replaces their earlier one."""
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


@dataclass(frozen=True)
class Judgement:
    result_pk: int
    rule: str
    inspector: str  # username
    verdict: str  # pass | fail
    machine_status: str


def judgements(engine, round_name: str) -> list[Judgement]:
    """Every inspector's judgements in a calibration round."""
    with Session(engine) as session:
        return [
            Judgement(review.result_pk, review.rule, username, review.verdict, review.machine_status)
            for review, username in session.execute(
                select(ReviewRow, User.username)
                .join(User, User.id == ReviewRow.reviewer_id)
                .where(ReviewRow.kind == "calibration", ReviewRow.round == round_name)
            )
        ]


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


def precision_judgements(engine) -> list[tuple[str, bool]]:
    """(rule, confirmed) of each reviewed failed finding, then of each resolved appeal (an accepted
    appeal overturned its finding)."""
    with Session(engine) as session:
        reviewed = [
            (r.rule, r.verdict == "confirm")
            for r in session.scalars(
                select(ReviewRow).where(ReviewRow.kind == "review", ReviewRow.machine_status == "fail")
            )
        ]
        appealed = [
            (a.rule, a.status == "rejected")
            for a in session.scalars(select(AppealRow).where(AppealRow.status.in_(("accepted", "rejected"))))
        ]
    return reviewed + appealed
