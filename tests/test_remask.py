"""`zuoxi db remask`: a database an older zuoxi wrote (personal data stored raw, as the masker and the write paths
then left it) masked again by today's masker, on SQLite and PostgreSQL: every table scanned afterwards, teams and
agent ids one form everywhere, evidence still pointing at its words, a second run and a dry run changing nothing,
a refused rewrite reported, and the web app still showing the conversation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.cli import app
from zuoxi.engines.local import Batch
from zuoxi.privacy import luhn_ok, mask_text, valid_id_number
from zuoxi.queues.plans import parse_plan
from zuoxi.rules.engine import compile_text
from zuoxi.store import Store, masked_label
from zuoxi.store.tables import (
    AppealRow,
    AuditEntry,
    Base,
    CampaignAttempt,
    CampaignCallback,
    CampaignCustomer,
    CampaignRow,
    ComplaintAlertRow,
    ConversationRow,
    DoNotCall,
    ImportJob,
    QueueItemRow,
    ResultRow,
    ResultVersion,
    ReviewRow,
    SamplingPlanRow,
    SamplingRunRow,
    ScorecardRow,
    StatRow,
    TrainingAttempt,
    TrainingCase,
    User,
    WebhookRow,
)
from zuoxi.store.users import add_user

PHONE = "13812345678"
PHONE2 = "13912345678"  # masks as PHONE does: *******5678
AGENT = "13700001111"  # an agent id that is a phone number
WIDE = "１３６１２３４５６７８"  # full-width, as Chinese input methods type it
EMAIL = "zhangsan@example.com"
ID_CARD = next(
    f"11010519491231002{c}" for c in "0123456789X" if valid_id_number(f"11010519491231002{c}")
)  # a resident ID with its check digit
CARD = "6217001234567893"
RAW = (PHONE, PHONE2, AGENT, WIDE, EMAIL, "zhangsan@", ID_CARD, CARD)
TEAM = f"售后{PHONE}组"
CUSTOMER_TURN = f"我的手机{PHONE}，邮箱{EMAIL}，身份证{ID_CARD}，卡号{CARD}，太慢了我要投诉"
PASSWORD = "correct-horse"
NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _conversation_file(folder: Path) -> Path:
    path = folder / f"{PHONE2}_名单.jsonl"  # a call list named by a customer's number
    record = {
        "id": PHONE,
        "channel": "chat",
        "agent_id": AGENT,
        "team": TEAM,
        "started_at": "2026-01-05T09:00:00+08:00",
        "audio": f"rec/{PHONE}.wav",
        "meta": {"phone": PHONE, PHONE2: "来电", "caller": int(PHONE2), "mail": EMAIL},
        "turns": [
            {"role": "agent", "text": "您好，请问有什么可以帮您"},
            {"role": "customer", "text": CUSTOMER_TURN},
            {"role": "agent", "text": f"好的，已记录您的号码{WIDE}，非常抱歉让您久等了"},
            {"role": "customer", "text": "你们怎么回事，我要投诉到消协"},
        ],
    }
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _spans(turn: str) -> list[tuple[int, int]]:
    """Evidence on the turn: the phone number itself, and 投诉 after every number."""
    at = turn.index(PHONE)
    complaint = turn.index("投诉")
    return [(at, at + len(PHONE)), (complaint, complaint + 2)]


def _with_evidence(data: dict) -> dict:
    """The result's first finding quotes the customer's turn (offsets into the raw text, as an unmasked run left
    them), and the turn's emotion cue is 投诉."""
    spans = _spans(CUSTOMER_TURN)
    evidence = [{"turn": 1, "start": s, "end": e, "text": CUSTOMER_TURN[s:e]} for s, e in spans]
    findings = [dict(f) for f in data["findings"]]
    findings[0] = {**findings[0], "evidence": [*findings[0].get("evidence", []), *evidence]}
    findings[0]["suggestion"] = f"请回拨客户 {PHONE}"  # a scorecard's suggestion, copied into the result as written
    emotions = [e for e in data.get("customer_emotion", []) if e["turn"] != 1]
    emotions.append({"turn": 1, "label": "angry", "score": 0.9, "cue": list(spans[1])})
    return {**data, "findings": findings, "customer_emotion": emotions}


