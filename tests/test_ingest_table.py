"""The CSV/XLSX reader against what Chinese contact-center exports hold (walk_cli, 2026-12-07): Excel's zh-CN times,
a file cut off in its last row, dates of year 1 or 9999, Excel serial numbers, formula cells never computed, rows out
of time order, a workbook's other sheets. Bad input is `file:line: reason` in Chinese, the rest read, and a
conversation that lost a row is not stored half (README, "Bad input")."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest
from conftest import read_by_id as read
from conftest import starts

from zuoxi.ingest import IngestError, read_file
from zuoxi.ingest.errors import errors_only
from zuoxi.ingest.table import TIME_FORMATS, _parse_time, sheet_rows

HEADER = "会话ID,角色,内容,时间,坐席工号,班组\n"
LOST = "：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入"


def csv_file(tmp_path: Path, body: str, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def workbook(tmp_path: Path, rows: list[list[object]], name: str = "export.xlsx", **sheets: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    for title, more in sheets.items():
        sheet = book.create_sheet(title)
        for row in more:
            sheet.append(row)
    path = tmp_path / name
    book.save(path)
    return path


# --- 1. the times Excel and Chinese systems write ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "read_as"),
    [
        ("2026/11/3 14:00", datetime(2026, 11, 3, 14, 0)),  # Excel zh-CN's default, saved as CSV
        ("2026/11/3 14:00:05", datetime(2026, 11, 3, 14, 0, 5)),
        ("2026/1/3 4:05", datetime(2026, 1, 3, 4, 5)),  # one-digit month, day and hour
        ("2026年11月03日 14:00", datetime(2026, 11, 3, 14, 0)),
        ("2026年11月3日 14:00:05", datetime(2026, 11, 3, 14, 0, 5)),
        ("2026年11月3日14时05分", datetime(2026, 11, 3, 14, 5)),
        ("2026.11.03 14:00", datetime(2026, 11, 3, 14, 0)),
        ("2026.11.03 14:00:05", datetime(2026, 11, 3, 14, 0, 5)),
        ("2026-11-03 2:00:05 PM", datetime(2026, 11, 3, 14, 0, 5)),
        ("2026/11/3 下午 2:00", datetime(2026, 11, 3, 14, 0)),
        ("2026/11/3 上午 9:30", datetime(2026, 11, 3, 9, 30)),
        ("2026/11/3 上午 12:30", datetime(2026, 11, 3, 0, 30)),  # Excel's 12-hour clock: half past midnight
        ("2026/11/3 下午 12:30", datetime(2026, 11, 3, 12, 30)),
        ("２０２６／１１／３　１４：００", datetime(2026, 11, 3, 14, 0)),  # full-width
        ("2026-11-03 14:00:05", datetime(2026, 11, 3, 14, 0, 5)),  # as before
        ("2026-11-03T14:00:05+08:00", datetime(2026, 11, 3, 14, 0, 5, tzinfo=timezone(timedelta(hours=8)))),
        ("下午 2:00", time(14, 0)),
        ("14:00", time(14, 0)),
        ("14:00:05", time(14, 0, 5)),
        ("2026/11/3", date(2026, 11, 3)),
        ("2026年11月3日", date(2026, 11, 3)),
        ("12.5", 12.5),
    ],
)
def test_times_as_excel_writes_them_in_chinese_locales_are_read(written, read_as):
    """`2026/11/3 14:00` (what Excel zh-CN writes for a date cell saved as CSV) and the like were 认不出时间: every row
    of such an export was refused, the import 导入 0 (walk_cli H4)."""
    assert _parse_time(written) == read_as


@pytest.mark.parametrize(
    "written", ["昨天", "2026-13-45 99:00:00", "上午 13:00", "2026/11/3 下午 0:30", "25:00", "nan"]
)
def test_a_time_none_of_those_is_refused_naming_the_forms_that_are_read(written):
    with pytest.raises(ValueError) as refused:
        _parse_time(written)
    assert str(refused.value) == f"认不出时间 {written!r}{TIME_FORMATS}"
    assert all(form in TIME_FORMATS for form in ("2026/11/3 14:00", "2026年11月3日", "下午 2:00", "秒数"))


def test_an_excel_zh_cn_export_is_imported_with_its_times(tmp_path):
    path = csv_file(
        tmp_path,
        "ex-1,客户,你好，快递还没到,2026/11/3 14:00,12,售后一组\nex-1,客服,您好，我是客服12号,2026/11/3 14:01,12,售后一组\n"
        "ex-2,客户,在吗,2026/11/3 下午 3:00,12,售后一组\nex-2,客服,在的,2026/11/3 下午 3:02,12,售后一组\n"
        "bad,客户,在吗,昨天,12,售后一组\n",
    )
    conversations, errors = read(path)
    assert errors == [f"{path}:6: 认不出时间 '昨天'{TIME_FORMATS}"]
    first, second = conversations["ex-1"], conversations["ex-2"]
    assert first.started_at == datetime(2026, 11, 3, 14, 0) and starts(first) == [0, 60]
    assert second.started_at == datetime(2026, 11, 3, 15, 0) and starts(second) == [0, 120]


def test_dates_alone_set_the_day_and_no_turn_times(tmp_path):
    """All at 0 s, every reply would have been instant to the rules that time replies."""
    path = csv_file(tmp_path, "d-1,客户,在吗,2026/11/3,,\nd-1,客服,在的,2026/11/3,,\n")
    conversations, errors = read(path)
    assert errors == [] and conversations["d-1"].started_at == datetime(2026, 11, 3)
    assert starts(conversations["d-1"]) == [None, None]


def test_times_of_day_alone_count_from_the_first_and_pass_midnight(tmp_path):
    path = csv_file(tmp_path, "n-1,客户,在吗,下午 11:59:50,,\nn-1,客服,在的,00:00:05,,\nn-1,客户,好,0:01,,\n")
    conversations, errors = read(path)
    assert errors == [] and conversations["n-1"].started_at is None
    assert starts(conversations["n-1"]) == [0, 15, 70]


# --- 2. rows cut short, and rows wider than the header ----------------------------------------------------------


def test_a_csv_cut_off_in_its_last_row_is_reported_and_that_conversation_not_stored(tmp_path):
    """The cut row's partial time `202` was read as seconds among dates and times, and the whole conversation stored
    without its timing, 错误 0 (walk_cli M2)."""
    path = csv_file(
        tmp_path,
        "t-1,客户,你好,2026-11-03 14:00:10,12,售后一组\nt-1,客服,您好,2026-11-03 14:00:11,12,售后一组\n"
        "t-2,客户,你好，快递呢,2026-11-03 14:00:10,12,售后一组\nt-2,客服,您好，我是客服12号，马上帮您查询物流,202",
    )
    conversations, errors = read(path)
    assert list(conversations) == ["t-1"] and starts(conversations["t-1"]) == [0, 1]
    assert errors == [
        f"{path}:5: 这一行只有 4 个单元格，表头有 6 列：这一行不完整（文件被截断了？），没有读入",
        f"{path}:4: 会话 't-2' 有 1 行没有读入（第 5 行）" + LOST,
    ]


def test_rows_that_leave_out_trailing_empty_cells_are_read(tmp_path):
    """Exporters leave out a row's trailing empty cells: a row without its empty 备注, agent id or team was refused as
    cut short, with its whole conversation (review 6). So is a row without a time, where its conversation has
    none."""
    path = tmp_path / "short.csv"
    path.write_text(
        "会话ID,角色,内容,时间,坐席工号,班组,备注\n"
        "k-1,客户,我的快递怎么还没到,2026-11-03 14:00:00\n"
        "k-1,客服,您好，我帮您查一下,2026-11-03 14:00:10,12,售后一组,已处理\n"
        "k-1,客户,好的,2026-11-03 14:00:20,,售后一组\n"
        "u-1,客户,在吗\nu-1,客服,在的,,12\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert errors == [] and list(conversations) == ["k-1", "u-1"]
    first, second = conversations["k-1"], conversations["u-1"]
    assert starts(first) == [0, 10, 20] and first.agent_id == "12" and first.team == "售后一组"
    assert starts(second) == [None, None] and second.agent_id == "12"


def test_a_row_short_of_a_cell_it_is_read_from_is_cut_short(tmp_path):
    """A row without its text (or id, or role) is cut short wherever it is; one without its time, where its
    conversation's other rows have one, is a time left empty (`_untimed`)."""
    path = tmp_path / "short.csv"
    path.write_text(
        "会话ID,角色,备注,内容,时间\nc-1,客户,,在吗,2026-11-03 14:00:00\nc-1,客服,\n"
        "c-2,客户,,在吗,2026-11-03 14:00:00\nc-2,客服,,在的\n",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert conversations == {} and errors == [
        f"{path}:3: 这一行只有 3 个单元格，表头有 5 列：这一行不完整（文件被截断了？），没有读入",
        f"{path}:2: 会话 'c-1' 有 1 行没有读入（第 3 行）" + LOST,
        f"{path}:5: 时间是空的，而会话 'c-2' 的其他行有时间（第 4 行是 '2026-11-03 14:00:00'）"
        "：一句没有时间，回复间隔就算不出来，这一行没有读入；请补上时间，或把这个会话的时间都留空",
        f"{path}:4: 会话 'c-2' 有 1 行没有读入（第 5 行）" + LOST,
    ]


def test_the_last_row_of_a_file_without_a_final_line_break_is_held_to_every_column_read(tmp_path):
    """Where no line break ends the file, its last row may be cut: one without a column read (a team) is cut short.
    With the line break, or short only of a column not read (备注), it is read."""
    body = "g-1,客户,在吗,2026-11-03 14:00:00,12,售后一组\ng-1,客服,在的,2026-11-03 14:00:05,1"
    cut = csv_file(tmp_path, body, "cut.csv")
    conversations, errors = read(cut)
    assert conversations == {} and errors == [
        f"{cut}:3: 这一行只有 5 个单元格，表头有 6 列：这一行不完整（文件被截断了？），没有读入",
        f"{cut}:2: 会话 'g-1' 有 1 行没有读入（第 3 行）" + LOST,
    ]
    ended = csv_file(tmp_path, body + "2\n", "ended.csv")
    conversations, errors = read(ended)
    assert errors == [] and starts(conversations["g-1"]) == [0, 5]
    remark = tmp_path / "remark.csv"
    remark.write_text(HEADER.strip() + ",备注\n" + body + "2,售后一组", encoding="utf-8")
    conversations, errors = read(remark)
    assert errors == [] and starts(conversations["g-1"]) == [0, 5]


def test_seconds_among_dates_and_times_are_the_rows_error(tmp_path):
    """The same cut, where the time is the last column: the row has all its cells, its time `202` is of another kind."""
    path = tmp_path / "cut.csv"
    path.write_text(
        "会话ID,角色,内容,时间\nt-2,客户,你好,2026-11-03 14:00:10\nt-2,客服,您好,2026-11-03 14:00:11\nt-2,客户,在吗,202",
        encoding="utf-8",
    )
    conversations, errors = read(path)
    assert conversations == {} and errors == [
        f"{path}:4: 时间 '202'（秒数）与这个会话第一个时间 '2026-11-03 14:00:10'（日期加时刻）写法不同：一个会话的时间要写成同一种",
        f"{path}:2: 会话 't-2' 有 1 行没有读入（第 4 行）" + LOST,
    ]


def test_a_row_wider_than_the_header_is_reported_unless_its_extra_cells_are_empty(tmp_path):
    """A message's comma not quoted shifts the row's cells: its columns cannot be told. Trailing empty cells are
    harmless."""
    path = csv_file(
        tmp_path,
        "x-1,客户,你好,2026-11-03 14:00:00,12,售后一组,,\nx-1,客服,您好,2026-11-03 14:00:05,12,售后一组\n"
        "x-2,客户,你好,我要退款,2026-11-03 14:00:00,12,售后一组\nx-2,客服,您好,2026-11-03 14:00:05,12,售后一组\n",
    )
    conversations, errors = read(path)
    assert list(conversations) == ["x-1"] and starts(conversations["x-1"]) == [0, 5]
    assert errors == [
        f"{path}:4: 这一行有 7 个单元格，比表头的 6 列多，多出的单元格有内容（内容里的逗号没有加引号？）：这一行没有读入",
        f"{path}:4: 会话 'x-2' 有 1 行没有读入（第 4 行）" + LOST,
    ]


def test_blank_lines_and_short_workbook_rows_are_as_they_were(tmp_path):
    """A blank line is no row; a workbook row holds the cells written in it (no team here), and is not held to the
    header's width."""
    path = csv_file(
        tmp_path, "b-1,客户,在吗,2026-11-03 14:00:00,12,售后一组\n\nb-1,客服,在的,2026-11-03 14:00:02,12,售后一组\n\n"
    )
    conversations, errors = read(path)
    assert errors == [] and starts(conversations["b-1"]) == [0, 2]
    book = workbook(tmp_path, [HEADER.strip().split(","), ["w-1", "客户", "在吗"], ["w-1", "客服", "在的"]])
    conversations, errors = read(book)
    assert errors == [] and [t.text for t in conversations["w-1"].turns] == ["在吗", "在的"]


# --- 3. dates outside 1900–2999 ----------------------------------------------------------------------------------


def test_dates_of_year_1_or_9999_are_their_rows_errors(tmp_path):
    """Stored with no start time and a turn at 315,537,897,599 s (walk_cli M3); the text-log reader refused them."""
    path = csv_file(
        tmp_path,
        "f-1,客户,你好,2026-11-03 14:00:00,12,\nf-1,客服,您好,9999-12-31 23:59:59,12,\n"
        "f-2,客户,你好,0001-01-01 00:00:00,12,\nf-3,客户,你好,2026-11-03 14:00:00,12,\n",
    )
    conversations, errors = read(path)
    assert list(conversations) == ["f-3"]
    assert errors == [
        f"{path}:3: 时间 '9999-12-31 23:59:59' 的年份 9999 不在 1900–2999 之间",
        f"{path}:4: 时间 '0001-01-01 00:00:00' 的年份 1 不在 1900–2999 之间",
        f"{path}:2: 会话 'f-1' 有 1 行没有读入（第 3 行）" + LOST,
    ]


# --- 4. Excel serial numbers -------------------------------------------------------------------------------------


def test_excel_serial_numbers_are_read_as_dates(tmp_path):
    """46329.5833 (a workbook's date cell without a date format, or saved to CSV) became a turn 46,329 s, 12.9 hours,
    into the chat (walk_cli L5). Small numbers are still seconds; a serial date may fall on midnight."""
    path = csv_file(
        tmp_path,
        "s-1,客户,在吗,46329.58333333334,,\ns-1,客服,在的,46329.58339120371,,\n"
        "s-2,客户,在吗,46329,,\ns-2,客服,在的,46329.00005787037,,\n"
        "o-1,客户,在吗,0,,\no-1,客服,在的,2.5,,\n",
    )
    conversations, errors = read(path)
    assert errors == []
    assert conversations["s-1"].started_at == datetime(2026, 11, 3, 14, 0) and starts(conversations["s-1"]) == [0, 5]
    assert conversations["s-2"].started_at == datetime(2026, 11, 3) and starts(conversations["s-2"]) == [0, 5]
    assert conversations["o-1"].started_at is None and starts(conversations["o-1"]) == [0, 2.5]


def test_whole_numbers_and_numbers_spanning_days_as_dates_stay_seconds(tmp_path):
    """37000, 37010 (seconds of the day, or into a long recording) were read as Excel dates: a chat of ten days in
    2001 with no turn times (review 11). A whole number is no serial date in a CSV, nor are numbers that would span
    days as dates (37000.5, 37010.25: ten seconds)."""
    path = csv_file(
        tmp_path,
        "w-1,客户,在吗,37000,,\nw-1,客服,在的,37010,,\n"
        "w-2,客户,在吗,46329,,\nw-2,客服,在的,46329,,\n"
        "f-1,客户,在吗,37000.5,,\nf-1,客服,在的,37010.25,,\n"
        "f-2,客户,在吗,46329.5,,\nf-2,客服,在的,80000,,\n",
    )
    conversations, errors = read(path)
    assert errors == []
    for key, times in [("w-1", [37000, 37010]), ("w-2", [46329, 46329]), ("f-1", [37000.5, 37010.25])]:
        assert conversations[key].started_at is None and starts(conversations[key]) == times
    assert conversations["f-2"].started_at is None and starts(conversations["f-2"]) == [46329.5, 80000]


def test_a_workbook_number_is_a_date_where_its_cell_has_a_date_format(tmp_path):
    """A workbook's whole number without a date format is seconds, as in a CSV; with one, openpyxl reads a date."""
    book = openpyxl.Workbook()
    for row in [
        ["会话ID", "角色", "内容", "时间"],
        ["n-1", "客户", "在吗", 37000],
        ["n-1", "客服", "在的", 37010],
        ["d-1", "客户", "在吗", 46329],
        ["d-1", "客服", "在的", 46329 + 30 / 86400],
    ]:
        book.active.append(row)
    for cell in ("D4", "D5"):
        book.active[cell].number_format = "yyyy-mm-dd hh:mm:ss"
    book.save(path := tmp_path / "formats.xlsx")
    conversations, errors = read(path)
    assert errors == []
    assert conversations["n-1"].started_at is None and starts(conversations["n-1"]) == [37000, 37010]
    assert conversations["d-1"].started_at == datetime(2026, 11, 3) and starts(conversations["d-1"]) == [0, 30]


def test_workbook_numbers_in_the_time_column_are_excel_dates_of_the_workbooks_own_system(tmp_path):
    rows = [
        ["会话ID", "角色", "内容", "时间"],
        ["s-1", "客户", "在吗", 46329.5],
        ["s-1", "客服", "在的", 46329.5 + 10 / 86400],
    ]
    conversations, errors = read(workbook(tmp_path, rows))
    assert errors == [] and conversations["s-1"].started_at == datetime(2026, 11, 3, 12, 0)
    assert starts(conversations["s-1"]) == [0, 10]
    book = openpyxl.Workbook()
    book.epoch = openpyxl.utils.datetime.MAC_EPOCH  # a Mac workbook: day 0 is 1904-01-01
    for row in [["会话ID", "角色", "内容", "时间"], ["m-1", "客户", "在吗", 44867.5]]:
        book.active.append(row)
    book.save(mac := tmp_path / "mac.xlsx")
    conversations, errors = read(mac)
    assert errors == [] and conversations["m-1"].started_at == datetime(2026, 11, 3, 12, 0)


def test_a_serial_date_beside_a_time_that_is_none_is_refused(tmp_path):
    path = csv_file(tmp_path, "s-1,客户,在吗,46329.5,,\ns-1,客服,在的,5,,\n")
    conversations, errors = read(path)
    assert conversations == {} and errors == [
        f"{path}:3: 会话 's-1'：第一个时间 '46329.5' 是 Excel 的日期序号（2026-11-03 12:00），时间 '5' 却不是："
        "整个会话都没有导入；请把时间列设为日期格式，或都写成秒数"
    ]


# --- 5. formula cells without a saved value ----------------------------------------------------------------------


def test_a_formula_cell_without_a_saved_value_is_its_rows_error(tmp_path):
    """A workbook written by a program and never opened in Excel holds formulas without results: the customer's row
    was read as an empty message and dropped, 错误 0 (walk_cli M1). A formula in a column not read costs nothing."""
    rows = [
        ["会话ID", "角色", "内容", "时间", "备注"],
        ["f-1", "客户", "我要投诉你们", "2026-11-03 14:00:00", "=1+1"],
        ["f-1", "客户", '=HYPERLINK("http://x","点")', "2026-11-03 14:00:03"],
        ["f-1", "客服", "您好，我是客服12号", "2026-11-03 14:00:05"],
        ["f-2", "客户", "在吗", "2026-11-03 15:00:00", "=A1"],
        ["f-2", "客服", "#N/A", "2026-11-03 15:00:05"],
        ["f-3", "客户", "在吗", "2026-11-03 16:00:00", "=A1"],
    ]
    path = workbook(tmp_path, rows)
    conversations, errors = read(path)
    assert list(conversations) == ["f-3"]
    assert errors == [
        f"{path}:3: “内容”列的单元格 C3 是公式，没有保存计算结果（请用 Excel 打开这个文件、保存后再导入）：这一行没有读入",
        f"{path}:6: “内容”列的单元格 C6 是错误值 #N/A：这一行没有读入",
        f"{path}:2: 会话 'f-1' 有 1 行没有读入（第 3 行）" + LOST,
        f"{path}:5: 会话 'f-2' 有 1 行没有读入（第 6 行）" + LOST,
    ]
    # a call list reads such a cell as it did: empty, or the error's text
    assert [cells for _, cells in sheet_rows(path.read_bytes())][2][2] is None


def test_a_formula_in_the_id_column_costs_the_conversations_around_it(tmp_path):
    rows = [["会话ID", "角色", "内容"], ["k-1", "客户", "在吗"], ["=B1", "客服", "在的"], ["k-2", "客户", "你好"]]
    path = workbook(tmp_path, rows)
    conversations, errors = read(path)
    assert conversations == {} and errors[0].startswith(f"{path}:3: “会话ID”列的单元格 A3 是公式")
    assert errors[1:] == [
        f"{path}:2: 会话 'k-1' 有 1 行没有读入（第 3 行）" + LOST,
        f"{path}:4: 会话 'k-2' 有 1 行没有读入（第 3 行）" + LOST,
    ]


# --- 6. rows out of time order -----------------------------------------------------------------------------------


def test_rows_out_of_time_order_are_refused_naming_the_row(tmp_path):
    """A turn at -300 s, and started_at the first row's rather than the earliest (walk_cli L2): the rules would have
    judged turns out of order and replies before their questions. Equal times are in order."""
    path = csv_file(
        tmp_path,
        "o-1,客户,第二句,2026-11-03 14:05:00,12,\no-1,客服,第一句您好,2026-11-03 14:00:00,12,\no-1,客户,第三句,2026-11-03 14:10:00,12,\n"
        "o-2,客户,在吗,10,,\no-2,客服,在的,4,,\n"
        "o-3,客户,在吗,14:00:10,,\no-3,客服,在的,14:00:05,,\n"
        "o-4,客户,在吗,2026-11-03 14:00:00,,\no-4,客服,在的,2026-11-03 14:00:00,,\n",
    )
    conversations, errors = read(path)
    assert list(conversations) == ["o-4"] and starts(conversations["o-4"]) == [0, 0]
    order = "：行没有按时间先后排列，整个会话都没有导入；请按时间排好再导入"
    assert errors == [
        f"{path}:3: 会话 'o-1'：时间 '2026-11-03 14:00:00' 早于这个会话上一行（第 2 行）的 '2026-11-03 14:05:00'"
        + order,
        f"{path}:6: 会话 'o-2'：时间 '4' 早于这个会话上一行（第 5 行）的 '10'" + order,
        f"{path}:8: 会话 'o-3'：时间 '14:00:05' 早于这个会话上一行（第 7 行）的 '14:00:10'" + order,
    ]


# --- 7. a workbook's other sheets --------------------------------------------------------------------------------


def test_a_workbooks_other_sheets_with_content_are_named_as_not_read(tmp_path):
    """Sheets after the first were left out without a word (walk_cli L7); an empty one (Sheet2 of a new workbook) is
    no sheet left out."""
    rows = [["会话ID", "角色", "内容"], ["k-1", "客户", "在吗"]]
    path = workbook(tmp_path, rows, 第二页=[["会话ID", "角色", "内容"], ["k-2", "客户", "你好"]], 空白=[])
    conversations, errors = read(path)
    assert list(conversations) == ["k-1"]
    assert errors == [
        f"{path}: 只读了第一个工作表“Sheet”；工作表 “第二页”也有内容，没有读入（要导入它，请把它移到第一个，或另存为单独的文件）"
    ]
    # a note, not an error: the first sheet was imported (an error counted 错误 1, and the file was read every run)
    (notice,) = [r for r in read_file(path) if isinstance(r, IngestError)]
    assert notice.note and errors_only([notice]) == 0
    conversations, errors = read(workbook(tmp_path, rows, "one.xlsx", 空白=[]))
    assert list(conversations) == ["k-1"] and errors == []


# --- 8. Unix timestamps and dates written without separators -----------------------------------------------------


@pytest.mark.parametrize(
    ("written", "read_as"),
    [
        ("1762149600", datetime(2025, 11, 3, 6, 0, tzinfo=UTC)),  # 14:00 in Beijing
        ("1762149600.5", datetime(2025, 11, 3, 6, 0, 0, 500000, tzinfo=UTC)),
        ("1762149600000", datetime(2025, 11, 3, 6, 0, tzinfo=UTC)),  # milliseconds
        (1762149600123, datetime(2025, 11, 3, 6, 0, 0, 123000, tzinfo=UTC)),  # a workbook's number
        ("20261103140005", datetime(2026, 11, 3, 14, 0, 5)),
        ("202611031400", datetime(2026, 11, 3, 14, 0)),
        ("20261103", date(2026, 11, 3)),
        (20261103140005, datetime(2026, 11, 3, 14, 0, 5)),
        ("9999999", 9999999.0),  # 115 days: still seconds
        ("46329.5", 46329.5),  # an Excel serial date is told by its conversation (`_with_times`)
    ],
)
def test_unix_timestamps_and_compact_dates_are_read_as_what_they_are(written, read_as):
    """1762149600 was a turn 56 years into its chat, 20261103140005 one 642,000 years in, stored without a word."""
    assert _parse_time(written) == read_as


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("5000000000", "这个数字不是从会话开始算起的秒数"),  # a timestamp of 2128
        ("123456789", "这个数字不是从会话开始算起的秒数"),  # one of 1973
        ("-20261103140005", "这个数字不是从会话开始算起的秒数"),
        pytest.param("1" * 400, "这个数字不是从会话开始算起的秒数", id="400-digits"),
        # a workbook's integer too large for a float: no traceback
        pytest.param(10**400, "这个数字不是从会话开始算起的秒数", id="int-of-401-digits"),
        ("20261345140005", "像是连写的年月日时分秒（如 20261103140005），但不是有效的日期时间"),
        ("202602301400", "像是连写的年月日时分秒（如 20261103140005），但不是有效的日期时间"),
    ],
)
def test_a_number_too_large_for_seconds_that_is_no_date_is_refused(written, why):
    with pytest.raises(ValueError) as refused:
        _parse_time(written)
    assert why in str(refused.value) and len(str(refused.value)) < 400


