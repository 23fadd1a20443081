"""How values read on the pages: Chinese labels for codes, local time, rounded numbers.
Registered as template filters and globals in `pages.py`; stored values stay codes and UTC."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from jinja2 import pass_context

from zuoxi.queues.items import SKIP_REASONS
from zuoxi.queues.items import STATUS_NAMES as QUEUE_STATUS

# the names the exports and the HTML report use too: defined once, in the reports' layer
from zuoxi.report.labels import (  # noqa: F401 (pages.py reads them here)
    CHANNEL_NAMES,
    DRILL_OUTCOMES,
    ROLE_TITLES,
    SEGMENT_NAMES,
    SEVERITY_NAMES,
    STATUS_NAMES,
)

APPEAL_STATUS = {"open": "待处理", "accepted": "已接受", "rejected": "已驳回"}
VERDICT_NAMES = {"confirm": "确认", "overturn": "改判", "accepted": "申诉成立", "rejected": "申诉驳回"}
OUTCOME_NAMES = DRILL_OUTCOMES
AUDIT_ACTIONS = {
    "review.confirm": "复核：确认",
    "review.overturn": "复核：改判",
    "rescore": "重新计分",
    "appeal.open": "提出申诉",
    "appeal.accepted": "申诉成立",
    "appeal.rejected": "申诉驳回",
    "calibration": "校准评判",
    "scorecard.save": "保存评分表",
    "user.add": "添加用户",
    "user.update": "修改用户",
    "user.password": "重置密码",
    "reveal_phone": "查看外呼号码",
    "reveal_phone_refused": "查看外呼号码（被拒）",
    "campaign.assign": "分配外呼客户",
    "db.remask": "重新打码",
    "conversation.delete": "删除会话",
    "conversation.readmit": "允许再次存入已删除的会话",
}  # the queues' actions are named by zuoxi.web.queues
# What an audit entry's object and the keys of its before/after are called; unknown ones show as stored.
AUDIT_ENTITIES = {
    "result": "评分结果",
    "finding": "质检项",
    "appeal": "申诉",
    "scorecard": "评分表",
    "user": "用户",
    "campaign_customer": "外呼客户",
    "campaign": "外呼活动",
    "sampling_run": "抽检批次",
    "sampling_plan": "抽检计划",
    "queue_item": "复核任务",
    "alert_settings": "预警设置",
    "complaint_alert": "投诉预警",
    "webhook": "推送地址",
    "alert_deliveries": "预警推送",
    "database": "数据库",
    "conversation": "会话",
}
AUDIT_KEYS = {
    "status": "状态",
    "command": "命令行",
    "by": "方式",
    "comment": "备注",
    "score": "得分",
    "failed": "未通过",
    "rule": "规则",
    "reason": "原因",
    "round": "校准轮次",
    "period": "周期",
    "seed": "随机种子",
    "considered": "候选会话数",
    "sampled": "抽中数",
    "assignee_id": "复核人编号",
    "assignee": "复核人",
    "name": "名称",
    "team": "班组",
    "template": "消息模板",
    "active": "启用",
    "deliveries": "重发条数",
    "note": "处理说明",
    "risk": "投诉风险阈值",
    "rules": "规则",
    "max_age_hours": "时限（小时）",
    "campaign": "外呼活动",
    "agent_id": "坐席工号",
    "role": "角色",
    "username": "用户名",
    "display_name": "姓名",
    "changed": "已改",
    "refused": "未能处理",
    "stats_rebuilt": "重建统计",
    "yaml": "内容",
    # a deleted conversation (conversation.delete): what went with it, and what was kept unlinked
    "conversation_id": "会话编号",
    "source": "来源",
    "started_at": "开始时间",
    "scorecards": "质检结果（评分表）",
    "reviews": "复核与校准",
    "appeals": "申诉",
    "result_versions": "评分版本",
    "queue_items": "复核任务",
    "alerts": "投诉预警",
    "alert_deliveries": "预警推送",
    "alert_delivery_attempts": "推送日志",
    "campaign_attempts": "外呼记录（保留，不再关联）",
    "training_cases": "培训案例（保留，不再关联）",
    "deleted_by": "删除人（命令行登录名）",
    "readmitted_by": "操作人（命令行登录名）",
}
_TOP_LEVEL = re.compile(r"^(id|name):[ \t]*(.*?)(?:[ \t]+#.*)?$", re.M)
_VERSION = re.compile(r"^(review|appeal) (\S+): (\w+)$")


def yaml_summary(text: str) -> str:
    """A scorecard's or a plan's YAML as the audit log shows it: its id and name, and how long it is (`id weekly ·
    名称 每周抽检 · 共 32 行`), not the whole text with its comments."""
    found = {key: value.strip().strip("'\"") for key, value in _TOP_LEVEL.findall(text)}
    parts = [f"id {found['id']}"] if found.get("id") else []
    parts += [f"名称 {found['name']}"] if found.get("name") else []
    return " · ".join([*parts, f"共 {len(text.splitlines())} 行"])


def _audit_value(entity: str, key: str, value) -> str:
    if key == "yaml" and isinstance(value, str):
        return yaml_summary(value)
    if key == "status" and isinstance(value, str):
        names = {"appeal": APPEAL_STATUS, "queue_item": QUEUE_STATUS}.get(entity, STATUS_NAMES)
        return names.get(value, value)
    if key == "reason" and entity == "queue_item" and isinstance(value, str):
        return SKIP_REASONS.get(value, value)
    if key == "role" and isinstance(value, str):
        return ROLE_TITLES.get(value, value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return number(value, 2)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return "、".join(str(v) for v in value) or "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def audit_lines(entity: str, details) -> list[tuple[str, str]]:
    """An audit entry's before or after as (name, value) lines in Chinese: known keys and codes named, a YAML
    text summarized (`yaml_summary`), unknown keys as stored. The page escapes both; the stored entry is unchanged."""
    if details is None:
        return []
    if not isinstance(details, dict):
        return [("", json.dumps(details, ensure_ascii=False, sort_keys=True))]
    return [(AUDIT_KEYS.get(str(key), str(key)), _audit_value(entity, key, value)) for key, value in details.items()]


def version_reason(reason: str) -> str:
    """A stored version reason ("machine", "review EM-01: confirm", "appeal EM-02: accepted") in Chinese."""
    if reason == "machine":
        return "机器评分"
    found = _VERSION.match(reason)
    if not found:
        return reason
    kind, rule, verdict = found.groups()
    return f"{'复核' if kind == 'review' else '申诉'} {rule}：{VERDICT_NAMES.get(verdict, verdict)}"


@pass_context
def local_time(context, moment: datetime | str | None, with_time: bool = True) -> str:
    """`2026-12-05 14:03` in the app's time zone (`tz` in the page context); naive values are UTC,
    which is how the store keeps them."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    zone: ZoneInfo = context.get("tz") or ZoneInfo("Asia/Shanghai")
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)
    return moment.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def number(value, digits: int = 1) -> str:
    """At most `digits` decimals, none when whole: 7.290645 → 7.3, 80.0 → 80; None → —."""
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(value, digits: int = 0) -> str:
    """A 0–1 share as a percentage: 0.4567 → 46%; None → —."""
    return "—" if value is None else f"{number(value * 100, digits)}%"
