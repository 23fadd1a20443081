"""How values read on the pages: Chinese labels for codes, local time, rounded numbers.
Registered as template filters and globals in `pages.py`; stored values stay codes and UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from jinja2 import pass_context

# the names the exports and the HTML report use too: defined once, in the reports' layer
from zuoxi.report.labels import CHANNEL_NAMES, SEVERITY_NAMES, STATUS_NAMES  # noqa: F401 (used by pages.py)

ROLE_TITLES = {"admin": "管理员", "inspector": "质检员", "team_lead": "班长", "agent": "坐席"}
APPEAL_STATUS = {"open": "待处理", "accepted": "已接受", "rejected": "已驳回"}
VERDICT_NAMES = {"confirm": "确认", "overturn": "改判", "accepted": "申诉成立", "rejected": "申诉驳回"}
SEGMENT_NAMES = {"age_band": "年龄段", "region": "地区", "occupation": "职业"}
OUTCOME_NAMES = {"accepted": "解决", "accepted_alternative": "替代方案", "escalated": "升级投诉", "gave_up": "客户放弃"}
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
}
_VERSION = re.compile(r"^(review|appeal) (\S+): (\w+)$")


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