SCORECARD_YAML = f"""\
# 回访组长 {PHONE2}
id: mine
name: 回访表
sections:
  - id: s
    name: 服务
    items:
      - id: X-01
        name: 问候
        points: -5
        expect: {{keyword: {{role: agent, words: [您好]}}}}
        message: "没有问候，客户 {WIDE} 投诉"
        suggestion: 先问候，回拨 {PHONE}
        # 例：{EMAIL}
      - id: X-02
        name: 道别
        points: -5
        expect: {{keyword: {{role: agent, words: [再见]}}}}
        message: 没有道别
        suggestion: |
          说再见。
          联系 {AGENT}
"""

PLAN_YAML = f"""\
id: remask-plan
name: 回访{PHONE}
description: 联系人邮箱 {EMAIL}  # 联系 {PHONE2}
scope:
  teams: [{TEAM}]
  agents: ["{AGENT}"]
random:
  count: 5
"""


def old_database(url: str, folder: Path) -> str:
    """A database with today's tables holding what older versions stored raw (written past the write paths)."""
    store = Store(url)
    for _ in Batch([_conversation_file(folder)], store=store, analyze=True, mask=False, models=False).run():
        pass
    engine = store.engine
    with Session(engine) as session, session.begin():
        conversation = session.scalars(select(ConversationRow)).one()
        key = conversation.key
        result = session.scalars(select(ResultRow).where(ResultRow.conversation_key == key)).first()
        assert result is not None
        result.data = _with_evidence(result.data)
        result.final_data = _with_evidence(result.final_data or result.data)
        session.add(
            ResultVersion(
                result_pk=result.pk, version=0, score=result.score, data=result.data, reason="machine", created_at=NOW
            )
        )
        users = [
            User(username="lead", role="team_lead", team=TEAM, display_name=f"张三 {EMAIL}"),
            User(username="agent1", role="agent", team=TEAM, agent_id=AGENT, display_name=f"王五{PHONE}"),
            User(username="agent2", role="agent", team=TEAM, agent_id=AGENT, display_name=f"王五{PHONE2}"),
        ]
        for user in users:
            user.username_key, user.password_hash, user.active, user.created_at = user.username, "x", True, NOW
        session.add_all(users)
        session.flush()
        rule = result.data["findings"][0]["rule"]
        session.add_all(
            [
                ReviewRow(
                    result_pk=result.pk,
                    rule=rule,
                    machine_status="fail",
                    verdict="confirm",
                    comment=f"客户电话{PHONE}",
                    kind="review",
                    reviewer_id=users[0].id,
                    created_at=NOW,
                ),
                AppealRow(
                    result_pk=result.pk,
                    rule=rule,
                    reason=f"我的手机{PHONE}，不是我说的",
                    status="rejected",
                    agent_user_id=users[1].id,
                    resolver_id=users[0].id,
                    resolution=f"已发邮件到{EMAIL}",
                    created_at=NOW,
                    resolved_at=NOW,
                ),
                AuditEntry(
                    at=NOW,
                    action="appeal.open",
                    entity="appeal",
                    entity_id="1",
                    before=None,
                    after={"rule": rule, "reason": f"我的手机{PHONE}", PHONE2: [EMAIL]},
                ),
                WebhookRow(
                    name=f"{PHONE}的群",
                    team=TEAM,
                    url="http://127.0.0.1:9/hook",
                    template="json",
                    active=True,
                    created_at=NOW,
                ),
                ImportJob(status="done", errors=[f"名单.csv:3: 号码 {PHONE2} 无法识别"], created_at=NOW),
            ]
        )
        spec = parse_plan(PLAN_YAML, "plan.yaml").model_dump(mode="json")  # today's masks: put the raw back
        spec.update(name=f"回访{PHONE}", description=f"联系人邮箱 {EMAIL}")
        spec["scope"].update(teams=[TEAM], agents=[AGENT])
        plan = SamplingPlanRow(
            name="remask-plan", title=f"回访{PHONE}", yaml=PLAN_YAML, spec=spec, active=True, updated_at=NOW
        )
        session.add(plan)
        session.flush()
        run = SamplingRunRow(
            plan_id=plan.id,
            period="2026-W02",
            period_start=NOW,
            period_end=NOW + timedelta(days=7),
            seed=1,
            considered=1,
            sampled=1,
            unassigned=1,
            at=NOW,
        )
        session.add(run)
        session.flush()
        session.add(
            QueueItemRow(
                plan_id=plan.id,
                run_id=run.id,
                result_pk=result.pk,
                conversation_key=key,
                agent_id=AGENT,
                team=TEAM,
                criterion="random",
                kind="random",
                label=f"抽{PHONE}",
                status="skipped",
                skip_reason="other",
                skip_comment=f"客户{PHONE}",
                created_at=NOW,
            )
        )
        session.execute(delete(ComplaintAlertRow))
        session.add(
            ComplaintAlertRow(
                conversation_key=key,
                result_pk=result.pk,
                conversation_id=PHONE,
                team=TEAM,
                agent_id=AGENT,
                risk=0.9,
                rules=[["ES-01", "投诉"]],
                excerpt=CUSTOMER_TURN,
                note=f"回拨{PHONE}",
                created_at=NOW,
            )
        )
        session.add(ScorecardRow(name="mine", yaml=SCORECARD_YAML, updated_at=NOW, updated_by=users[0].id))
        case = {
            "id": "remask-case",
            "title": f"投诉案例{PHONE}",
            "description": f"客户留了邮箱 {EMAIL}",
            "need": "尽快处理",
            "conversation": conversation.data,
        }
        session.add(
            TrainingCase(
                id="remask-case",
                yaml=yaml.safe_dump(case, allow_unicode=True, sort_keys=False),
                conversation_key=key,
                created_at=NOW,
            )
        )
        session.add(
            TrainingAttempt(
                case_id="remask-case",
                trainee=PHONE,
                outcome=None,
                score=1,
                max_score=10,
                anger=[0.1],
                turns=[{"role": "agent", "text": f"您的号码是{PHONE}吗"}],
                failed_rules=[],
                engine="rules",
                created_at=NOW,
            )
        )
        campaign = CampaignRow(name="remask", title="回访", spec={"name": "remask"}, created_at=NOW)
        session.add(campaign)
        session.flush()
        customer = CampaignCustomer(
            campaign_id=campaign.id,
            ref=PHONE,
            phone_hash="h" * 64,
            phone_tail="5678",
            phone_enc="encrypted",
            region=f"东区{PHONE}",
            occupation=EMAIL,
            branch=f"{PHONE}支行",
            agent_id=AGENT,
            status="pending",
            source=f"lists/{PHONE2}_名单.csv:2",
            imported_at=NOW,
        )
        session.add(customer)
        session.flush()
        session.add_all(
            [
                CampaignAttempt(
                    campaign_id=campaign.id,
                    customer_id=customer.id,
                    agent_id=AGENT,
                    started_at=NOW,
                    disposition="no_answer",
                    notes=f"客户改用{PHONE}联系",
                ),
                CampaignCallback(
                    campaign_id=campaign.id, customer_id=customer.id, agent_id=AGENT, due_at=NOW, note=f"回拨{WIDE}"
                ),
                DoNotCall(phone_hash="d" * 64, source=f"{PHONE2}.csv:3", added_at=NOW),
            ]
        )
    store.close()
    return key


