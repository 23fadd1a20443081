"""Synthetic conversations and results for the queue tests: what each plan rule should pick, and
which alerts should rise, is known by construction (no analysis runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from zuoxi.model import Conversation, Evidence, Finding, Result, Satisfaction, Turn
from zuoxi.queues.models import Candidate, Period
from zuoxi.store import Store

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 16)
WEEK = Period.containing("weekly", MONDAY, TZ)  # 2026-11-16 … 2026-11-22, 2026-W47
NAMES = {"EM-02": "先安抚情绪", "CS-01": "重复话术", "ES-01": "客户投诉意向", "SA-01": "主动服务", "EM-01": "礼貌用语"}
SECTIONS = {"EM": "emotion_management", "SA": "service_awareness", "CS": "communication", "ES": "escalation"}


@dataclass
class Spec:
    id: str
    agent: str | None = "A1"
    team: str | None = "一组"
    day: date = MONDAY
    score: float = 90
    failed: list[str] = field(default_factory=list)
    veto: bool = False
    satisfaction: str | None = None
    risk: float | None = None
    customer: str = "你好，我想问一下订单"


def conversation(s: Spec) -> Conversation:
    return Conversation(
        id=s.id,
        channel="chat",
        agent_id=s.agent,
        team=s.team,
        started_at=datetime.combine(s.day, time(10, 0), TZ),
        turns=[Turn(role="customer", text=s.customer), Turn(role="agent", text=f"您好，这里是 {s.id}")],
    )


def result(s: Spec) -> Result:
    findings = [
        Finding(
            rule=r,
            name=NAMES.get(r, r),
            status="fail",
            severity="veto" if s.veto else "minor",
            points=-10,
            evidence=[Evidence(turn=0, start=0, end=2, text=s.customer[:2])],
            message="未做到",
            section=SECTIONS[r[:2]],
        )
        for r in s.failed
    ]
    findings += [
        Finding(rule=r, name=NAMES[r], status="pass", severity="minor", points=0, section=SECTIONS[r[:2]])
        for r in ("EM-01", "SA-01")
        if r not in s.failed
    ]
    return Result(
        conversation_id=s.id,
        scorecard="core",
        score=s.score,
        max_score=100,
        veto=s.veto,
        findings=findings,
        satisfaction=Satisfaction(label=s.satisfaction, score=0.5) if s.satisfaction else None,
        complaint_risk=s.risk,
    )


def add(store: Store, *specs: Spec) -> dict[str, str]:
    """Store the conversations and their results; conversation id → key."""
    conversations = [conversation(s) for s in specs]
    keys = store.add_conversations((c, "queues-test") for c in conversations)
    store.save_results(zip(keys, (result(s) for s in specs)))
    return {s.id: key for s, key in zip(specs, keys)}


def candidate(
    pk: int,
    agent: str | None = "A1",
    score: float = 90,
    failed=(),
    veto: bool = False,
    satisfaction: str | None = None,
    risk: float | None = None,
    team: str | None = "一组",
    since: datetime | None = None,
) -> Candidate:
    """A candidate as the store would list it, for the pure selection tests."""
    return Candidate(
        pk,
        f"key{pk:04d}",
        agent,
        team,
        "chat",
        "core",
        datetime.combine(MONDAY, time(10), TZ),
        score,
        veto,
        frozenset(failed),
        risk,
        satisfaction,
        since,
    )