def test_unix_timestamps_and_compact_times_time_their_conversation(tmp_path):
    path = csv_file(
        tmp_path,
        "u-1,客户,在吗,1762149600,,\nu-1,客服,在的,1762149612,,\n"
        "m-1,客户,在吗,1762149600000,,\nm-1,客服,在的,1762149600500,,\n"
        "c-1,客户,在吗,20261103140005,,\nc-1,客服,在的,20261103140105,,\n"
        "c-2,客户,在吗,202611031400,,\nc-2,客服,在的,202611031402,,\n",
    )
    conversations, errors = read(path)
    assert errors == []
    assert conversations["u-1"].started_at == datetime(2025, 11, 3, 14, 0, tzinfo=timezone(timedelta(hours=8)))
    assert starts(conversations["u-1"]) == [0, 12] and starts(conversations["m-1"]) == [0, 0.5]
    assert conversations["c-1"].started_at == datetime(2026, 11, 3, 14, 0, 5) and starts(conversations["c-1"]) == [
        0,
        60,
    ]
    assert conversations["c-2"].started_at == datetime(2026, 11, 3, 14, 0) and starts(conversations["c-2"]) == [0, 120]


def test_a_timestamp_among_seconds_or_local_times_refuses_its_conversation(tmp_path):
    path = csv_file(
        tmp_path,
        "a,客户,在吗,0,,\na,客服,在的,1762149612,,\n"
        "b,客户,在吗,1762149600,,\nb,客服,在的,20261103140005,,\n"
        "c,客户,在吗,5000000000,,\nc,客服,在的,5000000010,,\n",
    )
    conversations, errors = read(path)
    assert conversations == {}
    assert errors[:2] == [
        f"{path}:3: 时间 '1762149612'（日期加时刻）与这个会话第一个时间 '0'（秒数）写法不同：一个会话的时间要写成同一种",
        f"{path}:5: 时间 '20261103140005' 没有时区，与这个会话的第一个时间不同",
    ]
    assert errors[2].startswith(f"{path}:6: 认不出时间 '5000000000'：这个数字不是从会话开始算起的秒数")
    assert errors[4:] == [
        f"{path}:2: 会话 'a' 有 1 行没有读入（第 3 行）" + LOST,
        f"{path}:4: 会话 'b' 有 1 行没有读入（第 5 行）" + LOST,
    ]


