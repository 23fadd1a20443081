"""Readers against hostile input, the element-by-element JSON arrays and the row-by-row XLSX reading: each case
once grew time or memory faster than its input, printed a warning with openpyxl's source line, ended the batch with
a traceback, or lost rows without a word. Bad input is `file:line: reason`, the rest read (README, "Bad input")."""

from __future__ import annotations

import json
import re
import time
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest

from zuoxi.ingest import IngestError, read_file
from zuoxi.ingest.limits import MAX_ROW_CELLS
from zuoxi.ingest.table import MAX_SHEET_ROWS
from zuoxi.model import Conversation

GOOD = {"id": "g1", "turns": [{"role": "customer", "text": "在吗"}, {"role": "agent", "text": "您好，在的"}]}


def good(name: str) -> str:
    return json.dumps({**GOOD, "id": name}, ensure_ascii=False)


def read(path: Path) -> tuple[list[str], list[str]]:
    """(ids of the conversations, errors as printed)."""
    records = list(read_file(path))
    return (
        [r.id for r in records if isinstance(r, Conversation)],
        [str(r) for r in records if isinstance(r, IngestError)],
    )


# --- JSON ------------------------------------------------------------------------------------------------------------


def test_many_bad_elements_of_an_array_take_linear_time(tmp_path):
    """json counts the lines of the whole text up to an error: every bad element read the array up to it again
    (200,000 of them, a 3 MB file, two minutes). Once one element does not parse, each is parsed by itself."""
    count = 100_000
    path = tmp_path / "bad.json"
    path.write_text("[" + good("g0") + "," + ",".join(['{"a":tru}'] * count) + "," + good("g1") + "]")
    started = time.monotonic()
    ids, errors = read(path)
    assert time.monotonic() - started < 20  # some 2 s; quadratic, over a minute
    assert ids == ["g0", "g1"] and len(errors) == count
    assert errors[0] == f"{path}:1: 第 2 项：JSON 格式错误：这里缺少值，或值的写法不对（第 {len(good('g0')) + 8} 列）"
    last = len(good("g0")) + 10 * count - 2  # `[`, g0 and `,`, then `{"a":tru},` a time, its error at the `t`
    assert errors[-1] == f"{path}:1: 第 {count + 1} 项：JSON 格式错误：这里缺少值，或值的写法不对（第 {last} 列）"


def test_errors_after_the_first_bad_element_keep_their_lines_and_columns(tmp_path):
    """The elements after a bad one are parsed each by itself: their errors are at their line and column in the
    file, with CRLF and LF line ends, on the element's first line or a later one."""
    elements = [good("g0"), '{"a":tru}', '{"id": "x",\r\n "a": 1, "a": 2}', good("g3"), '{"b":\n  [1, 2 3]}', '"cut']
    path = tmp_path / "mixed.json"
    path.write_bytes(("[" + ",\r\n  ".join(elements)).encode())
    ids, errors = read(path)
    assert ids == ["g0", "g3"]
    message = '同一对象里键 "a" 出现了两次，不清楚用哪个值'
    assert errors == [
        f"{path}:2: 第 2 项：JSON 格式错误：这里缺少值，或值的写法不对（第 8 列）",
        f"{path}:4: 第 3 项：JSON 格式错误：{message}（第 10 列）",
        f"{path}:7: 第 5 项：JSON 格式错误：缺少逗号（第 9 列）",
        f"{path}:8: 第 6 项：JSON 格式错误：字符串缺少结尾的双引号（第 3 列）",
    ]


