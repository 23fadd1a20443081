"""Foundation: every reader, encodings, bad input, masking, storage (SQLite and PostgreSQL), resume, CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from zuoxi.batch import Batch
from zuoxi.cli import app
from zuoxi.ingest import IngestError, ReadOptions, read_file, read_paths
from zuoxi.model import Conversation
from zuoxi.privacy import mask_text
from zuoxi.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def records(path: Path, **options):
    return list(read_file(path, ReadOptions(**options)))


def only_conversations(items):
    return [r for r in items if isinstance(r, Conversation)]


# --- readers -------------------------------------------------------------------------------

def test_bundled_samples_all_read_without_error():
    items = [r for _, r in read_paths([SAMPLES])]
    assert [str(e) for e in items if isinstance(e, IngestError)] == []
    conversations = only_conversations(items)
    assert len(conversations) >= 40 and len({c.id for c in conversations}) == len(conversations)


def test_jsonl_bad_line_is_reported_with_line_and_the_rest_imports(tmp_path):
    good = {"id": "a", "turns": [{"role": "customer", "text": "在吗"}]}
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join([json.dumps(good), "{not json", json.dumps({"id": "b", "turns": [{"role": "boss", "text": "x"}]}),
                               json.dumps({**good, "id": "c"})]), encoding="utf-8")
    items = records(path)
    errors = [str(e) for e in items if isinstance(e, IngestError)]
    assert [c.id for c in only_conversations(items)] == ["a", "c"]
    assert errors[0].startswith(f"{path}:2: invalid JSON")
    assert errors[1].startswith(f"{path}:3: turns.0.role")


def test_json_array_errors_point_at_the_element_line(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('[\n {"id": "a", "turns": [{"role": "agent", "text": "您好"}]},\n {"id": "b", "turns": []}\n]', encoding="utf-8")
    items = records(path)
    assert [c.id for c in only_conversations(items)] == ["a"]
    assert str([e for e in items if isinstance(e, IngestError)][0]).startswith(f"{path}:3: turns")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "big5"])
def test_text_logs_in_every_encoding(tmp_path, encoding):
    traditional = encoding == "big5"
    body = ("# id: t1\n# scorecard: ecommerce\n客戶：東西還沒收到\n客服：您好，我幫您查一下\n---\n"
            if traditional else "# id: t1\n# scorecard: ecommerce\nG: 东西还没收到\nK: 您好，我帮您查一下\n---\n")
    body += "客服8号 10:01:02\n您好，很高兴为您服务\n客户 10:01:09\n我要退货\n请尽快\n\n坐席：好的\n用户：谢谢\n" if not traditional else "客服：好的\n客戶：謝謝\n"
    path = tmp_path / "log.txt"
    path.write_bytes(body.encode(encoding))
    conversations = only_conversations(records(path))
    first = conversations[0]
    assert first.id == "t1" and first.meta == {"scorecard": "ecommerce"}
    assert [t.role for t in first.turns] == ["customer", "agent"]
    assert first.turns[0].text == ("東西還沒收到" if traditional else "东西还没收到")
    if not traditional:
        timed = conversations[1]
        assert timed.agent_id == "8" and [t.start for t in timed.turns] == [0.0, 7.0]
        assert timed.turns[1].text == "我要退货\n请尽快"
        assert [t.role for t in conversations[2].turns] == ["agent", "customer"]


def test_text_line_without_speaker_is_reported(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("hello there\n客服: 您好\n", encoding="utf-8")
    items = records(path)
    assert str(next(e for e in items if isinstance(e, IngestError))).startswith(f"{path}:1:")
    assert len(only_conversations(items)) == 1


def test_csv_default_headers_and_column_override(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("会话ID,角色,内容,时间,坐席工号\nc1,客户,在吗,2026-11-03 14:00:00,8\nc1,客服,\"您好,在的\",2026-11-03 14:00:04,8\n"
                    "c2,访客,hi,2026-11-03 15:00:00,9\nc2,老板,x,2026-11-03 15:00:01,9\n", encoding="utf-8-sig")
    items = records(path)
    c1 = only_conversations(items)[0]
    assert c1.agent_id == "8" and c1.turns[1].text == "您好,在的" and c1.turns[1].start == 4.0
    assert c1.started_at.hour == 14
    assert any(isinstance(e, IngestError) and e.line == 5 and "老板" in e.reason for e in items)
    custom = tmp_path / "f.csv"
    custom.write_text("sid,who,body\nx,客服,您好\n", encoding="utf-8")
    assert only_conversations(records(custom, columns={"conversation_id": "sid", "role": "who", "text": "body"}))[0].id == "x"


def test_xlsx_and_truncated_xlsx(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["会话ID", "角色", "内容"])
    sheet.append(["x1", "客户", "你好"])
    sheet.append(["x1", "客服", "您好，我是客服3号"])
    path = tmp_path / "e.xlsx"
    book.save(path)
    assert [t.role for t in only_conversations(records(path))[0].turns] == ["customer", "agent"]
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(path.read_bytes()[:200])
    assert isinstance(records(broken)[0], IngestError)


def test_funasr_whisper_srt_vtt_and_role_map(tmp_path):
    funasr = tmp_path / "f.json"
    funasr.write_text(json.dumps({"key": "k1", "sentence_info": [
        {"text": "喂，我的卡收到了", "start": 0, "end": 1500, "spk": 0},
        {"text": "您好，我是银行客服，很高兴为您服务", "start": 1800, "end": 4200, "spk": 1}]}, ensure_ascii=False), encoding="utf-8")
    (conv,) = only_conversations(records(funasr))
    assert conv.id == "k1" and [t.role for t in conv.turns] == ["customer", "agent"] and conv.turns[1].start == 1.8
    (forced,) = only_conversations(records(funasr, agent_speaker="0"))
    assert forced.turns[0].role == "agent"
    whisper = tmp_path / "w.json"
    whisper.write_text(json.dumps({"text": "", "segments": [
        {"start": 0.0, "end": 2.0, "text": "您好，我是客服小李，很高兴为您服务", "speaker": "SPEAKER_00"},
        {"start": 2.5, "end": 4.0, "text": "我要投诉", "speaker": "SPEAKER_01"}]}, ensure_ascii=False), encoding="utf-8")
    assert [t.role for t in only_conversations(records(whisper))[0].turns] == ["agent", "customer"]
    srt = tmp_path / "c.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:02,500\n[客服] 您好\n\n2\n00:00:03,000 --> 00:00:05,000\n[客户] 我的快递呢\n", encoding="utf-8")
    (s,) = only_conversations(records(srt))
    assert [(t.role, t.text, t.end) for t in s.turns] == [("agent", "您好", 2.5), ("customer", "我的快递呢", 5.0)]
    vtt = tmp_path / "c.vtt"
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:02.000\n<v 坐席>您好</v>\n\n00:02.500 --> 00:04.000\n<v 客户>你好\n", encoding="utf-8")
    assert [t.role for t in only_conversations(records(vtt))[0].turns] == ["agent", "customer"]


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02\xff\xfe\x00garbage"])
def test_empty_and_binary_files_are_reported(tmp_path, content):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    items = records(path)
    assert len(items) >= 1 and all(isinstance(i, IngestError) for i in items)


def test_unknown_extension_and_empty_conversation(tmp_path):
    odd = tmp_path / "x.doc"
    odd.write_text("hi", encoding="utf-8")
    assert "unknown format" in str(records(odd)[0])
    empty = tmp_path / "e.jsonl"
    empty.write_text(json.dumps({"id": "e", "turns": [{"role": "agent", "text": "  "}]}), encoding="utf-8")
    assert "every turn is empty" in str(records(empty)[0])


# --- masking -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, masked", [
    ("手机13812345678", "手机*******5678"),
    ("电话 +86 138 1234 5678", "电话 *********5678"),
    ("座机010-62345678", "座机*******5678"),
    ("身份证440582198807151230", "身份证**************1230"),
    ("卡号6217001234567893", "卡号**** **** **** 7893"),
    ("卡号 6217 0012 3456 7893 请核对", "卡号 **** **** **** 7893 请核对"),
    ("邮箱zhangwei.buy@example.com", "邮箱z***@example.com"),
])
def test_pii_is_masked_keeping_last_four(raw, masked):
    assert mask_text(raw) == masked


@pytest.mark.parametrize("raw", [
    "订单号2026110112345678已发货", "订单号：6217001234567893", "单号DD13812345678", "身份证440582198807151231",
    "卡号6217001234567890", "金额1999元，2026-11-01 10:00:02", "卡号后四位7893",
])
def test_non_pii_numbers_survive(raw):
    assert mask_text(raw) == raw


# --- storage -------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield Store(f"sqlite:///{tmp_path}/z.db")
        return
    schema = f"zuoxi_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as error:  # noqa: BLE001 - any connection failure means no server here
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {type(error).__name__}")
    opened = Store(f"{PG_URL}?options=-csearch_path%3D{schema}")
    yield opened
    opened.close()
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_store_import_is_idempotent_and_results_replace(store):
    from zuoxi.pipeline import analyze_conversation

    conversations = only_conversations(records(SAMPLES / "complaint_desk.jsonl"))
    keys = store.add_conversations((c, "x") for c in conversations)
    assert store.count_new(keys) == 0
    store.add_conversations((c, "x") for c in conversations)
    assert store.stats()["conversations"] == len(conversations)
    result = analyze_conversation(conversations[0], "core")
    store.save_results([(keys[0], result)])
    store.save_results([(keys[0], result.model_copy(update={"score": 1.0}))])
    (saved,) = store.results_for(keys[0])
    assert saved.score == 1.0
    assert store.find(conversations[0].id)[0][0] == keys[0]
    assert store.stats()["scorecards"][0]["results"] == 1


def test_interrupted_import_resumes(store, tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"c{i}", "turns": [{"role": "customer", "text": f"第{i}个问题"}]}) for i in range(30)),
                    encoding="utf-8")
    batch = Batch([path], store=store)
    with pytest.raises(KeyboardInterrupt):
        for n, _ in enumerate(batch.run(), start=1):
            if n == 12:
                raise KeyboardInterrupt
    assert store.stats()["conversations"] == 12
    again = Batch([path], store=store)
    list(again.run())
    assert again.summary.imported == 18 and again.summary.duplicates == 12
    assert store.stats()["conversations"] == 30
    third = Batch([path], store=store)
    list(third.run())
    assert third.summary.files_skipped == 1 and third.summary.read == 0


# --- command line ----------------------------------------------------------------------------

def test_cli_analyze_import_show_stats(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "cli.db")
    result = runner.invoke(app, ["analyze", str(SAMPLES / "complaint_desk.jsonl"), "--format", "json", "--db", db])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 7 and {"conversation_id", "scorecard", "score", "findings", "customer_emotion", "satisfaction", "skills"} <= set(lines[0])
    burger = next(r for r in lines if r["conversation_id"] == "cp-001")
    assert {f["rule"] for f in burger["findings"] if f["status"] == "fail"} >= {"CS-01", "CS-03", "SA-01"}
    report = tmp_path / "r.html"
    assert runner.invoke(app, ["analyze", str(SAMPLES), "--format", "html", "--out", str(report), "--db", db]).exit_code == 0
    assert "cp-001" in report.read_text(encoding="utf-8") and "<mark" in report.read_text(encoding="utf-8")
    shown = runner.invoke(app, ["show", "cp-001", "--db", db])
    assert shown.exit_code == 0 and "CS-01" in shown.stdout
    stats = runner.invoke(app, ["stats", "--db", db, "--format", "json"])
    assert json.loads(stats.stdout)["conversations"] >= 40


def test_cli_masks_by_default_and_not_with_no_mask(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "p", "turns": [{"role": "customer", "text": "我的手机13812345678"}]}, ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    masked_db, raw_db = str(tmp_path / "m.db"), str(tmp_path / "r.db")
    assert runner.invoke(app, ["import", str(path), "--db", masked_db]).exit_code == 0
    assert runner.invoke(app, ["import", str(path), "--db", raw_db, "--no-mask"]).exit_code == 0
    assert Store(masked_db).find("p")[0][1].turns[0].text == "我的手机*******5678"
    assert Store(raw_db).find("p")[0][1].turns[0].text == "我的手机13812345678"


def test_cli_exit_status_only_fails_when_nothing_was_read(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n", encoding="utf-8")
    runner = CliRunner()
    failed = runner.invoke(app, ["import", str(bad), "--db", str(tmp_path / "a.db")])
    assert failed.exit_code == 1 and f"{bad}:1:" in failed.output
    mixed = runner.invoke(app, ["import", str(bad), str(SAMPLES / "callbacks.json"), "--db", str(tmp_path / "b.db")])
    assert mixed.exit_code == 0 and "imported 8" in mixed.output


def test_cli_scorecards_and_check(tmp_path):
    runner = CliRunner()
    listed = runner.invoke(app, ["scorecards"])
    assert all(name in listed.stdout for name in ("core", "ecommerce", "complaint", "outbound"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nname: x\nsections:\n  - id: s\n    name: s\n    items:\n      - id: A\n        name: a\n        message: m\n", encoding="utf-8")
    checked = runner.invoke(app, ["scorecard", "check", str(bad)])
    assert checked.exit_code == 1 and f"{bad}:7:" in checked.output
    assert runner.invoke(app, ["scorecard", "check", "zuoxi/scorecards/ecommerce.yaml"]).exit_code == 0