def test_a_column_of_numeric_ids_in_blocks_is_still_taken_for_ids(tmp_path):
    """Ids of ten digits read as Unix timestamps are no times of day: the column is still named as one of ids, not
    merged into one conversation."""
    path = tmp_path / "ids.csv"
    path.write_text(
        "编号,角色,内容\n1762149600,客户,在吗\n1762149600,客服,在的\n1762149601,客户,你好\n", encoding="utf-8"
    )
    conversations, errors = read(path)
    assert conversations == {} and "“编号”列像是会话ID" in errors[0]


# --- 9. a row without a time among rows with times ---------------------------------------------------------------


def test_a_blank_time_among_timed_rows_refuses_its_conversation_at_that_row(tmp_path):
    """The whole conversation's timing was dropped without a word. Timing the other rows alone would make the reply
    without a time invisible to the rules that time replies (a first response of 5 minutes where there was one at
    once), so the conversation is refused, naming the row. A conversation without any time is as before."""
    path = csv_file(
        tmp_path,
        "e-1,客户,在吗,2026-11-03 14:00:00,,\ne-1,客服,在的,,,\ne-1,客服,您好,2026-11-03 14:05:00,,\n"
        "e-2,客户,在吗,,,\ne-2,客服,在的,14:00:05,,\n"
        "e-3,客户,在吗,,,\ne-3,客服,在的,,,\n",
    )
    conversations, errors = read(path)
    assert list(conversations) == ["e-3"] and starts(conversations["e-3"]) == [None, None]
    blank = "：一句没有时间，回复间隔就算不出来，这一行没有读入；请补上时间，或把这个会话的时间都留空"
    assert errors == [
        f"{path}:3: 时间是空的，而会话 'e-1' 的其他行有时间（第 2 行是 '2026-11-03 14:00:00'）" + blank,
        f"{path}:2: 会话 'e-1' 有 1 行没有读入（第 3 行）" + LOST,
        f"{path}:5: 时间是空的，而会话 'e-2' 的其他行有时间（第 6 行是 '14:00:05'）" + blank,
        f"{path}:5: 会话 'e-2' 有 1 行没有读入（第 5 行）" + LOST,
    ]


