"""A generated card-activation campaign (seed 001) with realistic outcomes, for `make run` and the docs.

Seeded and deterministic: the same seed gives the same list, calls, transcripts and report. The
list goes through the real import (with a few bad rows), the calls through `record_attempts`, and
the recorded calls through the `outbound` scorecard, so every figure of the report is computed by
the same code as for a real campaign. How a call goes (a clear introduction, the three questions,
handling a fraud suspicion) changes its odds here; the OB-item analysis should find that again.
"""

from __future__ import annotations

import csv
import io
import os
import random
import secrets
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path

import jinja2
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from zuoxi.campaigns.assign import assign
from zuoxi.campaigns.calllist import ListImport, import_call_list
from zuoxi.campaigns.campaign import create_campaign, load_spec
from zuoxi.campaigns.dispositions import campaign_call, record_attempts
from zuoxi.campaigns.models import LOCAL_TZ, Attempt, CampaignSpec, Customer
from zuoxi.campaigns.vault import SECRET_ENV
from zuoxi.model import Conversation, Role, Turn
from zuoxi.store import Store
from zuoxi.store.campaigns import campaign_customers

NAME = "card_activation_demo"
_JINJA = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


@cache
def _config() -> dict:
    return yaml.safe_load(resources.files("zuoxi.campaigns").joinpath("data/demo.yaml").read_text(encoding="utf-8"))


@cache
def _template(text: str) -> jinja2.Template:
    return _JINJA.from_string(text)