def dump(url: str) -> dict[str, list[str]]:
    """Every row of every table, each value as JSON text."""
    store = Store(url, migrate=False)
    with store.engine.connect() as connection:
        tables = {
            table.name: sorted(
                json.dumps(
                    [None if isinstance(value, bytes) else value for value in row], ensure_ascii=False, default=str
                )
                for row in connection.execute(table.select())
            )
            for table in Base.metadata.sorted_tables
        }
    store.close()
    return tables


def raw_left(url: str) -> dict[str, list[str]]:
    """Where a raw number or e-mail address is still stored: table → the raw values found."""
    return {
        name: found
        for name, rows in dump(url).items()
        if (found := sorted({raw for raw in RAW for row in rows if raw in row}))
    }


def remask(url: str, *args: str, code: int = 0):
    outcome = CliRunner().invoke(app, ["db", "remask", "--db", url, *args])
    assert outcome.exit_code == code, (outcome.stdout, outcome.stderr, outcome.exception)
    assert "Traceback" not in outcome.output
    return outcome


def test_the_checks_hold_for_the_numbers():
    assert luhn_ok(CARD) and valid_id_number(ID_CARD)
    assert all(mask_text(raw) != raw for raw in (PHONE, AGENT, WIDE, EMAIL, ID_CARD, CARD))


