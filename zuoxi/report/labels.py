"""The Chinese names of stored codes, one definition for every place a person reads them: the web pages
(`zuoxi.web.display`, `zuoxi.web.pages`), the HTML report and the exports. Stored values stay codes; only
what is shown is translated. Here, in the reports' layer, as the web app (a layer up) may import it and the
reports may not import the web app."""

from __future__ import annotations

import re
from typing import Any

SKILL_NAMES = {
    "emotion_management": "情绪管理",
    "service_awareness": "服务意识",
    "communication": "沟通技巧",
    "anticipating_needs": "预见需求",
    "explanations": "解释与理由",
    "educating": "教育客户",
    "emotional_support": "情感支持",
    "personal_touch": "个性化互动",
    "beyond_script": "超越话术",
    "caring_question": "关怀提问",
    "clarifying_questions": "澄清提问",
    "closing_check": "结束确认",
}
ROLE_NAMES = {"agent": "坐席", "customer": "客户", "system": "系统"}  # who says a turn
# A web app user's role (`zuoxi user`, `serve --demo`, the web pages).
ROLE_TITLES = {"admin": "管理员", "inspector": "质检员", "team_lead": "班长", "agent": "坐席"}
SATISFACTION_NAMES = {"satisfied": "满意", "neutral": "一般", "dissatisfied": "不满意"}
EMOTION_NAMES = {"angry": "愤怒", "anxious": "焦急", "sad": "失落", "neutral": "平静", "positive": "积极"}
CHANNEL_NAMES = {"chat": "在线", "call": "通话"}
SEGMENT_NAMES = {"age_band": "年龄段", "region": "地区", "occupation": "职业"}  # a campaign customer's segments
STATUS_NAMES = {"fail": "未通过", "pass": "通过", "n/a": "不适用"}
SEVERITY_NAMES = {"minor": "轻微", "major": "严重", "veto": "一票否决"}  # a scorecard item's `severity`
YES_NO = {True: "是", False: "否"}
DRILL_OUTCOMES = {
    "accepted": "解决",
    "accepted_alternative": "替代方案",
    "escalated": "升级投诉",
    "gave_up": "客户放弃",
}
# What the skill-effects comparison says of a behaviour (zuoxi/effects): its pages and `zuoxi effects` alike.
EFFECT_VERDICTS = {
    "better": "做到时结果更好",
    "worse": "做到时结果更差",
    "unclear": "无明确关联",
    "too_few": "样本不足",
}


def named(names: dict, code):
    """The Chinese name of a code; a code without one (a newer value, None) as it is."""
    return names.get(code, code)


# Embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): in a value a file or a user set, an override
# reversed everything after it on the line (坐席 abc\u202egpj.exe read 坐席 abcexe.jpg, and the report's own words
# after it backwards). Pages and reports show the value without them: the characters as stored, in their order.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def without_bidi_controls(value: Any) -> Any:
    """A value as a page or report prints it (the templates' `finalize`): text without bidi controls."""
    if isinstance(value, str):
        for char in set(_BIDI_CONTROLS.findall(value)):
            value = value.replace(char, "")  # Markup's replace keeps it Markup: only characters go
    return value
