"""Readers: every input format and encoding → canonical conversations; bad input → `file:line: reason`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from zuoxi.engines.local import Batch
from zuoxi.ingest import (
    IngestError,
    ReadOptions,
    detect_format,
    input_files,
    iter_files,
    read_file,
    read_paths,
)
from zuoxi.ingest.asr import assign_roles
from zuoxi.ingest.encoding import decode_bytes
from zuoxi.ingest.table import TIME_FORMATS, parse_column_map
from zuoxi.model import Conversation
from zuoxi.normalize import normalize_text

CST = timezone(timedelta(hours=8))


def read(path: Path, **options) -> tuple[list[Conversation], list[IngestError]]:
    records = list(read_file(path, ReadOptions(**options)))
    conversations = [r for r in records if isinstance(r, Conversation)]
    errors = [r for r in records if isinstance(r, IngestError)]
    assert len(conversations) + len(errors) == len(records)
    return conversations, errors


def roles(conversation: Conversation) -> list[str]:
    return [t.role for t in conversation.turns]


def texts(conversation: Conversation) -> list[str]:
    return [t.text for t in conversation.turns]


def starts(conversation: Conversation) -> list[float | None]:
    return [t.start for t in conversation.turns]


def dump(records) -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"


GOOD = {"id": "g1", "turns": [{"role": "customer", "text": "在吗"}, {"role": "agent", "text": "您好，在的"}]}


# --- the bundled samples ---------------------------------------------------------------------

SAMPLE_IDS = {
    "ecommerce_chats.jsonl": [f"ec-{i:03d}" for i in range(1, 16)],
    "complaint_desk.jsonl": [f"cp-{i:03d}" for i in range(1, 8)],
    "callbacks.json": [f"cb-{i:03d}" for i in range(1, 9)],
    "taobao_logs.txt": [f"tb-{i:03d}" for i in range(1, 6)],
    "traditional_chats_big5.txt": ["tw-001", "tw-002", "tw-003"],
    "agent_logs_gbk.txt": ["gbk-001", "gbk-002", "gbk-003"],
    "exports/chat_export.csv": ["csv-001", "csv-002", "csv-003"],
    "exports/chat_export.xlsx": ["xlsx-001", "xlsx-002"],
    "asr/funasr_call.json": ["call_20261102_093105"],
    "asr/whisper_call.json": ["whisper_call.json"],
    "asr/call.srt": ["call.srt"],
    "asr/call.vtt": ["call.vtt"],
}


@pytest.fixture(scope="module")
def sample_records(samples):
    return [(path.relative_to(samples).as_posix(), record) for path, record in read_paths([samples])]


def test_all_fifty_samples_read_without_error(sample_records):
    assert [str(r) for _, r in sample_records if isinstance(r, IngestError)] == []
    by_file: dict[str, list[str]] = {}
    for name, conversation in sample_records:
        by_file.setdefault(name, []).append(conversation.id)
    assert by_file == SAMPLE_IDS
    assert len(sample_records) == 50


def test_samples_details_survive_reading(sample_records):
    conv = {c.id: c for _, c in sample_records}
    # Big5: Traditional kept for display (team names too), matching form is Simplified.
    assert conv["tw-001"].team == "售後二組" and normalize_text(conv["tw-001"].team) == "售后二组"
    assert conv["tw-001"].turns[0].text == "你好，我買的外套袖子太長了，可以換小一號嗎？"
    assert conv["tw-002"].turns[0].text == "我的包裹怎麼還沒到?都一個禮拜了"
    # GBK header logs: start = clock time − started_at time (gbk-002 starts at 16:20:00, first message 16:20:03).
    assert conv["gbk-002"].started_at == datetime(2026, 11, 7, 16, 20, tzinfo=CST)
    assert starts(conv["gbk-002"])[:3] == [3.0, 8.0, 30.0]
    assert conv["gbk-001"].agent_id == "35" and conv["gbk-001"].meta == {"scorecard": "ecommerce"}
    assert "应该是13812345678" in conv["gbk-001"].turns[5].text  # a two-line message
    # G:/K: logs: two-line messages, metadata comments.
    tb = conv["tb-001"]
    assert (tb.agent_id, tb.team, tb.channel, tb.meta) == ("8", "售后一组", "chat", {"scorecard": "ecommerce"})
    assert any("\n" in t for t in texts(tb))
    # CSV with BOM, CRLF and Excel's doubled quotes; XLSX with every cell a string.
    assert any('"' in t and "," in t for t in texts(conv["csv-001"]))
    assert conv["csv-001"].started_at == datetime(2026, 11, 3, 14, 0, 5)
    assert conv["xlsx-001"].agent_id == "21" and conv["xlsx-001"].team == "售后二组"
    # ASR: the customer speaks first, the agent is whoever greets; FunASR milliseconds → seconds.
    funasr = conv["call_20261102_093105"]
    assert roles(funasr)[:2] == ["customer", "agent"] and funasr.channel == "call"
    assert funasr.turns[0].start == 0.4
    assert roles(conv["whisper_call.json"])[:2] == ["customer", "agent"]
    assert roles(conv["call.srt"])[:2] == ["agent", "customer"] and roles(conv["call.vtt"])[:2] == ["agent", "customer"]


def test_folders_are_walked_in_order_skipping_unknown_files(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.jsonl", "a.txt", "README.md", ".hidden.jsonl", "notes.docx"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in iter_files([tmp_path])] == ["a.txt", "b/2.jsonl"]
    assert detect_format(Path("x.NDJSON")) == "jsonl" and detect_format(Path("x.tsv")) == "csv"
    assert detect_format(Path("x.log")) == "text" and detect_format(Path("x.pdf")) is None


# --- canonical JSON Lines and JSON -------------------------------------------------------------


def test_jsonl_keeps_every_canonical_field(tmp_path):
    record = {
        "id": "c0001",
        "channel": "call",
        "agent_id": 8,
        "team": "售后一组",
        "started_at": "2026-11-01T10:00:00+08:00",
        "duration": 7.5,
        "audio": "rec/c0001.wav",
        "meta": {"scorecard": "core", "audio_channels": {"agent": 0, "customer": 1}},
        "turns": [
            {"role": "customer", "text": "有人在吗?", "start": 0.0, "end": 1.0},
            {"role": "agent", "text": "您好,我是客服8号,很高兴为您服务", "start": 6.0, "end": 7.0},
            {"role": "system", "text": "会话结束", "start": None, "end": None},
        ],
    }
    path = tmp_path / "c.jsonl"
    path.write_text(dump([record, {**GOOD, "id": "c0002"}]), encoding="utf-8")
    (first, second), errors = read(path)
    assert errors == []
    assert first.agent_id == "8"  # integer agent numbers become text
    assert first.started_at == datetime(2026, 11, 1, 10, 0, tzinfo=CST)
    assert (first.channel, first.team, first.duration, first.audio) == ("call", "售后一组", 7.5, "rec/c0001.wav")
    assert first.meta["audio_channels"] == {"agent": 0, "customer": 1}
    assert roles(first) == ["customer", "agent", "system"]
    assert [(t.start, t.end) for t in first.turns] == [(0.0, 1.0), (6.0, 7.0), (None, None)]
    assert (second.id, second.channel, second.started_at) == ("c0002", "chat", None)


def test_json_array_single_object_and_json_lines_saved_as_json(tmp_path):
    array = tmp_path / "array.json"
    array.write_text(json.dumps([GOOD, {**GOOD, "id": "g2"}], ensure_ascii=False, indent=2), encoding="utf-8")
    assert [c.id for c in read(array)[0]] == ["g1", "g2"]
    single = tmp_path / "single.json"
    single.write_text(json.dumps(GOOD, ensure_ascii=False), encoding="utf-8")
    assert [c.id for c in read(single)[0]] == ["g1"]
    lines = tmp_path / "lines.json"
    lines.write_text(dump([GOOD, {**GOOD, "id": "g2"}]), encoding="utf-8")
    assert [c.id for c in read(lines)[0]] == ["g1", "g2"]


def test_messy_whitespace_is_cleaned_for_display(tmp_path):
    path = tmp_path / "w.jsonl"
    path.write_text(
        dump([{"id": "w", "turns": [{"role": "agent", "text": "  您好　　请问 \t 有什么\r\n\r\n  可以帮您  "}]}]),
        encoding="utf-8",
    )
    (conv,), _ = read(path)
    assert conv.turns[0].text == "您好 请问 有什么\n可以帮您"


# --- plain-text logs ---------------------------------------------------------------------------


def test_text_log_role_lines_and_separators(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text(
        "客服：您好，请问有什么可以帮您？\n客户: 我的快递三天了还没到\n请帮我查一下\n"
        "\n"  # a blank line ends a conversation
        "G: 在吗\nK：在的亲\n系统：会话已转接\n"
        "---\n"
        "坐席：您好\n用户：我要退货\n"
        "----------\n\n"
        "客服小王: 欢迎光临\n买家: 能便宜点吗\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert errors == []
    assert [c.id for c in conversations] == ["chat-1", "chat-2", "chat-3", "chat-4"]
    first, taobao, third, fourth = conversations
    assert roles(first) == ["agent", "customer"]
    assert texts(first) == ["您好，请问有什么可以帮您？", "我的快递三天了还没到\n请帮我查一下"]
    assert roles(taobao) == ["customer", "agent", "system"] and texts(taobao)[:2] == ["在吗", "在的亲"]
    assert roles(third) == ["agent", "customer"] and texts(third) == ["您好", "我要退货"]
    assert fourth.agent_id == "小王" and roles(fourth) == ["agent", "customer"]
    assert all(t.start is None for c in conversations for t in c.turns)


def test_text_log_headers_with_times_and_metadata(tmp_path):
    path = tmp_path / "headers.txt"
    path.write_text(
        "# id: h-1\n# agent_id: 8\n# team: 售后一组\n# channel: chat\n"
        "# started_at: 2026-11-01T10:00:00+08:00\n# scorecard: ecommerce\n# shop: 旗舰店\n"
        "客户 10:00:05\n在吗\n"
        "客服8号 10:00:12\n\n您好，很高兴为您服务\n请问有什么可以帮您\n"
        "客户 10:01:02\n我要退货\n"
        "---\n"
        "客服8号 2026-11-01 23:59:50\n您好\n用户 2026-11-02 00:00:05\n在吗\n"
        "---\n"
        "坐席35号 23:59:58\n您好\n客户 00:00:03\n你好\n",
        encoding="utf-8",
    )
    (first, dated, midnight), errors = read(path)
    assert errors == []
    assert (first.id, first.agent_id, first.team, first.channel) == ("h-1", "8", "售后一组", "chat")
    assert first.meta == {"scorecard": "ecommerce", "shop": "旗舰店"}
    assert first.started_at == datetime(2026, 11, 1, 10, 0, tzinfo=CST)
    assert starts(first) == [5.0, 12.0, 62.0]  # seconds since started_at
    assert texts(first) == ["在吗", "您好，很高兴为您服务\n请问有什么可以帮您", "我要退货"]
    assert dated.agent_id == "8" and dated.started_at == datetime(2026, 11, 1, 23, 59, 50)
    assert starts(dated) == [0.0, 15.0]
    assert midnight.agent_id == "35" and starts(midnight) == [0.0, 5.0]  # past midnight


def test_metadata_after_messages_starts_the_next_conversation(tmp_path):
    """`# id: p-2` right under p-1's last message (no blank line, no ---) was read as more of that message: p-1's
    last turn was `好的\n# id: p-2` and p-2 was never stored. Metadata after messages starts a new conversation, and
    one that has metadata but no message (m-2) is reported by its id, not dropped."""
    path = tmp_path / "p.txt"
    path.write_text(
        "# id: p-1\n客服: 您好，很高兴为您服务\n客户: 查订单\n客服: 好的\n"
        "# id: p-2\n# agent_id: 8\n客服: 您好\n客户: 退款\n"
        "# id: m-2\n---\n"
        "# id: p-3\n客服: 再见\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert [c.id for c in conversations] == ["p-1", "p-2", "p-3"]
    p1, p2, p3 = conversations
    assert texts(p1) == ["您好，很高兴为您服务", "查订单", "好的"]
    assert texts(p2) == ["您好", "退款"] and p2.agent_id == "8"
    assert texts(p3) == ["再见"]
    assert [str(e) for e in errors] == [f"{path}:9: 会话 'm-2'：只有 # 开头的信息行，没有消息"]


# --- CSV and XLSX --------------------------------------------------------------------------------


def test_csv_default_chinese_headers(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(
        (
            "会话ID,角色,内容,时间,坐席工号,班组,渠道\r\n"
            "c1,客户,在吗,2026-11-03 14:00:00,8,售后一组,chat\r\n"
            'c1,客服,"您好,在的,""亲""",2026-11-03 14:00:04,8,售后一组,chat\r\n'
            "c2,用户,hi,2026-11-03 15:00:00,9,,\r\n"
            "c2,坐席,您好,2026-11-03 15:00:10,9,,\r\n"
        ).encode("utf-8-sig")
    )
    (c1, c2), errors = read(path)
    assert errors == []
    assert (c1.id, c1.agent_id, c1.team, c1.channel) == ("c1", "8", "售后一组", "chat")
    assert texts(c1) == ["在吗", '您好,在的,"亲"'] and roles(c1) == ["customer", "agent"]
    assert c1.started_at == datetime(2026, 11, 3, 14, 0) and starts(c1) == [0.0, 4.0]
    assert (c2.agent_id, c2.team) == ("9", None) and starts(c2) == [0.0, 10.0]