def test_remask_masks_every_table_once(db_url, tmp_path):
    key = old_database(db_url, tmp_path)
    before = raw_left(db_url)
    for table in (
        "conversations",
        "results",
        "result_versions",
        "imported_files",
        "stats",
        "users",
        "reviews",
        "appeals",
        "audit_log",
        "alert_webhooks",
        "sampling_plans",
        "queue_items",
        "complaint_alerts",
        "training_cases",
        "training_attempts",
        "campaign_customers",
        "campaign_attempts",
        "campaign_callbacks",
        "campaign_do_not_call",
        "import_jobs",
        "scorecards",
    ):
        assert table in before, table  # the old database holds it raw

    first = remask(db_url)
    assert "已改写" in first.stdout and "conversations" in first.stdout and "看板统计" in first.stdout
    assert raw_left(db_url) == {}

    agent, team, ident = masked_label(AGENT), masked_label(TEAM), mask_text(PHONE)
    assert agent == "*******1111" and team == "售后*******5678组"
    store = Store(db_url)
    with Session(store.engine) as session:
        row = session.get(ConversationRow, key)  # the key is a hash: it stays, and so does every reference to it
        assert row is not None
        assert (row.id, row.agent_id, row.team) == (ident, agent, team)
        assert (row.data["id"], row.data["agent_id"], row.data["team"]) == (ident, agent, team)
        assert row.data["meta"] == {
            "phone": "*******5678",
            "*******5678": "来电",
            "caller": "*******5678",
            "mail": "z***@example.com",
        }
        assert row.source.endswith("*******5678_名单.jsonl") and PHONE not in (row.search_text or "")
        turn = row.data["turns"][1]["text"]
        assert turn == mask_text(CUSTOMER_TURN)
        for result in session.scalars(select(ResultRow).where(ResultRow.conversation_key == key)):
            assert (result.agent_id, result.team) == (agent, team)
            for data in (result.data, result.final_data):
                assert data["conversation_id"] == ident
                for finding in data["findings"]:
                    for e in finding["evidence"]:
                        assert e["text"] == row.data["turns"][e["turn"]]["text"][e["start"] : e["end"]]
                quoted = [e["text"] for e in data["findings"][0]["evidence"] if e["turn"] == 1]
                assert quoted[-2:] == ["*******5678", "投诉"]  # the number masked, 投诉 found where it moved
                cue = next(e["cue"] for e in data["customer_emotion"] if e["turn"] == 1)
                assert turn[cue[0] : cue[1]] == "投诉"
        assert {u.agent_id for u in session.scalars(select(User)) if u.agent_id} == {agent}
        assert {u.team for u in session.scalars(select(User))} == {team}
        assert session.scalars(select(WebhookRow.team)).all() == [team]
        assert session.scalars(select(QueueItemRow.agent_id)).all() == [agent]
        assert session.scalars(select(ComplaintAlertRow.conversation_id)).all() == [ident]
        assert session.scalars(select(CampaignCustomer.agent_id)).all() == [agent]
        assert session.scalars(select(CampaignAttempt.agent_id)).all() == [agent]
        assert set(session.scalars(select(StatRow.agent_id).where(StatRow.agent_id != ""))) == {agent}
        assert set(session.scalars(select(StatRow.team))) == {team}
        plan = session.scalars(select(SamplingPlanRow)).one()
        assert plan.spec["scope"]["teams"] == [team] and plan.spec["scope"]["agents"] == [agent]
        assert parse_plan(plan.yaml, "stored").model_dump(mode="json") == plan.spec  # the YAML still reads as it
        card = session.scalars(select(ScorecardRow.yaml)).one()  # its values and comments masked, the rest as written
        assert card == mask_text(SCORECARD_YAML).replace("suggestion: 先问候", 'suggestion: "先问候').replace(
            "5678\n        # 例", '5678"\n        # 例'
        )
        assert compile_text("mine", card).spec.sections[0].items[0].suggestion == "先问候，回拨 *******5678"
        for result in session.scalars(select(ResultRow)):
            assert result.data["findings"][0]["suggestion"] == "请回拨客户 *******5678"
        case = yaml.safe_load(session.scalars(select(TrainingCase.yaml)).one())
        assert case["id"] == "remask-case" and case["conversation"]["turns"][1]["text"] == turn
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "db.remask")).one()
        assert audit.after["changed"]["conversations.data"] == 1 and not any(r in json.dumps(audit.after) for r in RAW)
    store.close()

    snapshot = dump(db_url)
    second = remask(db_url)
    assert "已改写 0 个值" in second.stdout and "看板统计" not in second.stdout
    again = dump(db_url)
    assert again.pop("audit_log") != snapshot.pop("audit_log")  # the second run is audited too, and that is all
    assert again == snapshot