def test_a_key_given_twice_is_named_shortly_and_printably(tmp_path):
    """The message quoted the key as it was: half a UTF-16 pair (which cannot be printed or stored), a line break
    splitting the one-line error, or a key of megabytes."""
    path = tmp_path / "keys.jsonl"
    lines = [
        '{"id": "a", "meta": {"\\ud800": 1, "\\ud800": 2}, "turns": []}',
        '{"id": "b", "meta": {"x\\ny": 1, "x\\ny": 2}, "turns": []}',
        '{"id": "c", "meta": {"' + "k" * 100_000 + '": 1, "' + "k" * 100_000 + '": 2}, "turns": []}',
        good("g4"),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ids, errors = read(path)
    assert ids == ["g4"]
    assert [re.sub(r" 出现了两次.*", "", e) for e in errors] == [
        f'{path}:1: JSON 格式错误：同一对象里键 "\\ud800"',
        f'{path}:2: JSON 格式错误：同一对象里键 "x\\ny"',
        f'{path}:3: JSON 格式错误：同一对象里键 "{"k" * 50}…"',
    ]
    for error in errors:
        error.encode("utf-8")


def test_a_long_integer_is_found_fast_and_where_it_is(tmp_path):
    """The search for the number too long tried every run of digits from each of its digits (400 fractions of 4,300
    digits: 17 s), and stopped at digits of a string, a fraction or an exponent, which Python converts."""
    digits = "1" * 4300
    meta = ", ".join([f'"f{i}": 0.{digits}' for i in range(400)] + [f'"s": "{digits}1"', f'"e": 1e-{digits}'])
    record = '{"id": "x", "meta": {' + meta + ', "n": -' + "7" * 4301 + '}, "turns": []}'
    path = tmp_path / "long.jsonl"
    path.write_text(record + "\n" + good("g2") + "\n", encoding="utf-8")
    started = time.monotonic()
    ids, errors = read(path)
    assert time.monotonic() - started < 5
    assert ids == ["g2"]
    assert errors == [f"{path}:1: JSON 格式错误：数字超过 4,300 位（第 {record.index('-777') + 2} 列）"]


def test_a_parquet_cell_of_json_bytes_that_do_not_decode_is_its_rows_error(tmp_path):
    """json.loads raises UnicodeDecodeError for bytes that are not UTF-8: no reader caught it, and the traceback
    ended the batch."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    turn = pa.struct([("role", pa.string()), ("text", pa.string())])
    schema = pa.schema([("id", pa.string()), ("meta", pa.binary()), ("turns", pa.list_(turn))])
    turns = GOOD["turns"]
    rows = [
        {"id": "b1", "meta": b'{"a": "\xff\xfe"}', "turns": turns},
        {"id": "b2", "meta": b'{"a": 1, "a": 2}', "turns": turns},
        {"id": "b3", "meta": b'{"ok": 1}', "turns": turns},
    ]
    path = tmp_path / "binary.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), str(path))
    ids, errors = read(path)
    assert ids == ["b3"]
    assert errors[0] == f"{path}:1: meta：JSON 格式错误：不是有效的 utf-8 文字（第 8 列）"
    assert errors[1].startswith(f'{path}:2: meta：JSON 格式错误：同一对象里键 "a" 出现了两次')


# --- XLSX ------------------------------------------------------------------------------------------------------------

ROWS = [["会话ID", "角色", "内容"], ["c1", "客户", "在吗"], ["c1", "坐席", "您好"], ["c2", "客户", "谢谢"]]


def workbook(tmp_path: Path, patch, name: str = "patched.xlsx", rows=ROWS, shared: str | None = None) -> Path:
    """A workbook of `rows` whose sheet XML is `patch(xml)`; `shared`: its shared strings' XML."""
    book = openpyxl.Workbook()
    book.active.title = "会话"
    for row in rows:
        book.active.append(row)
    given, path = tmp_path / "given.xlsx", tmp_path / name
    book.save(given)
    with zipfile.ZipFile(given) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as patched:
        names = source.namelist()
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                data = patch(data.decode()).encode()
            elif shared and item.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                    b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
                )
            elif shared and item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
                )
            patched.writestr(item.filename, data)
        if shared and "xl/sharedStrings.xml" not in names:
            patched.writestr("xl/sharedStrings.xml", shared)
    return path


def row_xml(xml: str, number: int) -> str:
    return re.search(rf'<row r="{number}".*?</row>', xml)[0]  # type: ignore[index]


