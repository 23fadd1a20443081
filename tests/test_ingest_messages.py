"""What the readers say of input they cannot read: in Chinese, naming the place (a new user's walkthrough found
Python's and pyarrow's English words on the terminal and the upload page)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from zuoxi.ingest import IngestError, read_file
from zuoxi.ingest.table import cell_text
from zuoxi.model import Conversation

_ENGLISH = re.compile(
    r"[A-Za-z]{3,}(?:Error|Exception|File)\b|Error:|not a zip|There is no item|Parquet file size|object"
)


def read(path: Path) -> tuple[list[Conversation], list[IngestError]]:
    records = list(read_file(path))
    return (
        [r for r in records if isinstance(r, Conversation)],
        [r for r in records if isinstance(r, IngestError)],
    )


def only_error(path: Path) -> str:
    conversations, (error,) = read(path)
    assert conversations == [] and not error.note
    assert not _ENGLISH.search(error.reason), error.reason
    return str(error)


def workbook(**sheets: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


CHAT = [["会话ID", "角色", "内容"], ["a", "客服", "您好"], ["a", "客户", "我要退货"]]


def rezipped(data: bytes, drop: str = "", change: dict[str, bytes] | None = None) -> bytes:
    """The workbook `data` with one part left out (`drop`) or parts replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            if entry.filename != drop:
                target.writestr(entry.filename, (change or {}).get(entry.filename, source.read(entry.filename)))
    return out.getvalue()


def test_a_workbook_that_cannot_be_read_says_why_in_chinese(tmp_path):
    whole = workbook(Sheet1=CHAT)
    cases = {
        "fake.xlsx": (b"hello, I am text", "不是 zip 压缩包"),
        "cut.xlsx": (whole[: len(whole) // 2], "不是 zip 压缩包"),
        "no-types.xlsx": (rezipped(whole, drop="[Content_Types].xml"), "缺少工作簿的组成部分 [Content_Types].xml"),
        "no-book.xlsx": (rezipped(whole, drop="xl/workbook.xml"), "缺少工作簿的组成部分 xl/workbook.xml"),
        "bad-xml.xlsx": (
            rezipped(whole, change={"xl/workbook.xml": b"<not xml"}),
            "XML 部件格式不对（第 1 行第 1 列）",
        ),
        "no-sheet.xlsx": (rezipped(whole, drop="xl/worksheets/sheet1.xml"), "工作簿里没有工作表"),
        "bad-rels.xlsx": (rezipped(whole, change={"xl/_rels/workbook.xml.rels": b"<x/>"}), "工作簿的结构不对"),
    }
    for name, (data, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert only_error(path).startswith(f"{path}: 不是能读的 XLSX 工作簿：") and reason in only_error(path), name
    sheet = tmp_path / "bad-sheet.xlsx"
    sheet.write_bytes(rezipped(whole, change={"xl/worksheets/sheet1.xml": b"<not xml"}))
    assert (
        only_error(sheet)
        == f'{sheet}:1: 工作表 "Sheet1"：工作表的 XML 中断了（XML 第 1 行第 1 列格式不对）：工作表余下的部分没有读入'
    )


def test_a_parquet_file_that_cannot_be_read_says_why_in_chinese(tmp_path):
    pytest.importorskip("pyarrow.parquet")
    cases = {
        "tiny.parquet": (b"PAR1", "文件只有 4 字节，不是完整的 Parquet 文件"),
        "text.parquet": (
            b"not parquet at all" * 6,
            "文件结尾没有 Parquet 的标记（PAR1）：不是 Parquet 文件，或文件不完整",
        ),
        "zeros.parquet": (b"PAR1" + bytes(100) + b"PAR1", "文件的元数据或数据页损坏：文件不完整或被改动过"),
    }
    for name, (data, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert only_error(path) == f"{path}: 不是能读的 Parquet 文件：{reason}"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"segments": 5}, "whisper JSON 的结构不对：segments 应是列表，却是整数"),
        ({"segments": [1, 2]}, "whisper JSON 的结构不对：segments[0] 应是对象（含 text、start、end），却是整数"),
        (
            {"segments": [{"text": "您好", "start": 0}, {"text": "在", "start": "a"}]},
            "whisper JSON 的结构不对：segments[1].start 应是数字（秒），却是字符串 'a'",
        ),
        ({"segments": [{"text": {"a": 1}}]}, "whisper JSON 的结构不对：segments[0].text 应是文字，却是对象"),
        (
            {"segments": [{"text": "您好", "start": 3, "end": 1}]},
            "whisper JSON 的结构不对：segments[0]：end（1）早于 start（3）",
        ),
        (
            {"segments": [{"text": "您好", "speaker": [1]}]},
            "whisper JSON 的结构不对：segments[0].speaker 应是说话人的编号或名字，却是数组",
        ),
        (
            {"sentence_info": [{"text": "您好", "start": 0}, {}, {}, {"text": "在", "start": "a"}]},
            "第 1 项：funasr JSON 的结构不对：sentence_info[3].start 应是数字（毫秒），却是字符串 'a'",
        ),
        (
            {"sentence_info": ["您好"]},
            "第 1 项：funasr JSON 的结构不对：sentence_info[0] 应是对象（含 text、start、end），却是字符串 '您好'",
        ),
        (
            {"key": {"id": 1}, "sentence_info": [{"text": "您好"}]},
            "第 1 项：funasr JSON 的结构不对：key 应是会话编号（文字），却是对象",
        ),
    ],
)
def test_asr_json_of_a_wrong_shape_names_the_element_at_fault(tmp_path, document, reason):
    path = tmp_path / "call.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    assert only_error(path) == f"{path}: {reason}"