def test_csv_traditional_and_full_width_headers(tmp_path):
    """A Traditional export (會話ID, 坐席工號, 班組) lost its ids, agents and teams: only 角色/內容/時間 were listed."""
    path = tmp_path / "trad.csv"
    path.write_text(
        "會話ID,角色,內容,時間,坐席工號,班組,ＣＨＡＮＮＥＬ\nt1,客戶,在嗎,2026-11-03 14:00:00,8,售後一組,chat\n"
        "t1,客服,您好,2026-11-03 14:00:04,8,售後一組,chat\n",
        encoding="utf-8",
    )
    (conv,), errors = read(path)
    assert errors == [] and (conv.id, conv.agent_id, conv.team, conv.channel) == ("t1", "8", "售後一組", "chat")
    (conv,), _ = read(path, columns=parse_column_map(["agent_id=坐席工号"]))  # an override typed in Simplified
    assert conv.agent_id == "8"


def test_csv_column_override_tsv_and_numeric_times(tmp_path):
    path = tmp_path / "custom.csv"
    path.write_text("对话,发送人,消息正文,秒\nx,客服,您好,0\nx,客户,嗯,2.5\n", encoding="utf-8")
    conversations, errors = read(path)
    assert conversations == [] and len(errors) == 1
    assert str(errors[0]).startswith(f"{path}:1: 找不到 role、text 列") and "--columns" in str(errors[0])
    mapping = parse_column_map(["conversation_id=对话,role=发送人", "text=消息正文", "time=秒"])
    assert mapping == {"conversation_id": "对话", "role": "发送人", "text": "消息正文", "time": "秒"}
    (conv,), errors = read(path, columns=mapping)
    assert errors == [] and conv.id == "x" and texts(conv) == ["您好", "嗯"] and starts(conv) == [0.0, 2.5]
    tsv = tmp_path / "export.tsv"
    tsv.write_text("会话ID\t角色\t内容\nt\tagent\t您好，欢迎\nt\tcustomer\t在吗\n", encoding="utf-8")
    (conv,), _ = read(tsv)
    assert roles(conv) == ["agent", "customer"] and texts(conv)[0] == "您好，欢迎"


def test_rows_without_conversation_id_group_by_file_name(tmp_path):
    """A chat saved alone needs no id column: it is one conversation named after the file, and a note says so (with
    the option that names the id column, should the file hold more than one)."""
    path = tmp_path / "one-chat.csv"
    path.write_text("角色,内容\n客户,在吗\n客服,在的\n", encoding="utf-8")
    (conv,), (note,) = read(path)
    assert conv.id == "one-chat" and roles(conv) == ["customer", "agent"]
    assert note.note  # nothing was left out: a note, no error, and the file is done
    assert str(note) == (
        f"{path}:1: 找不到会话ID列，整个文件读成了一个会话“one-chat”（表头：角色, 内容）；"
        "如果文件里有多个会话，请加一列 会话ID（命令行也可用 --columns conversation_id=<列名> 指定）"
    )
    # Columns of its own that are no ids: a sender's name changing from row to row, times repeated within a second
    named = tmp_path / "named.csv"
    named.write_text(
        "发送人,角色,内容,发送时刻\n小王,客服,您好,2026-11-03 14:00:00\n张先生,客户,在吗,2026-11-03 14:00:00\n"
        "小王,客服,在的,2026-11-03 14:00:05\n",
        encoding="utf-8",
    )
    (conv,), (note,) = read(named)
    assert conv.id == "named" and texts(conv) == ["您好", "在吗", "在的"] and "整个文件读成了一个会话" in str(note)
    # a message type in blocks of rows (文本, 文本, 图片, 图片) is no id: ids hold a digit
    typed = tmp_path / "typed.csv"
    typed.write_text(
        "消息类型,角色,内容\n文本,客户,在吗\n文本,客服,在的\n图片,客户,[图片]\n图片,客服,收到\n", encoding="utf-8"
    )
    (conv,), (note,) = read(typed)
    assert conv.id == "typed" and len(conv.turns) == 4 and "整个文件读成了一个会话" in str(note)


def test_a_column_of_conversation_ids_not_recognised_is_not_merged_into_one_conversation(tmp_path):
    """`conv,sender,message` with rows of k-1 and k-2: the id header was not recognised, and the whole file became one
    conversation named after it, scored as one, without a word. A column of the file's own whose values come in blocks
    of rows, as ids do, says the file holds several: it is not read, and the error names the option that reads it."""
    path = tmp_path / "export.csv"
    path.write_text(
        "conv,sender,message\nk-1,customer,我要退货\nk-1,agent,好的，马上为您处理\nk-2,customer,在吗\nk-2,agent,在的\n",
        encoding="utf-8",
    )
    conversations, (error,) = read(path)
    assert conversations == [] and str(error) == (
        f"{path}:1: 找不到会话ID列，而“conv”列像是会话ID（2 个值，如 k-1、k-2）：没有把整个文件当作一个会话读入；"
        "请把这一列的表头改为 会话ID（命令行也可用 --columns conversation_id=conv 指定）"
    )
    (k1, k2), errors = read(path, columns=parse_column_map(["conversation_id=conv"]))  # what the error says to do
    assert errors == [] and [k1.id, k2.id] == ["k-1", "k-2"] and texts(k2) == ["在吗", "在的"]


@pytest.mark.parametrize("spec", [["txt=内容"], ["text="], ["role"]])
def test_bad_column_mapping_is_refused(spec):
    with pytest.raises(ValueError, match="字段=表头"):
        parse_column_map(spec)


def test_a_workbook_that_unpacks_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """An XLSX is a zip: a few hundred KB could unpack to gigabytes in the server's memory. A workbook over the bound
    (here lowered to 1 KB, under what any workbook unpacks to) is an error naming it, for conversations and call lists."""
    from openpyxl import Workbook

    from zuoxi.campaigns.calllist import read_table
    from zuoxi.ingest import table

    book = Workbook()
    book.active.append(["会话ID", "角色", "内容"])
    book.active.append(["x1", "客户", "你好"])
    path = tmp_path / "export.xlsx"
    book.save(path)
    assert [c.id for c in read(path)[0]] == ["x1"]
    monkeypatch.setattr(table, "MAX_XLSX_UNPACKED", 1024)
    conversations, errors = read(path)
    assert conversations == [] and "超过工作簿最多的" in str(errors[0]) and "export.xlsx" in str(errors[0])
    rows, errors = read_table(path, "list.xlsx")  # import_call_list reports it as the file's error
    assert list(rows) == [] and "超过工作簿最多的" in str(errors[0]) and str(errors[0]).startswith("list.xlsx: ")