def test_a_dry_run_counts_and_writes_nothing(db_url, tmp_path):
    old_database(db_url, tmp_path)
    before = dump(db_url)
    dry = remask(db_url, "--dry-run")
    assert (
        "将改写" in dry.stdout
        and "试运行" in dry.stdout
        and "演练" not in dry.stdout
        and "将改写 0 个值" not in dry.stdout
    )
    assert dump(db_url) == before
    counted = re.search(r"conversations\W+data\W+(\d+)", dry.stdout)
    assert counted and counted[1] == "1", dry.stdout
    remask(db_url)
    assert "将改写 0 个值" in remask(db_url, "--dry-run").stdout


def test_a_rewrite_the_database_refuses_is_reported_and_left(db_url, tmp_path):
    """Two display names that mask to one, under a unique index (a deployment's own, or a later version's): the
    second is reported and left as it was; the rest is masked and the command ends with status 1, no traceback."""
    old_database(db_url, tmp_path)
    store = Store(db_url)
    with store.engine.begin() as connection:
        connection.execute(text("CREATE UNIQUE INDEX ux_users_display_name ON users (display_name)"))
    store.close()
    refused = remask(db_url, code=1)
    assert "users" in refused.stderr and "唯一约束" in refused.stderr and "1 行未能改写" in refused.stderr
    assert raw_left(db_url) == {"users": sorted({AGENT, PHONE, PHONE2})}  # agent2's row, left whole
    store = Store(db_url)
    with Session(store.engine) as session:
        names = {name: shown for name, shown in session.execute(select(User.username, User.display_name))}
        assert names["agent1"] == "王五*******5678" and names["agent2"] == f"王五{PHONE2}"
        team, agent = session.execute(select(User.team, User.agent_id).where(User.username == "agent2")).one()
        assert (team, agent) == (TEAM, AGENT)  # the row is left whole
    store.close()
    assert "1 行未能改写" in remask(db_url, code=1).stderr  # still reported, still nothing else to do


def test_the_web_app_shows_the_remasked_conversation(db_url, tmp_path):
    from fastapi.testclient import TestClient

    from zuoxi.web import create_app

    key = old_database(db_url, tmp_path)
    remask(db_url)
    store = Store(db_url)
    add_user(store.engine, "qa", PASSWORD, "inspector")
    store.close()
    web = create_app(db_url, models=False)
    client = TestClient(web)
    login = client.post("/api/login", json={"username": "qa", "password": PASSWORD})
    assert login.status_code == 200, login.text
    listed = client.get("/api/conversations").json()["items"]
    assert [(i["key"], i["id"], i["agent_id"], i["team"]) for i in listed] == [
        (key, mask_text(PHONE), masked_label(AGENT), masked_label(TEAM))
    ]
    detail = client.get(f"/api/conversations/{key}")
    assert detail.status_code == 200 and not any(raw in detail.text for raw in RAW)
    page = client.get(f"/conversations/{key}", headers={"accept": "text/html"})
    assert page.status_code == 200 and "*******5678" in page.text and PHONE not in page.text
    assert "<mark" in page.text
    web.state.store.close()


def test_upgrade_hints_at_remask_for_an_older_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old_database(url, tmp_path)
    store = Store(url)
    with store.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))  # a database from before Alembic
    store.close()
    upgraded = CliRunner().invoke(app, ["db", "upgrade", "--db", url])
    assert upgraded.exit_code == 0 and "zuoxi db remask" in upgraded.stderr
    fresh = CliRunner().invoke(app, ["db", "upgrade", "--db", f"sqlite:///{tmp_path / 'new.db'}"])
    assert fresh.exit_code == 0 and "zuoxi db remask" not in fresh.stderr