@dataclass
class DemoSummary:
    campaign: str
    list_import: ListImport
    attempts: int
    recorded: int


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _luhn_card(rng: random.Random) -> str:
    digits = [6, 2, 2, 7] + [rng.randrange(10) for _ in range(11)]
    total = sum(d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def call_list_csv(rng: random.Random, customers: int) -> bytes:
    """The bank's export: UTF-8 CSV with a few bad rows (no phone, a duplicate, a GBK line)."""
    cfg = _config()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["客户号", "姓名", "性别", "手机号", "卡号", "网点", "地区", "年龄", "职业"])
    regions = {name: share for name, (share, _) in cfg["regions"].items()}
    phones = rng.sample(range(10**8), customers)
    rows = []
    for i in range(customers):
        region = _pick(rng, regions)
        low, high, _ = rng.choices(cfg["ages"], weights=[a[2] for a in cfg["ages"]])[0]
        rows.append(
            [
                f"C{i + 1:06d}",
                rng.choice(cfg["surnames"]) + rng.choice(cfg["given"]),
                rng.choice("男女"),
                f"13{rng.randrange(5, 10)}{phones[i]:08d}",
                _luhn_card(rng),
                cfg["branches"][region],
                region,
                rng.randint(low, high),
                _pick(rng, cfg["occupations"]),
            ]
        )
    for row in rng.sample(rows, max(1, customers // 500)):
        row[3] = ""  # missing phone
    rows += [list(row) for row in rng.sample(rows, max(1, customers // 400))]  # exported twice
    writer.writerows(rows)
    gbk_row = ["C999999", "郑晓燕", "女", "13900000000", _luhn_card(rng), "潮州湘桥支行", "潮州", "45", "教师"]
    return buffer.getvalue().encode("utf-8") + ",".join(gbk_row).encode("gbk") + b"\n"


class _Calendar:
    """One agent's working time: calls on working days 08:30–17:30 China time."""

    def __init__(self, start: date):
        self.now = datetime.combine(start, time(8, 30), LOCAL_TZ)

    def take(self, seconds: float) -> datetime:
        if self.now.time() >= time(17, 30):
            day = self.now.date() + timedelta(days=1)
            while day.weekday() >= 5:
                day += timedelta(days=1)
            self.now = datetime.combine(day, time(8, 30), LOCAL_TZ)
        started = self.now
        self.now += timedelta(seconds=seconds)
        return started


def _transcript(
    rng: random.Random,
    spec: CampaignSpec,
    customer: Customer,
    agent: str,
    started: datetime,
    traits: dict[str, bool],
    outcome: str,
    ident: str,
) -> Conversation:
    lines = _config()["lines"]
    values = {"name": customer.salutation, "agent": agent, "branch": customer.branch, "card_last4": customer.card_last4}

    def say(key: str) -> str:
        text = lines[key]
        return _template(rng.choice(text) if isinstance(text, list) else text).render(values)

    script: list[tuple[Role, str]] = [
        ("customer", "喂？"),
        ("agent", say("greeting_clear" if traits["clear"] else "greeting_hesitant")),
        ("customer", say("answer_hello")),
        ("agent", say("purpose")),
    ]
    if traits["suspects"]:
        script += [
            ("customer", say("fraud")),
            ("agent", say("fraud_handled" if traits["handles"] else "fraud_not_handled")),
            ("customer", say("fraud_convinced" if outcome != "suspected_fraud" else "fraud_unconvinced")),
        ]
    if outcome != "suspected_fraud":
        script += [("agent", say("ask_received")), ("customer", say("answer_received"))]
        if traits["covers"]:
            script += [
                ("agent", say("ask_willing")),
                ("customer", say("answer_willing_yes" if outcome == "goal_achieved" else "answer_willing_no")),
            ]
        reply = {
            "goal_achieved": "yes_reply",
            "refused": "refused_reply",
            "hung_up": "hung_up_reply",
            "callback_requested": "callback_reply",
        }.get(outcome, "connected_reply")
        script += [("agent", say("tell_activate")), ("customer", say(reply))]
    script.append(("agent", say("close")))
    turns: list[Turn] = []
    clock = end = 0.4
    for role, text in script:
        length = len(text) / rng.uniform(3.4, 4.4)  # 200–260 characters a minute
        end = round(clock + length, 1)
        turns.append(Turn(role=role, text=text, start=round(clock, 1), end=end))
        clock += length + rng.uniform(0.4, 1.0)
    gap = rng.uniform(2.2, 3.5) if traits["pauses"] else rng.uniform(0.1, 0.8)
    conversation = Conversation(
        id=ident,
        channel="call",
        agent_id=agent,
        team="信用卡回访组",
        started_at=started,
        duration=round(end + gap, 1),  # after the last turn's end
        turns=turns,
    )
    return campaign_call(conversation, spec)


def build_demo(store: Store, customers: int = 13000, seed: int = 1, models: bool = True) -> DemoSummary:
    """Create the demo campaign in `store` (it must not exist there yet)."""
    cfg = _config()
    rng = random.Random(seed)
    spec = load_spec("card_activation").model_copy(update={"name": NAME, "title": "信用卡未激活客户电话回访（演示）"})
    create_campaign(store, spec)
    start = date.fromisoformat(str(cfg["start"]))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "call_list.csv"
        path.write_bytes(call_list_csv(rng, customers))
        # The numbers are invented: without $ZUOXI_SECRET_KEY they are encrypted under a throwaway key.
        imported = import_call_list(
            store,
            NAME,
            path,
            as_of=start,
            name=path.name,
            secret=os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32),
        )
    assign(store, NAME, [], regions={region: agents for region, (_, agents) in cfg["regions"].items()})
    people = campaign_customers(store.engine, NAME)
    calendars = {agent: _Calendar(start) for agent in cfg["agents"]}
    attempts: list[tuple[Attempt, None]] = []
    calls: list[tuple[int, Conversation]] = []
    still_open = people
    # a callback the customer asked for is made at the time promised (a share of them), else when the agent is next
    # free; drawn apart, so every other figure of the demo is what it was before callbacks were kept
    promised: dict[int, datetime] = {}
    keeping = random.Random(seed + 1)
    for round_number in range(1, spec.max_attempts + 1):
        next_round = []
        for customer in still_open:
            agent = customer.agent_id
            assert agent is not None  # assign() above gave every customer an agent
            outcome, reason, duration, traits = _call(rng, cfg, customer, round_number)
            started = calendars[agent].take(duration + rng.uniform(45, 90))
            due = promised.pop(customer.id, None)
            if due is not None and keeping.random() < cfg["callbacks_kept"]:
                started = due + timedelta(minutes=keeping.uniform(-10, 10))
            attempt = Attempt(
                customer_id=customer.id,
                agent_id=agent,
                started_at=started,
                duration=round(duration),
                disposition=outcome,
                reason_code=reason,
            )
            if traits and rng.random() < cfg["recorded"]:
                ident = f"{NAME}-{len(attempts) + 1:06d}"
                calls.append(
                    (
                        len(attempts),
                        _transcript(rng, spec, customer, agent, started, traits, outcome, ident),
                    )
                )
            attempts.append((attempt, None))
            if outcome == "callback_requested":
                promised[customer.id] = started + timedelta(hours=spec.callback_after_hours)
            if outcome in ("no_answer", "busy", "hung_up", "callback_requested", "connected"):
                next_round.append(customer)
        still_open = next_round
    keys = store.add_conversations((conversation, f"demo:{NAME}") for _, conversation in calls)
    for (index, _), key in zip(calls, keys, strict=True):
        attempts[index] = (attempts[index][0].model_copy(update={"conversation_key": key}), None)
    record_attempts(store, NAME, attempts, models=models)
    return DemoSummary(campaign=NAME, list_import=imported, attempts=len(attempts), recorded=len(calls))


def _call(
    rng: random.Random, cfg: dict, customer: Customer, round_number: int
) -> tuple[str, str | None, float, dict[str, bool] | None]:
    """(disposition, reason code, seconds, how the agent did when someone answered)."""
    u = rng.random()
    if round_number == 1 and u < cfg["wrong_number"]:
        return "wrong_number", None, rng.uniform(10, 25), None
    if u < cfg["no_answer"]:
        return "no_answer", None, rng.uniform(25, 40), None
    if u < cfg["no_answer"] + cfg["busy"]:
        return "busy", None, rng.uniform(5, 12), None
    p_clear, p_cover, p_handle, p_pause = cfg["agents"][customer.agent_id]
    traits = {
        "clear": rng.random() < p_clear,
        "covers": rng.random() < p_cover,
        "handles": rng.random() < p_handle,
        "pauses": rng.random() < p_pause,
    }
    traits["suspects"] = rng.random() < cfg["fraud_suspicion"]["clear_intro" if traits["clear"] else "hesitant_intro"]
    factor = cfg["success_factor"]
    p = (
        cfg["success_base"]
        + cfg["success_by_occupation"][customer.occupation]
        + cfg["success_by_age"][customer.age_band]
    )
    p *= (1 if traits["clear"] else factor["hesitant_intro"]) * (1 if traits["covers"] else factor["question_skipped"])
    if traits["suspects"]:
        p *= factor["fraud_handled" if traits["handles"] else "fraud_not_handled"]
    if rng.random() < p:
        return "goal_achieved", None, rng.uniform(110, 200), traits
    if traits["suspects"] and (not traits["handles"] or rng.random() < 0.5):
        return "suspected_fraud", None, rng.uniform(40, 90), traits
    outcome = _pick(rng, cfg["other_outcomes"])
    reason = _pick(rng, cfg["refusal_reasons"]) if outcome == "refused" else None
    return outcome, reason, rng.uniform(40, 120), traits