def test_asr_json_reads_what_it_can(tmp_path):
    """A null text is no text (it was stored as the word None); a time written as text is the number; FunASR's
    milliseconds are seconds."""
    path = tmp_path / "call.json"
    path.write_text(
        json.dumps(
            {
                "segments": [
                    {"text": "客服: 您好，很高兴为您服务", "start": "0.5", "end": 2},
                    {"text": None, "start": 2, "end": 3},
                    {"text": "客户: 我要投诉", "start": 3, "end": 4},
                ]
            }
        ),
        encoding="utf-8",
    )
    (call,), errors = read(path)
    assert errors == [] and [(t.role, t.text, t.start) for t in call.turns] == [
        ("agent", "您好，很高兴为您服务", 0.5),
        ("customer", "我要投诉", 3),
    ]
    path.write_text(
        json.dumps(
            {"key": "f-1", "sentence_info": [{"text": "您好，很高兴为您服务", "start": 1500, "end": "2500", "spk": 0}]}
        ),
        encoding="utf-8",
    )
    (call,), errors = read(path)
    assert errors == [] and call.id == "f-1" and (call.turns[0].start, call.turns[0].end) == (1.5, 2.5)


def test_an_xlsx_cell_that_cannot_be_read_is_named_with_what_it_holds(tmp_path):
    """openpyxl's ValueError: invalid literal for int() with base 10: 'abc' named no cell."""
    data = workbook(Sheet1=[*CHAT, ["b", "客服", 5], ["b", "客户", "好"]])
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        sheet = source.read("xl/worksheets/sheet1.xml").decode()
    path = tmp_path / "cells.xlsx"
    path.write_bytes(
        rezipped(data, change={"xl/worksheets/sheet1.xml": sheet.replace("<v>5</v>", "<v>abc</v>").encode()})
    )
    conversations, errors = read(path)
    assert [c.id for c in conversations] == ["a"] and [str(e) for e in errors] == [
        f"{path}:4: 工作表 \"Sheet1\"：单元格 C4 的类型是数字，值却是 'abc'，读不了",
        f"{path}:4: 会话 'b' 有 1 行没有读入（第 4 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
    ]


def test_a_turn_over_the_bound_is_reported_at_its_own_line_in_words(tmp_path):
    """A text log's turn on line 3 too long was reported at the conversation's first line with a JSON path (big.txt:1:
    turns.1.text：…), and so were a CSV's and an XLSX's rows; the conversation is still not stored, nor cut."""
    from openpyxl import Workbook

    too_long = "很" * 25_000
    log = tmp_path / "big.txt"
    log.write_text(f"客服: 您好\n\n客服: 您好\n客户: 在吗\n客户: {too_long}\n客服: 好的\n", encoding="utf-8")
    rows = tmp_path / "big.csv"
    rows.write_text(f"会话ID,角色,内容\nb,客服,您好\nb,客户,{too_long}\n", encoding="utf-8")
    book = Workbook()
    for row in (["会话ID", "角色", "内容"], ["b", "客服", "您好"], ["b", "客服", "好"], ["b", "客户", too_long]):
        book.active.append(row)
    sheet = tmp_path / "big.xlsx"
    book.save(sheet)
    cut = "超过一句最多的 20,000 个字：会话 {!r} 整个都没有导入（不截断）"
    for path, line, what, key in (
        (log, 5, "这一句", "big-2"),
        (rows, 3, "这一行的消息", "b"),
        (sheet, 4, "这一行的消息", "b"),
    ):
        conversations, errors = read(path)
        assert [str(e) for e in errors] == [f"{path}:{line}: {what}有 25,000 个字，" + cut.format(key)]
        assert [c.id for c in conversations] == (["big-1"] if path == log else [])
    many = tmp_path / "many.txt"
    many.write_text("客服: 您好\n" * 2_001, encoding="utf-8")
    assert only_error(many) == (
        f"{many}:1: 会话 'many-1' 有 2,001 句，超过一个会话最多的 2,000 句：整个会话都没有导入（不截断）；请把它分成几个会话"
    )


