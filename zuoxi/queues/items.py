"""Working a queue item: finishing it after the usual confirm/overturn of its findings, skipping it
with a reason, handing it to another inspector under the plan's rules. Every change is audited
(store); what people write is masked like every other comment."""

from __future__ import annotations

from datetime import date, timedelta

from zuoxi.privacy import mask_text
from zuoxi.queues.assignment import Policy
from zuoxi.queues.models import ItemState, QueueItem
from zuoxi.review import ReviewError
from zuoxi.store import queues as Q
from zuoxi.store.queries import Forbidden
from zuoxi.store.users import ADMINS, Account

# Why an item is skipped, as the pages and the CLI offer it.
SKIP_REASONS = {
    "unreadable": "无法复核（文本或录音缺失）",
    "duplicate": "重复会话",
    "conflict": "需要回避",
    "out_of_scope": "不属于抽检范围",
    "other": "其他（请写明）",
}
STATUS_NAMES = {"open": "待复核", "done": "已完成", "skipped": "已跳过"}


class QueueError(ReviewError):
    """A queue action refused, in Chinese (the web app answers 400 with it, as for reviews)."""


def _open(item: ItemState) -> None:
    if item.status != "open":
        raise QueueError(f"这条复核任务{STATUS_NAMES.get(item.status, item.status)}，不能再处理")


def _own_or_overseer(account: Account, item: ItemState) -> None:
    """The assignee, an admin, or the team lead of the item's team (scope checked by the store)."""
    if item.assignee_id != account.id and account.role not in ADMINS and account.role != "team_lead":
        raise Forbidden("只有被分配的质检员、班长或管理员能处理这条复核任务")


def complete(engine, account: Account, item_id: int) -> None:
    """Finish an item: every finding the machine failed must have been confirmed or overturned, so
    that a sampled conversation measures every rule it hit, not the ones the reviewer chose."""
    item = Q.item_state(engine, account, item_id)
    _open(item)
    if item.assignee_id != account.id and account.role not in ADMINS:
        raise Forbidden("只有被分配的质检员能完成这条复核任务")
    missing = Q.unreviewed_failures(engine, item.result_pk)
    if missing:
        raise QueueError(f"还有 {len(missing)} 条未通过的质检项没有复核（确认或改判）：{'、'.join(missing)}")
    if not Q.close_item(engine, account, item_id, "done"):
        raise QueueError("这条复核任务已经处理过了")


def skip(engine, account: Account, item_id: int, reason: str, comment: str = "") -> None:
    item = Q.item_state(engine, account, item_id)
    _open(item)
    _own_or_overseer(account, item)
    if reason not in SKIP_REASONS:
        raise QueueError("请选择跳过原因")
    comment = mask_text(comment.strip())
    if len(comment) > 500:
        raise QueueError("说明最多 500 个字")
    if reason == "other" and not comment:
        raise QueueError("选择“其他”时请写明跳过原因")
    if not Q.close_item(engine, account, item_id, "skipped", reason, comment or None):
        raise QueueError("这条复核任务已经处理过了")


def reassign(engine, account: Account, item_id: int, username: str, today: date) -> None:
    """Give an open item to another inspector, whom the plan's rules must allow (own team, appeals)."""
    item = Q.item_state(engine, account, item_id)
    _open(item)
    _own_or_overseer(account, item)
    inspector = Q.inspector_named(engine, username.strip())
    if inspector is None:
        raise QueueError(f"没有这个质检员（或已停用）：{username.strip()[:100]}")
    _, spec = Q.get_plan(engine, item.plan)
    by = spec.assignment.avoid_appeal_handlers
    key = item.agent_id if by == "agent" else item.conversation_key
    policy = Policy(spec.assignment.exclude_own_team, by, Q.appeal_handlers(engine, by, [key] if key else []))
    refusal = policy.refusal(inspector, item.agent_id, item.team, item.conversation_key)
    if refusal:
        raise QueueError(f"不能分配给 {inspector.username}：{refusal}")
    due = today + timedelta(days=spec.assignment.due_days) if item.assignee_id is None else None
    if not Q.reassign_item(engine, account, item_id, inspector, due):
        raise QueueError("这条复核任务已经处理过了")


def tasks_for(engine, account: Account, result_pks: list[int], today: date) -> list[tuple[QueueItem, list[str]]]:
    """The account's open items on these results (a conversation page), each with the failed
    findings still to confirm or overturn before it can be finished."""
    return [
        (item, Q.unreviewed_failures(engine, item.result_pk))
        for item in Q.my_open_items(engine, account, result_pks, today)
    ]
