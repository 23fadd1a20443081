"""Generated conversations with known effects, for the skills-value tests (issue 23).

Planted, within every stratum:
- SA-04 (a reason/time promise) shown lowers the complaint rate by COMPLAINT_EFFECT and raises
  P(satisfied) by SATISFACTION_EFFECT — the effect the statistics must recover;
- EM-02 (soothe first) has no effect, but is shown far more often in long and angry-opening
  conversations, which complain more — the confounder stratification must remove;
- CS-08 and the profile behaviour `explanations` have no effect and no confounding.
Training: the agents DRILLED drill `cracked-teapot-call` between the windows; every agent's score
rises by TREND, the drilled agents' by TRAINING more, and their SA-02 failure rate falls from 0.5 to
0.2 while the others' stays at 0.5.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from zuoxi.model import Conversation, Finding, Result, Satisfaction, TurnEmotion
from zuoxi.store import Store
from zuoxi.store.tables import TrainingAttempt

COMPLAINT_EFFECT = -0.15
SATISFACTION_EFFECT = 0.10
TREND, TRAINING = 3.0, 5.0
AGENTS = {f"A{i:02d}": "售后一组" if i <= 6 else "售后二组" for i in range(1, 13)}
DRILLED = ("A01", "A02", "A03", "A07", "A08")
CASE = "cracked-teapot-call"
BEFORE = (date(2026, 10, 1), date(2026, 11, 10))
DRILL_DAYS = (date(2026, 11, 11), date(2026, 11, 13))
AFTER = (date(2026, 11, 14), date(2026, 12, 24))
NAMES = {
    "SA-04": "主动告知处理时限",
    "EM-02": "先安抚情绪",
    "CS-08": "礼貌结束",
    "SA-02": "拒绝须说明理由",
    "ES-01": "投诉风险",
}


def _finding(rule: str, status: str) -> Finding:
    return Finding(rule=rule, name=NAMES[rule], status=status, severity="minor", points=-5 if status == "fail" else 0)


def generate(
    n: int = 2400, seed: int = 7, training: float = TRAINING, drilled_fail: float = 0.2
) -> list[tuple[Conversation, Result]]:
    rng = np.random.default_rng(seed)
    agents = list(AGENTS)
    start, days = datetime(2026, 10, 1, 2, tzinfo=UTC), (AFTER[1] - BEFORE[0]).days
    items = []
    for i in range(n):
        agent = agents[i % len(agents)]
        at = start + timedelta(days=int(rng.integers(0, days + 1)), hours=int(rng.integers(0, 9)))
        after = at.date() >= AFTER[0]
        long, angry = rng.random() < 0.5, rng.random() < 0.4
        sa04 = rng.random() < (0.25 if agent == "A05" else 0.55)
        em02 = rng.random() < 0.1 + 0.45 * long + 0.35 * angry
        cs08, explained = rng.random() < 0.5, rng.random() < 0.5
        complaint = rng.random() < 0.2 + 0.25 * long + 0.25 * angry + COMPLAINT_EFFECT * sa04
        p_sat = float(np.clip(0.7 - 0.2 * long - 0.25 * angry + SATISFACTION_EFFECT * sa04 + rng.normal(0, 0.08), 0, 1))
        risk = float(np.clip(0.15 + 0.25 * long + 0.3 * angry + rng.normal(0, 0.05), 0, 1))
        drilled = agent in DRILLED
        sa02_fail = rng.random() < (drilled_fail if drilled and after else 0.5)
        score = float(np.clip(75 + TREND * after + training * (drilled and after) + rng.normal(0, 6), 0, 100))
        turns = [{"role": "customer" if t % 2 else "agent", "text": f"第{t}句"} for t in range(12 if long else 4)]
        conversation = Conversation(
            id=f"syn-{i:05d}",
            channel="call",
            agent_id=agent,
            team=AGENTS[agent],
            started_at=at,
            meta={
                "scorecard": "core",
                "topic": "退款" if i % 3 else "物流",
                "csat": int(np.clip(round(1 + 4 * p_sat + rng.normal(0, 0.5)), 1, 5)),
            },
            turns=turns,
        )
        result = Result(
            conversation_id=conversation.id,
            scorecard="core",
            score=round(score, 1),
            max_score=100,
            findings=[
                _finding("SA-04", "pass" if sa04 else "fail"),
                _finding("EM-02", "pass" if em02 else "fail"),
                _finding("CS-08", "pass" if cs08 else "fail"),
                _finding("SA-02", "fail" if sa02_fail else "pass"),
                _finding("ES-01", "fail" if complaint else "pass"),
            ],
            customer_emotion=[TurnEmotion(turn=1, label="angry" if angry else "neutral", score=0.8 if angry else 0.1)],
            satisfaction=Satisfaction(
                label="satisfied" if p_sat > 0.5 else "neutral",
                score=max(p_sat, 1 - p_sat),
                probs={"satisfied": p_sat, "neutral": 1 - p_sat, "dissatisfied": 0.0},
            ),
            complaint_risk=risk,
            skills={"emotion_management": 1.0, "explanations": 0.5 if explained else 0.0},
        )
        items.append((conversation, result))
    return items


def fill(store: Store, n: int = 2400, seed: int = 7, **planted) -> None:
    """Store the generated conversations and results, and the drills of DRILLED (three attempts
    each, improving) plus one agent who drilled long before the windows (to be excluded)."""
    items = generate(n, seed, **planted)
    keys = store.add_conversations((c, "synthetic") for c, _ in items)
    store.save_results(zip(keys, (r for _, r in items)))
    with Session(store.engine) as session, session.begin():
        for k, agent in enumerate(DRILLED):
            for attempt in range(3):
                at = datetime.combine(DRILL_DAYS[0], datetime.min.time(), UTC) + timedelta(
                    days=attempt % 3, hours=3 + k
                )
                session.add(
                    TrainingAttempt(
                        case_id=CASE,
                        trainee=agent,
                        outcome="accepted" if attempt else "escalated",
                        score=60 + 15 * attempt,
                        max_score=100,
                        anger=[],
                        turns=[],
                        failed_rules=[],
                        engine="offline",
                        created_at=at,
                    )
                )
        session.add(
            TrainingAttempt(
                case_id=CASE,
                trainee="A12",
                outcome="accepted",
                score=70,
                max_score=100,
                anger=[],
                turns=[],
                failed_rules=[],
                engine="offline",
                created_at=datetime(2026, 9, 1, tzinfo=UTC),
            )
        )