def test_an_excel_serial_time_among_dates_is_named_as_one(tmp_path):
    """46329.5840 after 2026/11/3 14:00 was called 秒数: the user could not tell it was the same date saved as a
    number. It is named as an Excel serial date, with the date it is; a small number stays seconds."""
    path = tmp_path / "times.csv"
    path.write_text(
        "会话ID,角色,内容,时间\nc,客服,您好,2026/11/3 14:00\nc,客户,在吗,46329.5840\n"
        "e,客服,您好,2026/11/3 14:00\ne,客户,在吗,12.5\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert conversations == [] and [str(e) for e in errors][:2] == [
        f"{path}:3: 时间 '46329.5840'（Excel 的日期序号，即 2026-11-03 14:00）与这个会话第一个时间 '2026/11/3 14:00'"
        "（日期加时刻）写法不同：一个会话的时间要写成同一种；Excel 的日期序号是日期存成了数字：请把时间列设为日期格式",
        f"{path}:5: 时间 '12.5'（秒数）与这个会话第一个时间 '2026/11/3 14:00'（日期加时刻）写法不同：一个会话的时间要写成同一种",
    ]


def test_numbers_in_xlsx_cells_are_read_as_their_digits(tmp_path):
    """A numeric XLSX cell is a float: a 19-digit card number in a message became 6.222088809777878e+18, an 18-digit id
    card 1.1010519491231e+17 (no digits for the masker to see: stored in clear), 6222778865013650 became
    6222778865013650.0, an id 1001 became 1001.0, and a message 0 was read as empty and dropped."""
    from openpyxl import Workbook

    book = Workbook()
    rows = [
        ["会话ID", "角色", "内容", "坐席工号"],
        [1001.0, "客服", "您好", 8.0],
        [1001.0, "客户", 6222088809777878000.0, None],
        [1001.0, "客户", 110105194912310000.0, None],
        [1001.0, "客户", 6222778865013650.0, None],
        [1001.0, "客户", 0, None],
        [1001.0, "客户", 12.5, None],
        [1001.0, "客户", 1e-7, None],
    ]
    for row in rows:
        book.active.append(row)
    path = tmp_path / "numbers.xlsx"
    book.save(path)
    (conversation,), errors = read(path)
    assert errors == [] and (conversation.id, conversation.agent_id) == ("1001", "8")
    texts = [turn.text for turn in conversation.turns]
    assert texts[1:] == [
        "6222088809777878000",
        "110105194912310000",
        "6222778865013650",
        "0",
        "12.5",
        "0.0000001",
    ]
    # a cell written without a point or an exponent is an int, exact (openpyxl itself saves ints as floats)
    assert cell_text(6222088809777878123) == "6222088809777878123" and cell_text(True) == "TRUE"


def test_text_log_role_lines_as_chat_tools_write_them_are_the_speakers(tmp_path):
    """客户(张三): 我要投诉, 客户 张三: …, 【客户】…, [2026-11-03 14:00:01] 客户: … were read as more of the agent's message
    before them: the customer's complaint judged as the agent's words, and stored."""
    path = tmp_path / "tools.txt"
    path.write_text(
        "客服: 您好\n客户(张三): 我要投诉\n客服（小王）：好的\n\n"
        "客服: 您好\n客户 张三: 我要投诉\n客服: 请看 K 线图：上涨\n\n"
        "【客服】您好\n[客户] 我要投诉\n\n"
        "[2026-11-03 14:00:01] 客户: 在吗\n2026-11-03 14:00:05 客服8号: 您好\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert errors == []
    assert [[(t.role, t.text) for t in c.turns] for c in conversations] == [
        [("agent", "您好"), ("customer", "我要投诉"), ("agent", "好的")],
        [("agent", "您好"), ("customer", "我要投诉"), ("agent", "请看 K 线图：上涨")],
        [("agent", "您好"), ("customer", "我要投诉")],
        [("customer", "在吗"), ("agent", "您好")],
    ]
    timed = conversations[-1]
    assert [t.start for t in timed.turns] == [0.0, 4.0] and timed.agent_id == "8"