# --- 10. dates Excel cannot show -----------------------------------------------------------------------------------


def test_a_workbook_date_excel_cannot_show_says_so(tmp_path):
    """A date cell whose number is past Excel's dates (shown as ####) read `认不出时间 '#VALUE!'` and the forms of a
    time; a CSV saved from such a sheet holds ######## or the error value."""
    book = openpyxl.Workbook()
    for row in [
        ["会话ID", "角色", "内容", "时间"],
        ["v-1", "客户", "在吗", 1762149600000],
        ["v-1", "客服", "在的", 46329.6],
    ]:
        book.active.append(row)
    for cell in ("D2", "D3"):
        book.active[cell].number_format = "yyyy-mm-dd hh:mm"
    book.save(path := tmp_path / "dates.xlsx")
    conversations, errors = read(path)
    assert conversations == {} and errors == [
        f"{path}:2: “时间”列的单元格 D2 是日期格式，但数值 1762149600000 不是 Excel 能显示的日期"
        "（超出了 Excel 的日期范围，Excel 里显示为 ####）：这一行没有读入",
        f"{path}:2: 会话 'v-1' 有 1 行没有读入（第 2 行）" + LOST,
    ]
    saved = csv_file(tmp_path, "h-1,客户,在吗,########,,\nh-2,客户,在吗,#VALUE!,,\n")
    conversations, errors = read(saved)
    assert conversations == {} and errors == [
        f"{saved}:2: 时间 '########' 是 Excel 显示不了的日期：数值不是有效的日期（或列太窄放不下）时，Excel 显示 ####，"
        "另存时也就存成了 ####；请在 Excel 里改好（或把列拉宽）再导出",
        f"{saved}:3: 时间 '#VALUE!' 是 Excel 的错误值：这个单元格在 Excel 里就出错了（公式出错，"
        "或日期超出了 Excel 能显示的范围）；请在 Excel 里改好再导出",
    ]