def test_xlsx_default_headers_typed_cells_and_override(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["会话ID", "角色", "内容", "时间", "坐席工号"])
    sheet.append(["x1", "客户", "你好，拉鏈拉不動", datetime(2026, 10, 6, 14, 10), 21])
    sheet.append(["x1", "客服", "您好，我是客服21号", datetime(2026, 10, 6, 14, 10, 30), 21])
    sheet.append(["x2", "客户", "  ", datetime(2026, 10, 6, 15, 0), 21])  # empty rows are skipped
    sheet.append(["x2", "客服", "在的", datetime(2026, 10, 6, 15, 0), 21])
    path = tmp_path / "export.xlsx"
    book.save(path)
    (x1, x2), errors = read(path)
    assert errors == []
    assert x1.agent_id == "21" and x1.started_at == datetime(2026, 10, 6, 14, 10) and starts(x1) == [0.0, 30.0]
    assert texts(x1) == ["你好，拉鏈拉不動", "您好，我是客服21号"]
    assert roles(x2) == ["agent"]

    other = Workbook()
    other.active.append(["编号", "说话人", "正文"])
    other.active.append(["y", "坐席", "您好"])
    custom = tmp_path / "custom.xlsx"
    other.save(custom)
    assert "找不到 role、text 列" in str(read(custom)[1][0])
    (conv,), _ = read(custom, columns=parse_column_map(["conversation_id=编号,role=说话人,text=正文"]))
    assert conv.id == "y" and roles(conv) == ["agent"]


# --- ASR: FunASR, Whisper, SRT, WebVTT, role map -------------------------------------------------


