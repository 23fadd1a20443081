"""A new user's first imports, end to end into a store: what reading their files did to the conversations stored."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from zuoxi.engines.local import Batch
from zuoxi.ingest.table import TIME_FORMATS

SKIPPED = "整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入"

BROKEN_CSV = (
    "会话ID,角色,内容,时间\n"
    "k-1,客户,在吗,2026-11-03 14:00:00\nk-1,客服,在的,2026-11-03 14:00:04\n"
    'k-2,客户,"我要退货，东西坏了,2026-11-03 14:10:00\nk-2,客服,好的,2026-11-03 14:10:09\n'
    "k-3,客户,怎么还没发货,下午两点\nk-3,客服,马上为您催,2026-11-03 15:00:05\n"
    "k-4,客户,谢谢,2026-11-03 16:00:00\nk-4,客服,不客气,2026-11-03 16:00:02\n"
)
FIXED_CSV = BROKEN_CSV.replace('"我要退货，东西坏了', "我要退货，东西坏了").replace("下午两点", "2026-11-03 15:00:00")


def imported(paths: list[Path], store) -> tuple[list[str], list[str]]:
    batch = Batch(paths, store=store)
    ids = [item.conversation.id for item in batch.run()]
    return ids, [str(e) for e in batch.summary.errors]


def test_a_table_that_lost_rows_stores_only_whole_conversations_and_once_fixed_each_once(tmp_path, store):
    """An unclosed quote and an unreadable time cost k-2 its customer's words and k-3 its first row: both were stored
    and scored on what was left (k-2 as the agent's 好的 alone), and after the user fixed the file and imported it
    again, stats counted 6 conversations for a file of 4."""
    path = tmp_path / "export.csv"
    path.write_text(BROKEN_CSV, encoding="utf-8")
    ids, errors = imported([path], store)
    assert ids == ["k-1", "k-4"]
    assert errors == [
        f"{path}:4: CSV 行读不了：从这一行开始的引号直到文件末尾都没有闭合",
        f"{path}:6: 认不出时间 '下午两点'{TIME_FORMATS}",
        f"{path}:4: 会话 'k-2' 有 1 行没有读入（第 4 行）：{SKIPPED}",
        f"{path}:6: 会话 'k-3' 有 1 行没有读入（第 6 行）：{SKIPPED}",
    ]
    path.write_text(FIXED_CSV, encoding="utf-8")
    ids, errors = imported([path], store)
    assert errors == [] and ids == ["k-1", "k-2", "k-3", "k-4"]
    assert store.stats()["conversations"] == 4


def test_a_workbook_row_that_cannot_be_read_costs_its_conversation(tmp_path, store):
    book = openpyxl.Workbook()
    for row in (
        ["会话ID", "角色", "内容", "时间"],
        ["w-1", "客户", "在吗", "2026-11-03 14:00:00"],
        ["w-1", "老板", "插一句", "2026-11-03 14:00:01"],
        ["w-1", "客服", "好的", "2026-11-03 14:00:04"],
        ["w-2", "客户", "谢谢", "2026-11-03 16:00:00"],
    ):
        book.active.append(row)
    path = tmp_path / "export.xlsx"
    book.save(path)
    ids, errors = imported([path], store)
    assert ids == ["w-2"] and errors == [
        f"{path}:3: 认不出角色 '老板'（应为 客服/客户/坐席/用户/系统 或 agent/customer/system）",
        f"{path}:2: 会话 'w-1' 有 1 行没有读入（第 3 行）：{SKIPPED}",
    ]


def test_a_text_log_conversation_that_lost_a_line_is_stored_once_it_is_fixed(tmp_path, store):
    """An unreadable time in a header costs its conversation (not stored half), and the fixed log stores each
    conversation once; so do a third speaker's lines (路人甲, twice): reported, the conversation not stored (it was
    stored with the two parties' lines, and scored without the third's)."""
    broken = (
        "客户 10:00:05\n在吗\n客服8号 10:61:12\n您好\n\n"
        "客服：您好\n路人甲：插一句\n客户：我要退货\n路人甲：再插一句\n\n"
        "客户：谢谢\n客服：不客气\n"
    )
    path = tmp_path / "chat.txt"
    path.write_text(broken, encoding="utf-8")
    ids, errors = imported([path], store)
    unknown = "（应为 客服/客户/坐席/用户/系统、G/K 或 agent/customer）：这一行没有读入"
    assert ids == ["chat-3"] and errors == [
        f"{path}:3: 认不出时间 '10:61:12'",
        f"{path}:1: 会话 'chat-1' 有 1 行没有读入（第 3 行）：{SKIPPED}",
        f"{path}:7: 认不出说话人 '路人甲'{unknown}",
        f"{path}:9: 认不出说话人 '路人甲'{unknown}",
        f"{path}:6: 会话 'chat-2' 有 2 行没有读入（第 7、9 行）：{SKIPPED}",
    ]
    path.write_text(broken.replace("10:61:12", "10:00:12").replace("路人甲", "客户"), encoding="utf-8")
    ids, errors = imported([path], store)
    assert ids == ["chat-1", "chat-2", "chat-3"] and errors == []
    assert store.stats()["conversations"] == 3


def test_a_gbk_file_keeps_a_name_written_with_a_user_defined_character(tmp_path):
    """Some bank and government systems store a rare character of a name in GBK's user-defined area (a private-use
    character once read). In a GBK file such a line was taken for a misreading and its conversation lost; one such
    character in a line that otherwise reads as plain Chinese is kept (several are a Big5 line misread, still told)."""
    from zuoxi.ingest import read_file

    path = tmp_path / "gbk.csv"
    name_line = "c1,客户,我是张".encode("gb18030") + bytes([0xAA, 0xA1]) + "先生，卡激活不了".encode("gb18030")
    path.write_bytes(
        "会话ID,角色,内容\n".encode("gb18030")
        + name_line
        + b"\n"
        + "c1,客服,您好张先生，马上为您查询\n".encode("gb18030")
    )
    (conversation,) = [r for r in read_file(path) if not hasattr(r, "reason")]
    assert conversation.turns[0].text == "我是张\ue000先生，卡激活不了"