def test_remask_keeps_an_id_that_only_passes_luhn(db_url, tmp_path):
    """An id that passes Luhn without a card's prefix and length (a 16-digit Weibo id; American Express is 15
    digits) is stored as it is (`mask_id`), and a remask leaves it so in the conversation, its JSON, its results and
    its complaint alert, where a remask masking ids as texts wrote it as a card (stc3-**** **** **** 8437) and lost
    the join to the source. An id that is a phone number is masked, as before."""
    ident, phone_id = "stc3-3775827529438437", f"call-{PHONE}"
    assert luhn_ok(ident[5:]) and mask_text(ident) != ident
    path = tmp_path / "weibo.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"id": i, "turns": [{"role": "customer", "text": "我要投诉"}, {"role": "agent", "text": "您好"}]}
            )
            + "\n"
            for i in (ident, phone_id)
        ),
        encoding="utf-8",
    )
    store = Store(db_url)
    for _ in Batch([path], store=store, analyze=True, models=False).run():
        pass
    store.close()
    remask(db_url)
    store = Store(db_url)
    with Session(store.engine) as session:
        assert sorted(session.scalars(select(ConversationRow.id))) == sorted([ident, mask_text(phone_id)])
        for row in session.scalars(select(ConversationRow)):
            assert row.data["id"] == row.id
            for result in session.scalars(select(ResultRow).where(ResultRow.conversation_key == row.key)):
                assert result.data["conversation_id"] == row.id
        alerted = session.scalars(select(ComplaintAlertRow.conversation_id)).all()  # 我要投诉: both raised one
        assert sorted(alerted) == sorted([ident, mask_text(phone_id)])
    store.close()


def test_remask_masks_a_number_split_across_turns_as_an_import_does(db_url, tmp_path):
    """A number one speaker's consecutive turns split (speech recognition ends a turn at a pause) is masked in both
    turns, as `mask_conversation` masks it on import, evidence quoting the earlier part quoting its masked form; a
    second run changes nothing."""
    from zuoxi.model import Conversation
    from zuoxi.privacy import mask_conversation

    record = {
        "id": "split-1",
        "turns": [
            {"role": "agent", "text": "请问您的联系电话？"},
            {"role": "customer", "text": "电话是138 0013"},
            {"role": "customer", "text": "8000，我要投诉"},
        ],
    }
    path = tmp_path / "split.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    store = Store(db_url)
    for _ in Batch([path], store=store, analyze=True, mask=False, models=False).run():
        pass
    with Session(store.engine) as session, session.begin():
        result = session.scalars(select(ResultRow)).first()
        assert result is not None
        quote = {"turn": 1, "start": 3, "end": 11, "text": "138 0013"}
        findings = [dict(f) for f in result.data["findings"]]
        findings[0] = {**findings[0], "evidence": [*findings[0].get("evidence", []), quote]}
        result.data = {**result.data, "findings": findings}
    store.close()
    remask(db_url)
    expected = [t.text for t in mask_conversation(Conversation.model_validate(record)).turns]
    assert expected == ["请问您的联系电话？", "电话是*******", "8000，我要投诉"]
    store = Store(db_url)
    with Session(store.engine) as session:
        row = session.scalars(select(ConversationRow)).one()
        assert [t["text"] for t in row.data["turns"]] == expected
        assert "138" not in (row.search_text or "") and "0013" not in (row.search_text or "")
        result = session.scalars(select(ResultRow)).first()
        assert result is not None
        assert {"turn": 1, "start": 3, "end": 10, "text": "*******"} in result.data["findings"][0]["evidence"]
    store.close()
    snapshot = dump(db_url)
    assert "已改写 0 个值" in remask(db_url).stdout
    again = dump(db_url)
    assert again.pop("audit_log") != snapshot.pop("audit_log")
    assert again == snapshot


def test_remask_keeps_a_drill_s_numeric_trainee_as_the_agent_s_conversations_have_it(db_url):
    """A trainee is an agent id (or a username): masked as agent ids are (`masked_label`), so a drill of an agent
    whose id only passes Luhn stays under that id, the one its conversations have, where masking it as a text
    wrote it as a card. A trainee that is a phone number is masked, as before."""
    agent = next(n for n in (f"123456789012345{d}" for d in "0123456789") if luhn_ok(n))  # no card starts with 1
    assert mask_text(agent) != agent
    store = Store(db_url)
    with Session(store.engine) as session, session.begin():
        for trainee in (agent, PHONE, "售後 ０７"):
            session.add(
                TrainingAttempt(
                    case_id="wrong-burger",
                    trainee=trainee,
                    outcome=None,
                    score=1,
                    max_score=10,
                    anger=[],
                    turns=[],
                    failed_rules=[],
                    engine="rules",
                    created_at=NOW,
                )
            )
    store.close()
    remask(db_url)
    store = Store(db_url)
    with Session(store.engine) as session:
        stored = list(session.scalars(select(TrainingAttempt.trainee).order_by(TrainingAttempt.id)))
    assert stored == [agent, mask_text(PHONE), "售后 07"] == [masked_label(t) for t in (agent, PHONE, "售後 ０７")]
    store.close()