def test_funasr_milliseconds_become_seconds_and_greeting_picks_the_agent(tmp_path):
    path = tmp_path / "funasr.json"
    path.write_text(
        json.dumps(
            {
                "key": "k1",
                "text": "…",
                "sentence_info": [
                    {"text": "喂，我的快递怎么还没到", "start": 0, "end": 1500, "spk": 0},
                    {"text": "您好，我是顺丰客服，很高兴为您服务", "start": 1800, "end": 4250, "spk": 1},
                    {"text": "麻烦报一下单号", "start": 5000, "end": 6020, "spk": 1},
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    (conv,), errors = read(path)
    assert errors == []
    assert (conv.id, conv.channel, conv.duration) == ("k1", "call", 6.02)
    assert roles(conv) == ["customer", "agent", "agent"]
    assert [(t.start, t.end) for t in conv.turns] == [(0.0, 1.5), (1.8, 4.25), (5.0, 6.02)]
    (forced,), _ = read(path, agent_speaker="0")
    assert roles(forced) == ["agent", "customer", "customer"]


def test_funasr_list_of_results(tmp_path):
    path = tmp_path / "batch.json"
    path.write_text(
        json.dumps(
            [
                {"key": "a", "sentence_info": [{"text": "您好，很高兴为您服务", "start": 0, "end": 1000, "spk": 0}]},
                {
                    "key": "b",
                    "sentence_info": [
                        {"text": "在吗", "start": 0, "end": 500, "spk": 3},
                        {"text": "您好，工号1234为您服务", "start": 600, "end": 900, "spk": 2},
                    ],
                },
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    (a, b), errors = read(path)
    assert errors == [] and (a.id, b.id) == ("a", "b")
    assert roles(a) == ["agent"] and roles(b) == ["customer", "agent"]


def test_whisper_segments_speakers_and_inline_tags(tmp_path):
    path = tmp_path / "whisper.json"
    path.write_text(
        json.dumps(
            {
                "text": "",
                "language": "zh",
                "segments": [
                    {"id": 0, "start": 0.0, "end": 2.0, "text": " 喂？谁啊", "speaker": "SPEAKER_00"},
                    {
                        "id": 1,
                        "start": 2.5,
                        "end": 6.0,
                        "text": "您好，我是建设银行信用卡中心客服代表",
                        "speaker": "SPEAKER_01",
                    },
                    {"id": 2, "start": 6.5, "end": 7.0, "text": "哦", "speaker": "SPEAKER_00"},
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    (conv,), _ = read(path)
    assert roles(conv) == ["customer", "agent", "customer"] and texts(conv)[0] == "喂？谁啊"
    assert (conv.turns[1].start, conv.turns[1].end, conv.duration) == (2.5, 6.0, 7.0)
    assert roles(read(path, agent_speaker="SPEAKER_00")[0][0]) == ["agent", "customer", "agent"]
    tagged = tmp_path / "tagged.json"
    tagged.write_text(
        json.dumps(
            {"segments": [{"start": 0, "end": 1, "text": "[客户] 喂"}, {"start": 1, "end": 2, "text": "客服：您好"}]},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    (conv,), _ = read(tagged)
    assert roles(conv) == ["customer", "agent"] and texts(conv) == ["喂", "您好"]


def test_srt_with_speaker_tags(tmp_path):
    path = tmp_path / "call.srt"
    path.write_text(
        "1\n00:00:00,000 --> 00:00:02,500\n[客服] 您好，\n请讲\n\n"
        "2\n00:00:03,000 --> 00:01:05,120\n客户：我的快递呢\n\n"
        "3\n01:00:00,000 --> 01:00:01,000\n【坐席】好的\n",
        encoding="utf-8",
    )
    (conv,), errors = read(path)
    assert errors == []
    assert [(t.role, t.text, t.start, t.end) for t in conv.turns] == [
        ("agent", "您好，请讲", 0.0, 2.5),
        ("customer", "我的快递呢", 3.0, 65.12),
        ("agent", "好的", 3600.0, 3601.0),
    ]
    assert conv.channel == "call" and conv.duration == 3601.0


def test_webvtt_voice_tags_and_cue_settings(tmp_path):
    path = tmp_path / "call.vtt"
    path.write_text(
        "WEBVTT\n\nNOTE exported\n\n1\n00:00.000 --> 00:02.000\n<v 坐席>您好</v>\n\n"
        "00:00:02.500 --> 00:00:04.000 align:start\n<v.loud 客户>你好<b>啊</b>\n",
        encoding="utf-8",
    )
    (conv,), errors = read(path)
    assert errors == []
    assert [(t.role, t.text, t.start, t.end) for t in conv.turns] == [
        ("agent", "您好", 0.0, 2.0),
        ("customer", "你好啊", 2.5, 4.0),
    ]


def test_subtitle_speakers_without_role_words_use_the_greeting(tmp_path):
    path = tmp_path / "anon.srt"
    path.write_text(
        "1\n00:00:00,000 --> 00:00:01,000\n[A] 喂\n\n2\n00:00:01,500 --> 00:00:04,000\n"
        "[B] 您好，我是悦衣旗舰店客服，很高兴为您服务\n",
        encoding="utf-8",
    )
    (conv,), _ = read(path)
    assert roles(conv) == ["customer", "agent"]
    assert roles(read(path, agent_speaker="A")[0][0]) == ["agent", "customer"]


def test_role_map():
    segments = [
        {"speaker": "0", "text": "喂，你好"},
        {"speaker": "1", "text": "您好，我是银行客服代表，很高兴为您服务"},
        {"speaker": "0", "text": "什么事"},
    ]
    assert assign_roles(segments) == {"0": "customer", "1": "agent"}  # customer first, agent greets
    assert assign_roles(segments, agent_speaker="0") == {"0": "agent", "1": "customer"}
    # A Traditional greeting counts too.
    assert assign_roles([{"speaker": 5, "text": "在嗎"}, {"speaker": 7, "text": "您好，很高興為您服務"}]) == {
        "5": "customer",
        "7": "agent",
    }
    # No greeting at all: the one who says 您 more is the agent.
    plain = [{"speaker": "a", "text": "我的卡收到了"}, {"speaker": "b", "text": "好的，请您核对，您看一下"}]
    assert assign_roles(plain) == {"a": "customer", "b": "agent"}
    # Known tags are taken at their word.
    assert assign_roles([{"speaker": "客户", "text": "您好，我是客服"}, {"speaker": "客服", "text": "嗯"}]) == {
        "客户": "customer",
        "客服": "agent",
    }


# --- encodings ---------------------------------------------------------------------------------

SIMPLIFIED_LOG = "# id: enc\n客户：东西还没收到，我很着急\n客服：您好，我帮您查一下物流\n客户：谢谢\n"
TRADITIONAL_LOG = "# id: enc\n客戶：東西還沒收到，我很著急\n客服：您好，我幫您查一下物流\n客戶：謝謝\n"


@pytest.mark.parametrize(
    "encoding, body",
    [
        ("utf-8", SIMPLIFIED_LOG),
        ("utf-8-sig", SIMPLIFIED_LOG),
        ("gbk", SIMPLIFIED_LOG),
        ("gb18030", SIMPLIFIED_LOG),
        ("big5", TRADITIONAL_LOG),
        ("utf-8", TRADITIONAL_LOG),
        ("gb18030", TRADITIONAL_LOG),
    ],
)
def test_text_log_encodings(tmp_path, encoding, body):
    path = tmp_path / "log.txt"
    path.write_bytes(body.encode(encoding))
    (conv,), errors = read(path)
    assert errors == []
    expected = [line.split("：", 1)[1] for line in body.splitlines()[1:]]
    assert conv.id == "enc" and texts(conv) == expected  # exact text, Traditional kept as written
    assert roles(conv) == ["customer", "agent", "customer"]
    assert normalize_text(conv.turns[0].text) == "东西还没收到,我很着急"  # one matching form for both


@pytest.mark.parametrize("encoding", ["gbk", "big5", "utf-8-sig"])
def test_csv_and_jsonl_encodings(tmp_path, encoding):
    line = "您好，請問有什麼可以幫您" if encoding == "big5" else "您好，请问有什么可以帮您"
    csv_path = tmp_path / "export.csv"
    csv_path.write_bytes(
        f"会话ID,角色,内容\nc,客服,{line}\nc,客户,在嗎\n".encode(encoding)
        if encoding != "big5"
        else f"會話,角色,內容\nc,客服,{line}\nc,客戶,在嗎\n".encode(encoding)
    )
    columns = {"conversation_id": "會話"} if encoding == "big5" else {}
    (conv,), errors = read(csv_path, columns=columns)
    assert errors == [] and texts(conv) == [line, "在嗎"] and roles(conv) == ["agent", "customer"]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_bytes(dump([{"id": "j", "turns": [{"role": "agent", "text": line}]}]).encode(encoding))
    (conv,), errors = read(jsonl)
    assert errors == [] and texts(conv) == [line]


def test_utf16_export_and_subtitles_with_bom_and_crlf(tmp_path):
    tsv = tmp_path / "unicode-text.tsv"  # Excel's "Unicode text": UTF-16 with BOM, tabs
    tsv.write_bytes("会话ID\t角色\t内容\r\nu\t客服\t您好\r\nu\t客户\t在嗎\r\n".encode("utf-16"))
    (conv,), errors = read(tsv)
    assert errors == [] and texts(conv) == ["您好", "在嗎"] and roles(conv) == ["agent", "customer"]
    srt = tmp_path / "windows.srt"
    srt.write_bytes(
        "1\r\n00:00:00,000 --> 00:00:02,500\r\n[客服] 您好\r\n\r\n2\r\n00:00:03,000 --> 00:00:05,000\r\n"
        "[客户] 在吗\r\n".encode("utf-8-sig")
    )
    (conv,), errors = read(srt)
    assert errors == [] and [(t.role, t.text, t.start) for t in conv.turns] == [
        ("agent", "您好", 0.0),
        ("customer", "在吗", 3.0),
    ]


def test_decode_bytes_names_the_encoding():
    assert decode_bytes("您好".encode()) == ("您好", "utf-8")
    assert decode_bytes("\ufeff您好".encode("utf-8")) == ("您好", "utf-8-sig")
    text, name = decode_bytes(SIMPLIFIED_LOG.encode("gbk"))
    assert text == SIMPLIFIED_LOG and name == "gb18030"
    text, name = decode_bytes(TRADITIONAL_LOG.encode("big5"))
    assert text == TRADITIONAL_LOG and name == "big5"


# --- bad input: reported as file:line: reason, skipped, the rest goes on ------------------------


def test_malformed_json_line_names_file_and_line_and_the_rest_imports(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(GOOD, ensure_ascii=False),
                '{"id": "broken", "turns": [',
                json.dumps(
                    {"id": "bad-role", "turns": [{"role": "customer", "text": "x"}, {"role": "boss", "text": "y"}]}
                ),
                json.dumps(
                    {
                        "id": "bad-times",
                        "channel": "phone",
                        "turns": [{"role": "agent", "text": "x", "start": 3, "end": 1}],
                    }
                ),
                "",
                json.dumps({**GOOD, "id": "g9"}, ensure_ascii=False),
                "[1, 2]",
                json.dumps({**GOOD, "id": "extra", "priority": 1}, ensure_ascii=False),
            ]
        ),
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert [c.id for c in conversations] == ["g1", "g9"]
    messages = [str(e) for e in errors]
    assert messages[0].startswith(f"{path}:2: JSON 格式错误")
    assert messages[1] == f"{path}:3: turns.1.role：只能是 'agent'、'customer' 或 'system'"
    assert messages[2].startswith(f"{path}:4: channel：") and "turns.0：" in messages[2] and "早于 start" in messages[2]
    assert messages[3] == f"{path}:7: 应为一个会话（JSON 对象），却是数组"
    assert messages[4] == f"{path}:8: priority：不认识这个字段"
    assert [e.line for e in errors] == [2, 3, 4, 7, 8]


def test_the_models_own_checks_say_why_in_chinese_where_they_are_made():
    """Conversation and Turn raised their own problems in English, which the readers translated afterwards: every other
    place that shows a validation error (the web pages, the API) showed the English."""
    from pydantic import ValidationError

    from zuoxi.messages import said_all

    cases = [
        ({"id": "e", "turns": [{"role": "agent", "text": " "}]}, "turns：每一轮的文字都是空的"),
        (
            {"id": "t", "turns": [{"role": "agent", "text": "您好", "start": 5, "end": 2}]},
            "turns.0：end（2.0）早于 start（5.0）",
        ),
        (
            {"id": "n", "turns": [{"role": "agent", "text": "您好", "start": float("inf")}]},
            "turns.0：start 和 end 应为有限的秒数",
        ),
    ]
    for record, message in cases:
        with pytest.raises(ValidationError) as caught:
            Conversation.model_validate(record)
        assert said_all(caught.value.errors()) == message


def test_lines_break_where_an_editor_breaks_them(tmp_path):
    """U+2028, U+0085 and a form feed stand raw inside valid JSON strings (json.dumps(ensure_ascii=False)
    writes them so) and in pasted chat text: they are no line break, and later lines keep their numbers."""
    odd = "第一句\u2028第二句\x0c第三句\x85第四句\u2029完"
    path = tmp_path / "odd.jsonl"
    good = {"id": "odd", "turns": [{"role": "customer", "text": odd}]}
    path.write_text(
        json.dumps(good, ensure_ascii=False)
        + "\r\n"
        + "{broken\r\n"
        + json.dumps({**GOOD, "id": "g3"}, ensure_ascii=False),
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert [c.id for c in conversations] == ["odd", "g3"] and conversations[0].turns[0].text == odd
    assert [e.line for e in errors] == [2]
    log = tmp_path / "odd.txt"
    log.write_text(f"客服：您好\n客户：{odd}\n客服：好的\n---\n随便说一句\n", encoding="utf-8")
    conversations, errors = read(log)
    assert texts(conversations[0]) == ["您好", odd, "好的"] and [e.line for e in errors] == [5]


def test_json_array_error_points_at_the_element_line(tmp_path):
    path = tmp_path / "array.json"
    path.write_text(
        json.dumps(
            [GOOD, {"id": "b", "turns": [{"role": "agent"}]}, {**GOOD, "id": "c"}], ensure_ascii=False, indent=2
        ),
        encoding="utf-8",
    )
    conversations, (error,) = read(path)
    assert [c.id for c in conversations] == ["g1", "c"]
    assert str(error) == f"{path}:15: 第 2 项：turns.0.text：必须填写"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.jsonl", b"", "空文件"),
        ("blank.txt", b"  \n\n", "空文件"),
        ("empty.xlsx", b"", "空文件"),
        ("nothing.json", b"[]", "文件里没有会话"),
        ("header-only.csv", "会话ID,角色,内容\n".encode(), "文件里没有会话"),
        ("separators.txt", b"---\n---\n", "文件里没有会话"),
        ("scalar.json", b"42", "应为一个会话（JSON 对象），却是整数"),
        ("null.json", b"null", "应为一个会话（JSON 对象），却是null"),
        ("text.json", b'"hello"', "应为一个会话（JSON 对象），却是字符串"),
        ("report.doc", b"hello", "认不出文件格式（扩展名 .doc）"),
        ("noext", b"hello", "认不出文件格式（扩展名 无）"),
        ("binary.jsonl", bytes(range(256)) * 4, "认不出文字编码"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(128, 256)), "认不出文字编码"),
        ("not-a-workbook.xlsx", b"hello, I am text", "不是能读的 XLSX 工作簿"),
        (
            "bad-funasr.json",
            json.dumps({"sentence_info": [{"text": "您好", "start": "soon"}]}).encode(),
            "funasr JSON 的结构不对",
        ),
        ("bad-funasr2.json", json.dumps({"sentence_info": "x"}).encode(), "第 1 项：没有 sentence_info 列表"),
        ("bad-whisper.json", json.dumps({"segments": [1, 2]}).encode(), "whisper JSON 的结构不对"),
        (
            "silent.json",
            json.dumps({"sentence_info": [{"text": " ", "start": 0, "end": 1}]}).encode(),
            "没有带文字的语音片段",
        ),
        ("no-cues.srt", b"hello\n", "没有字幕条目"),
    ],
)
def test_whole_file_problems(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    conversations, errors = read(path)
    assert conversations == [] and len(errors) == 1
    assert str(errors[0]).startswith(f"{path}:") and message in str(errors[0])


def test_wrong_shapes_of_whisper_lists_do_not_crash(tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([{"segments": [{"text": "您好", "start": 0, "end": 1}]}]), encoding="utf-8")
    conversations, errors = read(path)
    assert conversations == [] and len(errors) == 1 and "segments" in str(errors[0])


def test_truncated_xlsx(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["会话ID", "角色", "内容"])
    book.active.append(["x", "客服", "您好"])
    whole = tmp_path / "whole.xlsx"
    book.save(whole)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    conversations, (error,) = read(broken)
    assert conversations == [] and str(error).startswith(f"{broken}: 不是能读的 XLSX 工作簿")


def test_empty_conversations_are_refused(tmp_path):
    jsonl = tmp_path / "empty-turns.jsonl"
    jsonl.write_text(
        dump(
            [
                {"id": "e", "turns": [{"role": "agent", "text": "  "}, {"role": "customer", "text": ""}]},
                {"id": "none", "turns": []},
                GOOD,
            ]
        ),
        encoding="utf-8",
    )
    conversations, errors = read(jsonl)
    assert [c.id for c in conversations] == ["g1"]
    assert [str(e) for e in errors] == [
        f"{jsonl}:1: turns：每一轮的文字都是空的",
        f"{jsonl}:2: turns：不能为空",
    ]
    table = tmp_path / "empty.csv"  # a conversation whose rows are all empty disappeared without a word
    table.write_text("会话ID,角色,内容\nc-1,客户,在吗\nc-9,客服,\nc-1,客服,在的\nc-9,客户,  \n,,\n", encoding="utf-8")
    conversations, errors = read(table)
    assert [c.id for c in conversations] == ["c-1"] and [str(e) for e in errors] == [
        f"{table}:3: 会话 'c-9'：每一轮的文字都是空的"
    ]
    log = tmp_path / "empty.txt"
    log.write_text("客服：\n客户：\n\n# id: only-meta\n\n客服：您好\n", encoding="utf-8")
    conversations, errors = read(log)
    assert [texts(c) for c in conversations] == [["您好"]]
    assert [str(e) for e in errors] == [
        f"{log}:1: turns：每一轮的文字都是空的",
        f"{log}:4: 会话 'only-meta'：只有 # 开头的信息行，没有消息",
    ]


def test_text_log_line_without_speaker(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("hello there\n客服: 您好\n客户: 在吗\n---\n随便说一句\n", encoding="utf-8")
    conversations, errors = read(path)
    assert [texts(c) for c in conversations] == [["您好", "在吗"]]
    assert [str(e) for e in errors] == [
        f"{path}:1: 这一行开头不是说话人（客服:/客户:/G:/K:）：'hello there'",
        f"{path}:5: 这一行开头不是说话人（客服:/客户:/G:/K:）：'随便说一句'",
    ]


def test_a_third_speakers_lines_are_reported_not_glued_to_the_agents_turn(tmp_path):
    """路人甲: 插一句 after the agent's line was taken for more of the agent's message and judged as the agent's words.
    A label that starts two lines or more of a conversation (a short name, then a colon) and is no known speaker's is a
    third speaker: its lines are reported, and lost to the conversation, which is not stored (stored with the two
    parties' lines, it was scored without 路人甲's 我们要投诉: 100). One such line is more of the message — an agent's
    第一步：/温馨提示： lines look the same (a first version of this cost such conversations whole) — and so are lines
    that only hold a colon (an address, a time, a link); a 系统: line is the system's, a --- line a separator."""
    path = tmp_path / "chat.txt"
    path.write_text(
        "客服: 您好，请问有什么可以帮您\n路人甲: 插一句\n客户: 我要退货\n路人甲: 我们要投诉\n客服: 好的\n\n"
        "客户：我的地址改一下\n地址：北京市朝阳区\n10:30 以后在家\n网址：https://example.com/a\n"
        "客服小王：好的，已修改\n第一步：打开订单\n温馨提示：修改后不能再改\n\n"
        "客服：您好\n温馨提示：本店周日休息\n系统：会话已转接\n客户：好\n---\n客服：再见\n",
        encoding="utf-8",
    )
    (second, third, fourth), errors = read(path)
    unknown = "（应为 客服/客户/坐席/用户/系统、G/K 或 agent/customer）：这一行没有读入"
    assert [str(e) for e in errors] == [
        f"{path}:2: 认不出说话人 '路人甲'{unknown}",
        f"{path}:4: 认不出说话人 '路人甲'{unknown}",
        f"{path}:1: 会话 'chat-1' 有 2 行没有读入（第 2、4 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
    ]
    assert texts(second)[0] == "我的地址改一下\n地址：北京市朝阳区\n10:30 以后在家\n网址：https://example.com/a"
    assert texts(second)[1] == "好的，已修改\n第一步：打开订单\n温馨提示：修改后不能再改"
    assert texts(third) == ["您好\n温馨提示：本店周日休息", "会话已转接", "好"]
    assert roles(third) == ["agent", "system", "customer"] and texts(fourth) == ["再见"]


def test_a_third_speaker_costs_the_walkthroughs_complaint_its_conversation(tmp_path):
    """The walkthrough's c.txt: 路人甲's 我们要投诉 was dropped and c-1 stored and scored 100 on what was left."""
    path = tmp_path / "c.txt"
    path.write_text(
        "客服: 您好，很高兴为您服务\n客户: 我要退货，你们太差了\n路人甲: 我是他老婆，我们要投诉\n客服: 好的\n"
        "路人甲: 快点处理\n客服: 请问还有其他可以帮您的吗\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert conversations == [] and [(e.line, e.note) for e in errors] == [(3, False), (5, False), (1, False)]
    assert "会话 'c-1' 有 2 行没有读入（第 3、5 行）" in errors[-1].reason


def test_table_row_problems_name_the_line_and_cost_their_conversation_whole(tmp_path):
    """A conversation that lost rows to errors was stored and scored with the rows left (c as 您好, 好的: the customer's
    words gone), and stored again beside the whole one when the fixed file was imported. It is now reported, naming
    its id and the lines, and not stored; the file's other conversations are."""
    path = tmp_path / "rows.csv"
    path.write_text(
        "会话ID,角色,内容,时间\nc,客服,您好,2026-11-03 14:00:00\nc,老板,x,2026-11-03 14:00:01\n"
        "d,客户,在吗,2026-11-03 14:10:00\nc,客户,在吗,昨天\nc,客户,好的,2026-11-03 14:00:09\n"
        "d,客服,在的,2026-11-03 14:10:03\n",
        encoding="utf-8",
    )
    (conv,), errors = read(path)
    assert conv.id == "d" and texts(conv) == ["在吗", "在的"] and starts(conv) == [0.0, 3.0]
    assert [str(e) for e in errors] == [
        f"{path}:3: 认不出角色 '老板'（应为 客服/客户/坐席/用户/系统 或 agent/customer/system）",
        f"{path}:5: 认不出时间 '昨天'{TIME_FORMATS}",
        f"{path}:2: 会话 'c' 有 2 行没有读入（第 3、5 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
    ]


def test_subtitle_cue_without_speaker(tmp_path):
    path = tmp_path / "untagged.srt"
    path.write_text(
        "1\n00:00:00,000 --> 00:00:01,000\n[客服] 您好\n\n2\n00:00:01,000 --> 00:00:02,000\n我没有标签\n",
        encoding="utf-8",
    )
    conversations, (error,) = read(path)
    assert conversations == [] and str(error).startswith(f"{path}:6: 字幕没有标明说话人")


LOST_CALL = "：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入"


def test_a_subtitle_cue_whose_time_line_is_broken_is_reported_and_the_call_not_stored(tmp_path):
    """Two customer cues with a time line cut short (`00:00:0`) or mistyped (`->`) were dropped without a word: the
    call was stored with the agent's three cues and scored 100, the import said 错误 0 (walk_cli H3)."""
    path = tmp_path / "complaint.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\n[客服] 您好，我是客服8号\n\n"
        "2\n00:00:03,000 --> 00:00:0\n[客户] 我要投诉你们，东西坏了\n\n"
        "3\n00:00:05,000 --> 00:00:06,000\n[客服] 好的\n\n"
        "4\n00:00:07,000 -> 00:00:08,000\n[客户] 我要12315\n\n"
        "5\n00:00:09,000 --> 00:00:10,000\n[客服] 再见\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert conversations == []
    assert [str(e) for e in errors] == [
        f"{path}:6: 认不出字幕的时间行 '00:00:03,000 --> 00:00:0'（应为 00:00:01,000 --> 00:00:03,500），这条字幕没有读入",
        f"{path}:14: 认不出字幕的时间行 '00:00:07,000 -> 00:00:08,000'（应为 00:00:01,000 --> 00:00:03,500），"
        "这条字幕没有读入",
        f"{path}:2: 会话 'complaint.srt' 有 2 条字幕没有读入（第 6、14 行）" + LOST_CALL,
    ]


def test_subtitle_text_with_no_time_line_is_reported(tmp_path):
    """Another speaker's words after a blank line, or a cue whose time line is missing: its words were dropped in
    silence."""
    path = tmp_path / "gap.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\n[客服] 您好\n\n[客户] 我要退款\n\n"
        "3\n[客户] 还有运费\n\n4\n00:00:05,000 --> 00:00:06,000\n[客服] 好的\n\n5\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert conversations == [] and [(e.line, e.reason) for e in errors] == [
        (5, "这段文字前面没有字幕的时间行（应为 00:00:01,000 --> 00:00:03,500），没有读入"),
        (8, "这段文字前面没有字幕的时间行（应为 00:00:01,000 --> 00:00:03,500），没有读入"),
        (2, "会话 'gap.srt' 有 2 条字幕没有读入（第 5、8 行）" + LOST_CALL),
    ]  # the cue number 5 alone at the end holds no words: nothing lost


def test_a_cues_text_after_a_blank_line_is_that_cue_continued(tmp_path):
    """Some writers break a cue's text into paragraphs: the text after the blank line refused the whole call (review
    12). It is the cue's text continued, as players show it: its speaker's own tag left out, a tag that names no
    speaker kept as text, at the end of the file too."""
    path = tmp_path / "paragraphs.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:03,500\n[客服] 您好\n\n[客服] 请问有什么可以帮您\n\n[笑声]\n\n"
        "2\n00:00:04,000 --> 00:00:05,000\n[客户] 我要投诉\n\n客户说: 其实\n\n\n第二段话\n\n",
        encoding="utf-8",
    )
    (conv,), errors = read(path)
    assert errors == [] and roles(conv) == ["agent", "customer"]
    assert texts(conv) == ["您好请问有什么可以帮您[笑声]", "我要投诉客户说: 其实第二段话"]
    assert starts(conv) == [1.0, 4.0]
    vtt = tmp_path / "paragraphs.vtt"
    vtt.write_text(
        "WEBVTT\n\n00:01.000 --> 00:03.500\n<v 客服>您好\n\n<v 客服>请稍等\n\n"
        "00:04.000 --> 00:05.000\n<v 客户>好\n\n<v 客服>我查一下\n",
        encoding="utf-8",
    )
    conversations, errors = read(vtt)
    assert conversations == [] and [(e.line, e.reason) for e in errors] == [
        (11, "这段文字前面没有字幕的时间行（应为 00:00:01,000 --> 00:00:03,500），没有读入"),
        (3, "会话 'paragraphs.vtt' 有 1 条字幕没有读入（第 11 行）" + LOST_CALL),
    ]  # another speaker's voice after a blank line is a cue whose time line is missing


def test_a_diarized_speaker_not_seen_before_is_no_cue_continued(tmp_path):
    """Speech recognition labels its speakers SPEAKER_00, SPEAKER_01…: a cue of SPEAKER_01 that lost its number and
    time line, before any cue of theirs, is another speaker's words, not the agent's cue continued (review 2, 5)."""
    path = tmp_path / "diarized.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:03,000\n[SPEAKER_00] 您好，很高兴为您服务\n\n[SPEAKER_01] 我要投诉你们\n\n"
        "3\n00:00:05,000 --> 00:00:06,000\n[SPEAKER_00] 好的\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert conversations == [] and [(e.line, e.reason) for e in errors] == [
        (5, "这段文字前面没有字幕的时间行（应为 00:00:01,000 --> 00:00:03,500），没有读入"),
        (2, "会话 'diarized.srt' 有 1 条字幕没有读入（第 5 行）" + LOST_CALL),
    ]


def test_text_after_a_cue_not_read_goes_with_it_and_a_note_ends_a_cue(tmp_path):
    """The text that continues a cue whose time line is malformed is lost with that cue, reported once; after a cue
    number alone or a NOTE block, text is no cue's continued."""
    path = tmp_path / "broken.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\n[客服] 您好\n\n"
        "2\n00:00:04:000 --> 00:00:05:000\n[客户] 我要投诉\n\n后半句\n\n"
        "3\n00:00:06,000 --> 00:00:07,000\n[客服] 好的\n\n4\n\n[客户] 谢谢\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert conversations == [] and [(e.line, e.reason) for e in errors] == [
        (
            6,
            "认不出字幕的时间行 '00:00:04:000 --> 00:00:05:000'（应为 00:00:01,000 --> 00:00:03,500），这条字幕没有读入",
        ),
        (17, "这段文字前面没有字幕的时间行（应为 00:00:01,000 --> 00:00:03,500），没有读入"),
        (2, "会话 'broken.srt' 有 2 条字幕没有读入（第 6、17 行）" + LOST_CALL),
    ]
    vtt = tmp_path / "note.vtt"
    vtt.write_text("WEBVTT\n\n00:01.000 --> 00:02.000\n<v 客服>您好\n\nNOTE 备注\n\n还有一段\n", encoding="utf-8")
    conversations, errors = read(vtt)
    assert conversations == [] and [e.line for e in errors] == [8, 3]


def test_webvtt_errors_are_chinese_with_their_line(tmp_path):
    """An end before its start refused the whole file as `turns.0：end（2.0）早于 start（5.0）`: field names and no
    line (walk_cli L6)."""
    path = tmp_path / "call.vtt"
    path.write_text(
        "WEBVTT\n\n00:00:05.000 --> 00:00:02.000\n<v 客服>您好\n\n00:00:06.000 --> 00:00:07.000\n<v 客户>你好\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert conversations == [] and [str(e) for e in errors] == [
        f"{path}:3: 字幕的结束时间（00:00:02.000）早于开始时间（00:00:05.000），这条字幕没有读入",
        f"{path}:3: 会话 'call.vtt' 有 1 条字幕没有读入（第 3 行）" + LOST_CALL,
    ]
    long = tmp_path / "long.srt"
    long.write_text(f"1\n00:00:01,000 --> 00:00:02,000\n[客服] {'好' * 20_001}\n", encoding="utf-8")
    conversations, (error, _) = read(long)
    assert conversations == [] and str(error) == (
        f"{long}:2: 这条字幕有 20,001 个字，超过一句最多的 20,000 个字，没有读入"
    )


def test_webvtt_blocks_that_are_no_cues_are_not_reported(tmp_path):
    """The header (with its settings), NOTE, STYLE and REGION blocks and cue identifiers are WebVTT, not lost cues."""
    path = tmp_path / "full.vtt"
    path.write_text(
        "WEBVTT - 通话\nKind: captions\n\nSTYLE\n::cue { color: red }\n\nREGION\nid:left\n\n"
        "NOTE 导出于 10:00\n第二行\n\ncue-1\n00:00.000 --> 00:02.000\n<v 客服>您好\n\n"
        "2\n00:00:02.500 --> 00:00:04.000\n<v 客户>你好\n",
        encoding="utf-8",
    )
    (conv,), errors = read(path)
    assert errors == [] and texts(conv) == ["您好", "你好"]


def test_a_batch_of_good_and_bad_files_completes(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-good.jsonl").write_text(dump([GOOD, {**GOOD, "id": "g2"}]), encoding="utf-8")
    (folder / "b-bad-line.jsonl").write_text(json.dumps({**GOOD, "id": "g3"}) + "\n{oops\n", encoding="utf-8")
    (folder / "c-binary.txt").write_bytes(bytes(range(256)) * 4)
    (folder / "d-empty.csv").write_bytes(b"")
    (folder / "e-broken.xlsx").write_bytes(b"PK\x03\x04 truncated")
    (folder / "f-log.txt").write_text("nobody\n客服：您好\n", encoding="utf-8")
    (folder / "g-array.json").write_text("42", encoding="utf-8")
    reported: list[str] = []
    batch = Batch([folder], on_error=lambda e: reported.append(str(e)))
    ids = [item.conversation.id for item in batch.run()]
    assert ids == ["g1", "g2", "g3", "f-log-1"]
    assert batch.summary.read == 4 and batch.summary.files == 7
    assert reported == [str(e) for e in batch.summary.errors]
    assert [Path(e.path).name for e in batch.summary.errors] == [
        "b-bad-line.jsonl",
        "c-binary.txt",
        "d-empty.csv",
        "e-broken.xlsx",
        "f-log.txt",
        "g-array.json",
    ]
    assert (
        reported[0]
        == f"{folder / 'b-bad-line.jsonl'}:2: JSON 格式错误：这里应是带双引号的字段名，或多了逗号（第 2 列）"
    )
    assert reported[4].startswith(f"{folder / 'f-log.txt'}:1: ")


def test_missing_path_is_reported(tmp_path):
    ((_, error),) = list(read_paths([tmp_path / "missing.jsonl"]))
    assert str(error) == f"{tmp_path / 'missing.jsonl'}: 没有这个文件或文件夹"


def test_explicit_format_overrides_the_extension(tmp_path):
    path = tmp_path / "chat.dat"
    path.write_text("客服：您好\n客户：在吗\n", encoding="utf-8")
    assert "认不出文件格式" in str(read(path)[1][0])
    (conv,), _ = read(path, format="text")
    assert roles(conv) == ["agent", "customer"]
    assert "没有 'doc' 这种格式" in str(read(path, format="doc")[1][0])


def test_a_role_line_without_text_does_not_swallow_the_blank_separator(tmp_path):
    path = tmp_path / "picture.txt"
    path.write_text("客服：您好\n客户：\n\n客服：新的会话\n客户：在吗\n", encoding="utf-8")
    (first, second), errors = read(path)
    assert errors == []
    assert texts(first) == ["您好"] and texts(second) == ["新的会话", "在吗"]


def test_an_over_long_agent_id_is_an_error_of_its_line_and_the_rest_is_read(tmp_path):
    from zuoxi.ingest import read_file

    path = tmp_path / "long.jsonl"
    good = {"id": "ok", "turns": [{"role": "customer", "text": "你好"}]}
    path.write_text(
        json.dumps({**good, "id": "bad", "agent_id": "7" * 101}, ensure_ascii=False)
        + "\n"
        + json.dumps(good, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    records = list(read_file(path))
    errors = [r for r in records if not hasattr(r, "turns")]
    assert [r.id for r in records if hasattr(r, "turns")] == ["ok"]
    assert len(errors) == 1 and errors[0].line == 1 and "agent_id" in str(errors[0])


# --- hostile and broken input: one file, line or item costs only itself (probe report) --------


def test_an_unreadable_file_is_reported_and_the_batch_goes_on(tmp_path, store):
    unreadable = tmp_path / "a-mem.jsonl"  # a regular file that fails with EIO when read, even as root
    unreadable.symlink_to("/proc/self/mem")
    (tmp_path / "b-good.jsonl").write_text(dump([GOOD]), encoding="utf-8")
    batch = Batch([tmp_path / "a-mem.jsonl", tmp_path / "b-good.jsonl"], store=store)
    assert [item.conversation.id for item in batch.run()] == ["g1"]
    assert [str(e) for e in batch.summary.errors] == [f"{unreadable}: 读取失败：磁盘读取出错"]


def test_pipes_and_devices_are_refused_not_read(tmp_path):
    import os
    import threading

    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        found: list = []  # read in a daemon thread: reading a pipe would block, /dev/zero fill memory
        reader = threading.Thread(target=lambda p=path, out=found: out.extend(read(p, format="jsonl")), daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert found == [
            [],
            [IngestError(str(path), None, "不是普通文件（文件夹、管道或设备无法读取）")],
        ]


def test_a_pipe_in_a_folder_is_reported_and_counted_not_opened(tmp_path):
    """A pipe named like an input file was skipped in silence and not counted in 文件 N (walk_cli L3); opened, it
    would hang the batch."""
    import os
    import threading

    (tmp_path / "a-good.jsonl").write_text(dump([GOOD]), encoding="utf-8")
    os.mkfifo(tmp_path / "b-pipe.jsonl")
    batch = Batch([tmp_path], analyze=True, models=False)
    ran: list = []  # in a daemon thread: a pipe opened for reading would block
    runner = threading.Thread(target=lambda: ran.extend(batch.run()), daemon=True)
    runner.start()
    runner.join(timeout=20)
    assert [item.conversation.id for item in ran] == ["g1"] and batch.summary.files == 2
    assert [str(e) for e in batch.summary.errors] == [
        f"{tmp_path / 'b-pipe.jsonl'}: 不是普通文件（文件夹、管道或设备无法读取）"
    ]
    assert [file.name for file in input_files([tmp_path])] == ["a-good.jsonl", "b-pipe.jsonl"]


def test_a_bad_line_in_a_file_with_a_byte_order_mark_costs_that_line(tmp_path):
    good = [json.dumps(GOOD, ensure_ascii=False), json.dumps({**GOOD, "id": "g2"}, ensure_ascii=False)]
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + good[0].encode() + b"\n\xff\xff\n" + good[1].encode() + b"\n")
    utf16 = tmp_path / "utf16.jsonl"  # odd length: the last character is cut
    utf16.write_bytes((good[0] + "\n" + good[1] + "\n").encode("utf-16") + b"\n")
    for path, bad_line in ((bom, 2), (utf16, 3)):
        conversations, (error,) = read(path)
        assert [c.id for c in conversations] == ["g1", "g2"]
        assert str(error) == f"{path}:{bad_line}: 编码错误：这一行有不属于本文件文字编码的字节"
    whole = tmp_path / "bom.json"  # one JSON document: the file is the unit
    whole.write_bytes(b"\xef\xbb\xbf[\xff]")
    assert "内容却不是有效的 utf-8-sig" in str(read(whole)[1][0])


def test_one_bad_byte_costs_its_line_not_the_file(tmp_path):
    jsonl = tmp_path / "bad.jsonl"
    bad = json.dumps({**GOOD, "id": "bad"}, ensure_ascii=False).encode().replace("在吗".encode(), b"\xff\xfe\xff")
    jsonl.write_bytes(dump([GOOD]).encode() + bad + b"\n" + dump([{**GOOD, "id": "g3"}]).encode())
    log = tmp_path / "bad.txt"
    log.write_bytes("客户：在吗\n".encode() + b"\xff\xfe\xff\n" + "客服：您好\n".encode())
    table = tmp_path / "bad.csv"
    table.write_bytes(
        "会话ID,角色,内容\nc,客户,在吗\n".encode() + b"c,\xff\xfe,x\n" + "c,客服,您好\nd,客户,在吗\n".encode()
    )
    conversations, (error,) = read(jsonl)
    assert [c.id for c in conversations] == ["g1", "g3"]
    assert str(error) == f"{jsonl}:2: 编码错误：这一行有不属于本文件文字编码的字节"
    conversations, errors = read(log)  # the line's conversation is not stored without it
    assert conversations == [] and [str(e) for e in errors] == [
        f"{log}:2: 编码错误：这一行有不属于本文件文字编码的字节",
        f"{log}:1: 会话 'bad-1' 有 1 行没有读入（第 2 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
    ]
    conversations, errors = read(table)  # the row's conversation is not stored without it
    assert [c.id for c in conversations] == ["d"] and [str(e) for e in errors] == [
        f"{table}:3: 编码错误：这一行有不属于本文件文字编码的字节",
        f"{table}:2: 会话 'c' 有 1 行没有读入（第 3 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
    ]


def test_a_text_log_of_gbk_and_utf8_conversations_reads_both(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(SIMPLIFIED_LOG.encode("gbk") + b"\n" + SIMPLIFIED_LOG.replace("enc", "u8").encode())
    (first, second), errors = read(path)
    assert errors == [] and [first.id, second.id] == ["enc", "u8"] and texts(first) == texts(second)
    assert texts(first)[0] == "东西还没收到，我很着急"


def test_a_utf8_file_with_one_gbk_line_reads_every_line_in_its_own_encoding(tmp_path):
    """GB18030 decodes nearly any bytes: a UTF-8 export with one line pasted from a GBK file was read whole as
    GB18030, every UTF-8 line garbled (a complaint missed) and no error said so."""
    lines = [{**GOOD, "id": f"u{i}", "turns": [{"role": "customer", "text": f"我要投诉你们{i}"}]} for i in range(3)]
    pasted = {**GOOD, "id": "gbk", "turns": [{"role": "customer", "text": "东西还没收到"}]}
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        dump(lines[:2]).encode()
        + json.dumps(pasted, ensure_ascii=False).encode("gbk")
        + b"\n"
        + dump(lines[2:]).encode()
    )
    conversations, errors = read(path)
    assert errors == [] and [c.id for c in conversations] == ["u0", "u1", "gbk", "u2"]
    assert [texts(c)[0] for c in conversations] == ["我要投诉你们0", "我要投诉你们1", "东西还没收到", "我要投诉你们2"]


def test_a_big5_line_in_a_utf8_file_is_read_as_big5_and_a_line_in_neither_is_reported(tmp_path):
    """A line that is not UTF-8 was read as GBK whatever it was: a Big5 line became 硂琌羉砰и璶癶砯 (with private-use
    characters), was scored and stored, and no error said so. The reading of ordinary Chinese wins; a line no reading
    makes Chinese of (Shift-JIS) is an encoding error of its line."""
    said = {
        "u1": ("utf-8", "我要投诉你们"),
        "b5": ("big5", "這是繁體字，我要退貨"),
        "gbk": ("gbk", "东西还没收到，我很着急"),
        "u2": ("utf-8", "您好，我帮您查一下物流"),
        "b5-2": ("big5", "還不錯，謝謝你們"),
        "b5-3": ("big5", "謝謝"),  # too short to tell alone (谅谅 in GBK): the file's other lines, more in Big5, decide
        "sjis": ("shift_jis", "こんにちは、返品したいです"),
        "u3": ("utf-8", "好的"),
    }
    path = tmp_path / "pasted.jsonl"
    path.write_bytes(
        b"".join(
            json.dumps({"id": id, "turns": [{"role": "customer", "text": text}]}, ensure_ascii=False).encode(encoding)
            + b"\n"
            for id, (encoding, text) in said.items()
        )
    )
    conversations, errors = read(path)
    assert {c.id: texts(c)[0] for c in conversations} == {id: text for id, (_, text) in said.items() if id != "sjis"}
    assert [str(e) for e in errors] == [f"{path}:7: 编码错误：这一行有不属于本文件文字编码的字节"]
    log = tmp_path / "pasted.txt"  # a GBK log with a Big5 conversation pasted in: GB18030 reads every byte of it
    log.write_bytes(SIMPLIFIED_LOG.encode("gbk") + b"\n" + TRADITIONAL_LOG.replace("enc", "tw").encode("big5"))
    (first, second), errors = read(log)
    assert errors == [] and texts(second)[0] == "東西還沒收到，我很著急" and texts(first)[0] == "东西还没收到，我很着急"
    one_line = tmp_path / "one-line.txt"  # a whole file of one line in Big5: charset-normalizer took it for GBK
    one_line.write_bytes("客戶：這是繁體字，我要退貨\n".encode("big5"))
    (conv,), errors = read(one_line)
    assert errors == [] and texts(conv) == ["這是繁體字，我要退貨"]


def _real_texts(count: int) -> list[str]:
    """`count` real Chinese texts of four characters and more: JD customer-service turns and shopping reviews from
    ../shared/data (skipped where it is absent)."""
    import csv
    import gzip
    import io
    import random

    data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    try:
        with gzip.open(data / "jddc_uss" / "dialogues.jsonl.gz", "rt", encoding="utf-8") as dialogues:
            found = [turn["text"] for line in dialogues for turn in json.loads(line)["turns"]]
        with gzip.open(data / "online_shopping_10_cats" / "train_dev.csv.gz", "rt", encoding="utf-8") as reviews:
            found += [row[-1] for row in list(csv.reader(io.StringIO(reviews.read())))[1:]]
    except OSError as error:
        pytest.skip(f"../shared/data is absent ({error})")
    found = [" ".join(t.split()) for t in found if sum(not c.isascii() for c in t) >= 4]
    random.Random(7).shuffle(found)
    return found[:count]


def test_gbk_and_big5_are_told_apart_on_real_text(tmp_path):
    """Real texts, as written (GBK) and in Traditional (OpenCC, Big5): pasted line by line into a UTF-8 JSON Lines
    file, and each alone as a whole file, they are read back as written but for a few that read as Chinese both ways.
    Before, every Big5 line of a UTF-8 file was read as GBK, and charset-normalizer took one short GBK file in a
    hundred for Big5."""
    import opencc

    from zuoxi.ingest.encoding import decode_lines

    traditional = opencc.OpenCC("s2tw")
    written = []
    for i, simplified in enumerate(_real_texts(1500)):
        encoding, text = ("big5", traditional.convert(simplified)) if i % 2 else ("gbk", simplified)
        try:
            written.append((encoding, text, text.encode(encoding)))
        except UnicodeEncodeError:  # a character the encoding has not (an emoji)
            continue
    assert len(written) > 1000
    lines = [json.dumps({"t": text}, ensure_ascii=False) for _, text, _ in written]
    pasted = b"".join(
        json.dumps({"t": "您好"}, ensure_ascii=False).encode() + b"\n" + line.encode(encoding) + b"\n"
        for line, (encoding, _, _) in zip(lines, written, strict=True)
    )
    read_back = decode_lines(pasted).split("\n")[1::2]
    wrong = [(line, back) for line, back in zip(lines, read_back, strict=False) if line != back]
    # 4 in 40,000 texts measured: a text of one character repeated (啦啦啦… is 罢罢罢… in GBK), an emoticon line
    assert len(wrong) <= len(written) // 500, wrong
    wrong = [text for encoding, text, data in written if decode_bytes(data)[0] != text]
    assert len(wrong) <= len(written) // 500, wrong


def test_json_nested_too_deep_is_a_bad_line_not_a_crash(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    jsonl = tmp_path / "deep.jsonl"
    jsonl.write_text(dump([GOOD]) + deep + "\n" + dump([{**GOOD, "id": "g3"}]), encoding="utf-8")
    conversations, (error,) = read(jsonl)
    assert [c.id for c in conversations] == ["g1", "g3"]
    assert str(error) == f"{jsonl}:2: JSON 格式错误：数组和对象嵌套太深"
    whole = tmp_path / "deep.json"
    whole.write_text(deep, encoding="utf-8")
    assert [str(e) for e in read(whole)[1]] == [f"{whole}:1: 第 1 项：JSON 格式错误：数组和对象嵌套太深"]


def test_a_file_too_big_to_read_whole_is_refused_and_the_next_is_read(tmp_path, monkeypatch):
    """A file is read whole: one over the bound (here 1 MB) is refused by its size before a byte is read (a 3 GB
    export ended in a MemoryError that lost the files after it)."""
    import zuoxi.ingest as ingest

    monkeypatch.setattr(ingest, "MAX_FILE_BYTES", 1 << 20)
    big, small = tmp_path / "a_big.jsonl", tmp_path / "b_small.jsonl"
    big.write_text(dump([{**GOOD, "id": f"b{i}"} for i in range(15_000)]), encoding="utf-8")
    small.write_text(dump([GOOD]), encoding="utf-8")
    records = [r for _, r in read_paths([tmp_path])]
    assert [r.id for r in records if isinstance(r, Conversation)] == ["g1"]
    assert [str(r) for r in records if isinstance(r, IngestError)] == [
        f"{big}: 文件有 {big.stat().st_size / 2**20:.1f} MB，超过单个文件最多的 1 MB；请拆成几个文件"
    ]


def test_half_a_utf16_pair_is_a_bad_line_not_a_crash(tmp_path, store):
    """JSON may escape half of a UTF-16 pair ("\\ud83d" alone): no encoding can write it, and printing or storing it
    failed the whole batch. It is that conversation's error, wherever it stands."""
    text = {**GOOD, "id": "s1", "turns": [{"role": "customer", "text": "坏了\ud83d"}]}
    meta = {**GOOD, "id": "s2", "meta": {"tags": ["ok", {"k": "\ud800"}]}}
    path = tmp_path / "surrogates.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (text, meta, {**GOOD, "id": "g3"})), encoding="utf-8")
    batch = Batch([path], store=store, analyze=True, models=False)
    assert [item.conversation.id for item in batch.run()] == ["g3"]
    assert [str(e) for e in batch.summary.errors] == [
        f"{path}:1: turns.0.text：含有不成对的 UTF-16 代理项（\\ud83d），不是文字",
        f"{path}:2: meta.tags.1.k：含有不成对的 UTF-16 代理项（\\ud800），不是文字",
    ]


def test_csv_times_with_and_without_a_zone_and_a_huge_cell(tmp_path):
    path = tmp_path / "zones.csv"
    path.write_text(
        "会话ID,角色,内容,时间\n"
        "a,客户,在吗,2026-11-03T14:00:05+08:00\na,客服,您好,2026-11-03 14:00:09\na,客户,好的,2026-11-03T14:00:20+08:00\n"
        "b,客户,在吗,2026-11-03 15:00:00\n",
        encoding="utf-8",
    )
    (b,), (error, skipped) = read(path)
    assert b.id == "b" and str(error) == f"{path}:3: 时间 '2026-11-03 14:00:09' 没有时区，与这个会话的第一个时间不同"
    assert (
        str(skipped)
        == f"{path}:2: 会话 'a' 有 1 行没有读入（第 3 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入"
    )
    huge = tmp_path / "huge.csv"
    huge.write_text(f"会话ID,角色,内容\nh,客户,{'长' * 200_000}\nok,客户,在吗\n", encoding="utf-8")
    (conv,), (error,) = read(huge)
    assert conv.id == "ok" and str(error) == (
        f"{huge}:2: 这一行的消息有 200,000 个字，超过一句最多的 20,000 个字：会话 'h' 整个都没有导入（不截断）"
    )


def test_a_cell_over_the_line_bound_is_its_rows_error(tmp_path):
    import csv

    bound = csv.field_size_limit(100)  # the csv module's limit is the process's: lowered here, set back below
    try:
        path = tmp_path / "cell.csv"
        path.write_text(f"会话ID,角色,内容\nh,客户,{'长' * 200}\nok,客户,在吗\n", encoding="utf-8")
        (conv,), (error,) = read(path)
    finally:
        csv.field_size_limit(bound)
    assert conv.id == "ok" and str(error) == f"{path}:2: CSV 行读不了：有个单元格超过 100 个字符的上限"


def test_text_log_started_at_near_the_datetime_limits(tmp_path, store):
    path = tmp_path / "limits.txt"
    path.write_text(
        "# started_at: 9999-12-31T23:00:00\n客服8号 00:30:00\n您好\n\n"
        "# started_at: 0001-01-01T00:00:00\n客服8号 23:30:00\n您好\n\n"
        "# started_at: 2026-11-03T23:00:00\n客服8号 00:30:00\n您好\n",
        encoding="utf-8",
    )
    batch = Batch([path], store=store, analyze=True, models=False)
    items = list(batch.run())
    assert [i.conversation.id for i in items] == ["limits-3"] and items[0].conversation.turns[0].start == 5400.0
    assert [str(e) for e in batch.summary.errors] == [
        f"{path}:1: started_at：年份 9999 不在 1900–2999 之间",
        f"{path}:5: started_at：年份 1 不在 1900–2999 之间",
    ]


def test_a_malformed_funasr_item_costs_only_itself(tmp_path):
    path = tmp_path / "multi.json"
    item = {"sentence_info": [{"text": "您好，很高兴为您服务", "start": 0, "end": 1000, "spk": 0}]}
    bad = {"key": "f-1", "sentence_info": [{"text": "在吗", "start": "abc", "spk": 1}]}
    path.write_text(json.dumps([{**item, "key": "f-0"}, bad, {**item, "key": "f-2"}]), encoding="utf-8")
    conversations, (error,) = read(path)
    assert [c.id for c in conversations] == ["f-0", "f-2"]
    assert (
        str(error)
        == f"{path}: 第 2 项：funasr JSON 的结构不对：sentence_info[0].start 应是数字（毫秒），却是字符串 'abc'"
    )


def test_conversations_over_the_bounds_are_reported_not_truncated(tmp_path, monkeypatch):
    from zuoxi.ingest import canonical

    path = tmp_path / "big.jsonl"
    long_turn = {"id": "long", "turns": [{"role": "customer", "text": "我要投诉" * 5001}]}
    many = {"id": "many", "turns": [{"role": "customer", "text": "在吗"}] * 2001}
    wordy = {"id": "wordy", "turns": [{"role": "customer", "text": "我要投诉" * 4000}] * 13}  # 16,000 a turn
    path.write_text(dump([long_turn, many, wordy, GOOD]), encoding="utf-8")
    conversations, errors = read(path)
    assert [c.id for c in conversations] == ["g1"]
    assert [str(e) for e in errors] == [
        f"{path}:1: turns.0.text：20004 个字，超过一轮最多的 20000 个字",
        f"{path}:2: turns：2001 轮，超过一个会话最多的 2000 轮",
        f"{path}:3: turns：共 208000 个字，超过一个会话最多的 200000 个字",
    ]
    monkeypatch.setattr(canonical, "MAX_LINE_CHARS", 100)
    conversations, errors = read(path)
    assert [c.id for c in conversations] == ["g1"] and str(errors[0]).startswith(f"{path}:1: 这一行有 ")
    assert str(errors[0]).endswith("个字符，超过一行最多的 100 个")


def test_error_messages_mask_personal_data(tmp_path):
    log = tmp_path / "pii.txt"
    log.write_text("我的电话13812345678请回电\n客服：您好\n", encoding="utf-8")
    table = tmp_path / "pii.csv"
    table.write_text(
        "会话ID,角色,内容,时间\nc,13812345678,在吗,\nc,客户,在吗,zhang.san@example.com\nc,客服,您好,\n",
        encoding="utf-8",
    )
    messages = [str(e) for path in (log, table) for e in read(path)[1]]
    assert messages == [
        f"{log}:1: 这一行开头不是说话人（客服:/客户:/G:/K:）：'我的电话*******5678请回电'",
        f"{table}:2: 认不出角色 '*******5678'（应为 客服/客户/坐席/用户/系统 或 agent/customer/system）",
        f"{table}:3: 认不出时间 'z***@example.com'{TIME_FORMATS}",
        f"{table}:2: 会话 'c' 有 2 行没有读入（第 2、3 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
    ]


def test_digits_alone_after_a_blank_line_are_the_cue_continued_unless_they_number_the_next_cue(tmp_path):
    """A customer's number read out in a paragraph of its own was taken for a cue number and dropped in silence; the
    next cue's number alone (a file cut off after it) still holds no words."""
    path = tmp_path / "number.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\n[客服] 请问您的订单号\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\n[客户] 订单号是\n\n20261103\n\n"
        "3\n00:00:05,000 --> 00:00:06,000\n[客服] 好的\n\n4\n",
        encoding="utf-8",
    )
    (conv,), errors = read(path)
    assert errors == [] and texts(conv) == ["请问您的订单号", "订单号是20261103", "好的"]
    vtt = tmp_path / "number.vtt"
    vtt.write_text("WEBVTT\n\n00:01.000 --> 00:03.500\n<v 客户>我的工号是\n\n8\n", encoding="utf-8")
    (conv,), errors = read(vtt)
    assert errors == [] and texts(conv) == ["我的工号是8"]