def test_a_sheet_of_many_elements_is_read_in_bounded_memory(tmp_path):
    """openpyxl kept every element of a sheet outside its rows, and a row's cells until its end: a 44 KB workbook of
    one row of ten million empty cells took 3 GB (the 256 MB bound on what it unpacks to allowed six times more). As
    the workbook was opened, it parsed each sheet up to its size (`dimension`), or to the end of its rows without
    one, keeping every element it passed."""
    count = 300_000
    junk = workbook(tmp_path, lambda xml: xml.replace("<dimension", "<x/>" * count + "<dimension"), "junk.xlsx")

    def wider(xml: str) -> str:
        return re.sub(r"<dimension[^>]*>", "", xml).replace('<row r="3">', '<row r="3">' + "<c/>" * count)

    wide = workbook(tmp_path, wider, "wide.xlsx")
    for path in (junk, wide):
        tracemalloc.start()
        try:
            ids, errors = read(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 40 << 20, (path.name, peak >> 20)  # some 10 MB; openpyxl's reading took 60 MB and more
        if path is junk:
            assert (ids, errors) == (["c1", "c2"], [])
        else:  # the row is its error, the others are read
            assert ids == ["c1", "c2"]
            assert errors == [f'{path}:3: 工作表 "会话"：一行超过 {MAX_ROW_CELLS:,} 个单元格的上限']


def test_a_sheet_nested_too_deep_or_a_cell_of_too_many_parts_is_read_no_further(tmp_path):
    """Elements nested inside each other, or inside one cell, are held until they end: past what a spreadsheet
    writes, the rest of the sheet is not read, and the rows before are kept."""
    nest = "<x>" * 100_000 + "</x>" * 100_000
    deep = workbook(tmp_path, lambda xml: xml.replace("<sheetData>", nest + "<sheetData>"))
    assert read(deep) == (
        [],
        [f'{deep}:1: 工作表 "会话"：工作表的 XML 嵌套超过 100 层：工作表余下的部分没有读入'],
    )
    runs = "<r><t>x</t></r>" * 20_000
    parts = workbook(tmp_path, lambda xml: xml.replace("<is><t>谢谢</t></is>", f"<is>{runs}</is>"), "parts.xlsx")
    assert read(parts) == (
        ["c1"],
        [f'{parts}:4: 工作表 "会话"：有个单元格超过 10,000 个 XML 元素：工作表余下的部分没有读入'],
    )


def test_a_sheet_cut_short_keeps_the_rows_before(tmp_path):
    """The XML parser's error ended the reading as the workbook's: the conversations of the rows read were lost."""
    rows = [ROWS[0]] + [[f"c{i}", "客户", f"第{i}条"] for i in range(1, 200)]
    path = workbook(tmp_path, lambda xml: xml[: xml.index('<row r="150">') + 20], rows=rows)
    ids, errors = read(path)
    # the conversation of the last row read may go on past the cut: it is not stored half
    assert ids == [f"c{i}" for i in range(1, 148)]
    assert len(errors) == 2 and re.fullmatch(
        rf'{re.escape(str(path))}:150: 工作表 "会话"：工作表的 XML 中断了（.*）：工作表余下的部分没有读入',
        errors[0],
    )
    assert errors[1].startswith(f"{path}:149: 会话 'c148' 有 1 行没有读入（第 150 行）")


def test_rows_numbered_again_out_of_order_or_out_of_range_are_their_errors(tmp_path):
    """openpyxl left out a row numbered again or out of order without a word (its turn lost), and filled the rows
    up to a row's number with empty ones: a row numbered 99,999,999 took 85 s."""

    def reorder(xml: str) -> str:
        first, second, third, fourth = (row_xml(xml, n) for n in (1, 2, 3, 4))
        again = second.replace("在吗", "还在吗")
        far = fourth.replace('r="4"', 'r="99999999"').replace('4"', '99999999"')
        zero = third.replace('<row r="3"', '<row r="0"')
        return xml.replace(first + second + third + fourth, first + third + second + again + zero + far)

    path = workbook(tmp_path, reorder)
    started = time.monotonic()
    records = list(read_file(path))
    assert time.monotonic() - started < 5
    # c1 lost its rows left out: it is not stored half, only its 您好
    assert [r for r in records if isinstance(r, Conversation)] == []
    sheet = f'{path}:{{}}: 工作表 "会话"：'
    assert [str(r) for r in records if isinstance(r, IngestError)] == [
        sheet.format(2) + "第 2 行排在第 3 行之后（行号重复或顺序错乱）：这一行没有读入",
        sheet.format(2) + "第 2 行排在第 3 行之后（行号重复或顺序错乱）：这一行没有读入",
        sheet.format(4) + "行号是 0，但行号从 1 开始：这一行没有读入",
        sheet.format(99999999) + f"第 99,999,999 行，超过了工作表最多的 {MAX_SHEET_ROWS:,} 行：这一行没有读入",
        f"{path}:3: 会话 'c1' 有 2 行没有读入（第 2、4 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
    ]


def test_a_row_number_that_is_no_number_is_that_rows_error(tmp_path):
    """It was reported at the row before it."""
    path = workbook(tmp_path, lambda xml: xml.replace('<row r="3">', '<row r="x3">'))
    assert read(path) == (
        ["c2"],
        [
            f"{path}:3: 工作表 \"会话\"：行号 'x3' 不是整数",
            f"{path}:2: 会话 'c1' 有 1 行没有读入（第 3 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
        ],
    )


def test_cells_in_any_order_are_read(tmp_path):
    """A row's width was its last cell's column: a cell written before one left of it was dropped without a word."""

    def swap(xml: str) -> str:
        row = row_xml(xml, 2)
        cells = re.findall(r"<c .*?</c>", row)
        return xml.replace(row, row.replace("".join(cells), "".join(reversed(cells))))

    path = workbook(tmp_path, swap)
    records = [r for r in read_file(path) if isinstance(r, Conversation)]
    assert [(r.id, [t.text for t in r.turns]) for r in records] == [("c1", ["在吗", "您好"]), ("c2", ["谢谢"])]


def test_a_shared_string_out_of_range_is_its_rows_error(tmp_path):
    """A negative index read the last shared string, as Python's lists do, without a word."""
    shared = (
        '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
        'main"><si><t>甲</t></si><si><t>乙</t></si></sst>'
    )

    def indexed(xml: str) -> str:
        for text, index in (("在吗", "-1"), ("您好", "2"), ("谢谢", "1")):
            xml = re.sub(
                rf'<c r="(C\d)" t="inlineStr"><is><t>{text}</t></is></c>', rf'<c r="\1" t="s"><v>{index}</v></c>', xml
            )
        return xml

    path = workbook(tmp_path, indexed, shared=shared)
    records = list(read_file(path))
    assert [(r.id, [t.text for t in r.turns]) for r in records if isinstance(r, Conversation)] == [("c2", ["乙"])]
    assert [str(r) for r in records if isinstance(r, IngestError)] == [
        f'{path}:2: 工作表 "会话"：单元格 C2 读不了：没有第 -1 个共享字符串：工作簿只有 2 个',
        f'{path}:3: 工作表 "会话"：单元格 C3 读不了：没有第 2 个共享字符串：工作簿只有 2 个',
    ]


def test_a_date_out_of_range_is_its_rows_error_without_openpyxls_warning(tmp_path, capfd):
    """openpyxl warned of it with a line of its own source on the terminal, besides the row's error; the error, 认不出时间
    '#VALUE!' and the forms of a time, did not say what the cell holds."""
    import datetime
    import warnings

    rows = [["会话ID", "角色", "内容", "时间"], ["c1", "客户", "在吗", datetime.datetime(2024, 1, 1, 10)]]
    rows += [["c1", "坐席", "您好", datetime.datetime(2024, 1, 1, 10, 0, 5)]]
    path = workbook(tmp_path, lambda xml: re.sub(r'(<c r="D3"[^>]*><v>)[^<]*', r"\g<1>1e10", xml), rows=rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would fail the test
        assert read(path) == (
            [],
            [
                f"{path}:3: “时间”列的单元格 D3 是日期格式，但数值 1e10 不是 Excel 能显示的日期"
                "（超出了 Excel 的日期范围，Excel 里显示为 ####）：这一行没有读入",
                f"{path}:2: 会话 'c1' 有 1 行没有读入（第 3 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
            ],
        )
    assert "openpyxl" not in capfd.readouterr().err
