"""Readers against hostile and careless input: each case once ended a batch with a traceback, lost good
conversations without a word, aborted the process or grew its time faster than its input. Bad input is
`file:line: reason` and the rest of the file and batch is read (README, "Bad input")."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from zuoxi.engines.local import Batch
from zuoxi.ingest import IngestError, ReadOptions, read_file, read_paths
from zuoxi.ingest.asr import _add_line, assign_roles, read_subtitles
from zuoxi.ingest.errors import PROBLEMS_SHOWN
from zuoxi.ingest.limits import MAX_ERRORS_BEFORE_ANY, MAX_NESTING, MAX_ROW_CELLS
from zuoxi.ingest.textlog import _Block
from zuoxi.model import Conversation

GOOD = {"id": "g1", "turns": [{"role": "customer", "text": "在吗"}, {"role": "agent", "text": "您好，在的"}]}
LEFT = "免得只凭剩下的行评分；改好这些行后再导入"  # how `lost_lines` ends
LONG_NUMBER = "9" * 5000  # over Python's 4,300 digits for converting text to int


def good(name: str) -> dict:
    return {**GOOD, "id": name}


def line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def read(path: Path, **options) -> tuple[list[str], list[str]]:
    """(ids of the conversations, errors as printed)."""
    records = list(read_file(path, ReadOptions(**options)))
    return (
        [r.id for r in records if isinstance(r, Conversation)],
        [str(r) for r in records if isinstance(r, IngestError)],
    )


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


# --- JSON: numbers, nesting, non-finite values -----------------------------------------------------------------------


def test_a_number_too_long_for_python_is_its_lines_error(tmp_path):
    """json.loads raises a bare ValueError (not JSONDecodeError) for an integer of more than 4,300 digits: no reader
    caught it, and the traceback ended the batch — the files after it were never read."""
    jsonl = tmp_path / "a.jsonl"
    long_line = '{"id": "x", "meta": {"n": ' + LONG_NUMBER + '}, "turns": [{"role": "agent", "text": "您好"}]}\n'
    jsonl.write_text(line(good("g1")) + long_line + line(good("g3")), encoding="utf-8")
    array = tmp_path / "b.json"
    array.write_text("[\n" + line(good("g4")) + ',{"id": "y", "duration": ' + LONG_NUMBER + "}\n]", encoding="utf-8")
    after = tmp_path / "c.jsonl"
    after.write_text(line(good("g5")), encoding="utf-8")
    records = [record for _, record in read_paths([tmp_path])]
    assert [r.id for r in records if isinstance(r, Conversation)] == ["g1", "g3", "g4", "g5"]
    assert [str(r) for r in records if isinstance(r, IngestError)] == [
        f"{jsonl}:2: JSON 格式错误：数字超过 4,300 位（第 27 列）",
        f"{array}:3: 第 2 项：JSON 格式错误：数字超过 4,300 位（第 26 列）",
    ]


def test_nesting_deeper_than_the_bound_is_that_conversations_error(tmp_path):
    """900 levels parse (json.loads stops near 1,000) but overflowed the stack when the conversation was masked: a
    RecursionError that ended the batch. Past MAX_NESTING levels it is the conversation's error; up to it, it is read."""
    path = tmp_path / "deep.jsonl"
    records = [
        good("g1"),
        {**good("deep"), "meta": nested(900)},
        {**good("bound"), "meta": {"k": nested(MAX_NESTING - 2)}},  # MAX_NESTING levels in all, the record's own
        {**good("over"), "turns": [*GOOD["turns"], {"role": "agent", "text": "好", "x": [nested(MAX_NESTING)]}]},
        good("g5"),
    ]
    path.write_text("".join(line(r) for r in records), encoding="utf-8")
    batch = Batch([path], analyze=False, mask=True)
    assert [item.conversation.id for item in batch.run()] == ["g1", "bound", "g5"]
    assert [str(e) for e in batch.summary.errors] == [
        f"{path}:2: meta：数组和对象嵌套超过 {MAX_NESTING} 层",
        f"{path}:4: turns：数组和对象嵌套超过 {MAX_NESTING} 层",
    ]
    array = tmp_path / "deep.json"  # a JSON array: its element's line
    array.write_text(json.dumps([good("g1"), {**good("deep"), "meta": nested(900)}]), encoding="utf-8")
    assert read(array) == (
        ["g1"],
        [f"{array}:1: 第 2 项：meta：数组和对象嵌套超过 {MAX_NESTING} 层"],
    )


def test_an_infinite_duration_is_refused(tmp_path):
    """JSON's 1e400 is infinity, and a text log's `# duration: inf` too: stored as `Infinity`, which is no JSON."""
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"id": "x", "duration": 1e400, "turns": [{"role": "agent", "text": "您好"}]}\n' + line(GOOD))
    log = tmp_path / "d.txt"
    log.write_text("# duration: inf\n客服：您好\n\n# duration: 12.5\n客服：您好\n", encoding="utf-8")
    assert read(jsonl) == (["g1"], [f"{jsonl}:1: duration：应为有限的秒数（不能是 nan 或 inf）"])
    assert read(log) == (["d-2"], [f"{log}:1: duration：应为有限的秒数（不能是 nan 或 inf）"])


def test_validation_problems_are_counted_past_the_first_few(tmp_path):
    """1,500 turns with a wrong role and a stray field were one error line of 200 KB."""
    path = tmp_path / "roles.jsonl"
    turns = [{"role": "bot", "text": "您好", "x": 1}] * 1500
    path.write_text(line({"id": "x", "turns": turns}) + line(GOOD), encoding="utf-8")
    ids, (error,) = read(path)
    assert ids == ["g1"]
    assert error.count("只能是") + error.count("不认识这个字段") == PROBLEMS_SHOWN
    assert error.endswith(f"另有 {3000 - PROBLEMS_SHOWN:,} 处类似问题") and len(error) < 500


# --- line ends, byte order marks and encodings ------------------------------------------------------------------------


def test_byte_order_marks_where_files_were_concatenated_are_dropped(tmp_path):
    """`cat a.jsonl b.jsonl` with a BOM at the start of each: the BOM at the start of a later line cost that line
    (JSON: "Unexpected UTF-8 BOM"), a text log's `# id:` line, or split a table's conversation in two."""
    bom = "\ufeff"
    jsonl = tmp_path / "cat.jsonl"
    jsonl.write_text(bom + line(good("g1")) + bom + line(good("g2")), encoding="utf-8")
    log = tmp_path / "cat.txt"
    log.write_text(bom + "# id: a\n客服：您好\n---\n" + bom + "# id: b\n客服：您好\n", encoding="utf-8")
    table = tmp_path / "cat.csv"
    table.write_text(bom + "会话ID,角色,内容\nc1,客户,在吗\n" + bom + "c1,客服,您好\n", encoding="utf-8")
    utf16 = tmp_path / "cat16.jsonl"
    utf16.write_bytes((bom + line(good("g1"))).encode("utf-16-le") + (bom + line(good("g2"))).encode("utf-16-le"))
    assert read(jsonl) == (["g1", "g2"], [])
    assert read(log) == (["a", "b"], [])
    assert read(table) == (["c1"], [])
    assert read(utf16) == (["g1", "g2"], [])


def test_json_lines_saved_as_json_are_read_line_by_line(tmp_path):
    """A .json file of JSON Lines was read as one text: with CR line ends it was one error for the whole file, and one
    line in GBK among UTF-8 ones made the whole file "unknown text encoding"."""
    cr = tmp_path / "cr.json"
    cr.write_text((line(good("g1")) + line(good("g2"))).replace("\n", "\r"), encoding="utf-8")
    mixed = tmp_path / "mixed.json"
    gbk = {"id": "gbk", "turns": [{"role": "customer", "text": "东西还没收到"}]}
    mixed.write_bytes(
        (line(good("g1")) + line(good("g2"))).encode() + line(gbk).encode("gbk") + line(good("g3")).encode()
    )
    assert read(cr) == (["g1", "g2"], [])
    assert read(mixed) == (["g1", "g2", "gbk", "g3"], [])


def test_a_file_that_turns_to_utf16_midway_keeps_its_utf8_lines(tmp_path):
    """An export appended in UTF-16 to a UTF-8 one: when half the lines or more were UTF-16, no one encoding read
    the file and its UTF-8 conversations were lost with it. Bytes with hardly a line of text stay one error."""
    path = tmp_path / "half.jsonl"
    utf8 = "".join(line(good(f"u{i}")) for i in range(5))
    utf16 = "".join(line({**GOOD, "id": f"w{i}"}) for i in range(10))
    path.write_bytes(utf8.encode() + utf16.encode("utf-16-le"))
    ids, errors = read(path)
    assert ids == [f"u{i}" for i in range(5)] and errors and all(e.startswith(f"{path}:") for e in errors)
    assert all(int(e.split(":")[1]) > 5 for e in errors)  # each names a line of the UTF-16 part
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(bytes(range(256)) * 64 + b"\n" + line(GOOD).encode("utf-16-le"))
    assert read(binary) == ([], [f"{binary}: 认不出文字编码（不是 UTF-8、GB18030/GBK 或 Big5）"])


# --- tables -----------------------------------------------------------------------------------------------------------


def test_a_csv_quote_never_closed_is_its_rows_error_and_the_rest_is_read(tmp_path):
    """A cell opening a quote it never closes took every row after it into that cell: 47 conversations were lost
    and no error said so. The conversation that lost the row is not stored half (its id read from the row's line)."""
    path = tmp_path / "quote.csv"
    rows = "".join(f"c{i},客户,在吗\nc{i},客服,您好\n" for i in range(2, 6))
    path.write_text('会话ID,角色,内容\nc1,客户,在吗\nc1,客服,"您好\n' + rows, encoding="utf-8")
    assert read(path) == (
        ["c2", "c3", "c4", "c5"],
        [
            f"{path}:3: CSV 行读不了：从这一行开始的引号直到文件末尾都没有闭合",
            f"{path}:2: 会话 'c1' 有 1 行没有读入（第 3 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
        ],
    )
    after = tmp_path / "after.csv"  # text after a closing quote: the row's error, the next rows read
    after.write_text('会话ID,角色,内容\nc1,客户,"在吗"？\nc1,客服,您好\nc2,客户,在吗\n', encoding="utf-8")
    assert read(after) == (
        ["c2"],
        [
            f'{after}:2: CSV 行读不了：引号闭合后还有文字（引号里的引号要写成两个：""）',
            f"{after}:2: 会话 'c1' 有 1 行没有读入（第 2 行）：整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入",
        ],
    )


def test_a_csv_with_cr_line_ends_is_read(tmp_path):
    """Excel for Mac's "CSV (Macintosh)" ends lines with CR alone: the file was one unreadable row."""
    path = tmp_path / "mac.csv"
    path.write_text('会话ID,角色,内容\r"c1",客户,"在吗\r还在吗"\rc1,客服,您好\rc2,客户,在吗\r', encoding="utf-8")
    ids, errors = read(path)
    assert (ids, errors) == (["c1", "c2"], [])
    (first, _) = [r for r in read_file(path) if isinstance(r, Conversation)]
    assert [t.text for t in first.turns] == ["在吗\n还在吗", "您好"]


def test_a_csv_line_of_too_many_cells_is_its_error(tmp_path):
    """A line of 50 MB of commas was read as one row of 50 million cells: 800 MB of memory (a 1 GB file, some 16 GB)."""
    path = tmp_path / "wide.csv"
    path.write_text("会话ID,角色,内容\nc1,客户,在吗\n" + "," * MAX_ROW_CELLS + "\nc1,客服,您好\n", encoding="utf-8")
    assert read(path) == (["c1"], [f"{path}:3: 一行超过 {MAX_ROW_CELLS:,} 个单元格的上限"])
    (conversation,) = [r for r in read_file(path) if isinstance(r, Conversation)]
    assert [t.text for t in conversation.turns] == ["在吗", "您好"]


# --- text logs and subtitles ------------------------------------------------------------------------------------------


def test_a_long_message_is_joined_once_not_copied_at_every_line():
    """Each line of a message was appended to the text so far, copying it: a pasted log of 100,000 lines under one
    speaker took minutes (60,000 lines: 4 s, 120,000: 20 s). The lines are kept apart and joined when the record is
    made, so the text is never built before then."""
    block = _Block(1)
    block.add_turn("客服", "", "第一行", None, 1)
    for i in range(100):
        block.append_text(f"第{i}行")
    assert all("text" not in turn for turn in block.turns)
    record = block.to_record("x.txt", 1)
    assert record["turns"][0]["text"] == "\n".join(["第一行", *(f"第{i}行" for i in range(100))])


def test_many_speakers_are_counted_in_one_pass():
    """With no greeting, each speaker's 您 were counted over every segment: speakers × segments (a subtitle file of
    20,000 cues, each tagged with a name of its own, took 10 s before it was refused for its length)."""

    class Segment(dict):
        reads = 0

        def __getitem__(self, key):
            Segment.reads += key == "speaker"
            return super().__getitem__(key)

    segments = [Segment(speaker=f"s{i}", text="您好" if i == 7 else "在吗") for i in range(200)]
    assert assign_roles(segments)["s7"] == "agent"
    assert Segment.reads <= 4 * len(segments)  # a few passes, not one per speaker


def test_a_long_cue_is_joined_once_not_copied_at_every_line():
    """A cue's lines were each appended to its text so far (copying it): a cue of 60,000 lines took seconds, more
    at every line. They are kept apart and joined when the cues are read."""
    cue: dict = {"speaker": None, "lines": []}
    for text in ("客服: 您好", "<i>第二行</i>", "第三行"):
        _add_line(cue, text)
    assert cue == {"speaker": "客服", "lines": ["您好", "第二行", "第三行"]}
    srt = "1\n00:00:01,000 --> 00:00:02,000\n客服: 您好\n" + "".join(f"第{i}行\n" for i in range(50))
    (conversation,) = read_subtitles(srt, "x.srt", None)
    assert isinstance(conversation, Conversation)
    assert conversation.turns[0].text == "您好" + "".join(f"第{i}行" for i in range(50))


def test_asr_times_too_large_are_errors_not_tracebacks(tmp_path):
    """FunASR's milliseconds of 400 digits overflowed the division to seconds; subtitle hours of 5,000 digits could
    not be converted: tracebacks that ended the batch."""
    funasr = tmp_path / "call.json"
    funasr.write_text(json.dumps({"sentence_info": [{"spk": 0, "text": "您好", "start": 10**400}]}), encoding="utf-8")
    ids, (error,) = read(funasr)
    assert (
        ids == [] and error == f"{funasr}: 第 1 项：funasr JSON 的结构不对：sentence_info[0].start 太大了（401 位数字）"
    )
    srt = tmp_path / "call.srt"
    cues = f"1\n{LONG_NUMBER}:00:01,000 --> 00:00:02,000\n客服: 坏的\n\n2\n00:00:03,000 --> 00:00:04,000\n客服: 您好\n"
    srt.write_text(cues, encoding="utf-8")
    ids, errors = read(srt)  # the cue is lost, so the call is not stored on the cues left
    assert ids == [] and errors[0] == f"{srt}:2: 字幕时间超出范围，这条字幕没有读入"
    assert errors[1:] == [f"{srt}:2: 会话 'call.srt' 有 1 条字幕没有读入（第 2 行）：整个会话都没有导入，" + LEFT]


# --- files that hold nothing readable -------------------------------------------------------------------------------


def test_a_file_of_nothing_but_problems_is_given_up_and_the_batch_goes_on(tmp_path):
    """A server log named .log, or a Parquet file of millions of empty rows (90 KB for 20 million: it ran for hours),
    reported every line. After MAX_ERRORS_BEFORE_ANY problems without a conversation the file is not read on; a
    file that has given a conversation is read to its end."""
    log = tmp_path / "a_server.log"
    log.write_text(
        "".join(f"2026-12-07 10:00:{i % 60:02d} INFO request {i}\n" for i in range(3 * MAX_ERRORS_BEFORE_ANY))
    )
    mixed = tmp_path / "b_mixed.txt"
    noise = "".join(f"[{i}] 噪音\n" for i in range(2 * MAX_ERRORS_BEFORE_ANY))
    mixed.write_text("客服：您好\n\n" + noise + "\n客户：在吗\n", encoding="utf-8")
    records = [record for _, record in read_paths([tmp_path])]
    log_errors = [r for r in records if isinstance(r, IngestError) and r.path == str(log)]
    assert len(log_errors) == MAX_ERRORS_BEFORE_ANY + 1
    assert str(log_errors[-1]) == (
        f"{log}: 已有 {MAX_ERRORS_BEFORE_ANY:,} 个问题，却没读到一个会话：不再往下读（文件是这种格式吗？）"
    )
    assert [r.id for r in records if isinstance(r, Conversation)] == ["b_mixed-1", "b_mixed-2"]
    assert len([r for r in records if isinstance(r, IngestError) and r.path == str(mixed)]) == 2 * MAX_ERRORS_BEFORE_ANY


# --- Parquet ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def pa():
    return pytest.importorskip("pyarrow")


def parquet_bytes(table) -> bytes:
    out = io.BytesIO()
    pytest.importorskip("pyarrow.parquet").write_table(table, out)
    return out.getvalue()


def test_parquet_cells_a_reader_cannot_take_are_their_rows_errors(tmp_path, pa):
    """A JSON cell nested too deep, or holding a number too long, and a timestamp past year 9999 each ended the file
    (the deep one) or the batch (the others, with a traceback)."""
    turns = json.dumps(GOOD["turns"])
    table = pa.table(
        {
            "id": ["deep", "long", "far", "ok"],
            "started_at": pa.array([0, 0, 10**15, 0], pa.timestamp("s")),
            "meta": [None, '{"n": ' + LONG_NUMBER + "}", None, None],
            "turns": ["[" * 100_000 + "]" * 100_000, turns, turns, turns],
        }
    )
    path = tmp_path / "cells.parquet"
    path.write_bytes(parquet_bytes(table))
    ids, errors = read(path)
    assert ids == ["ok"]
    assert errors[:2] == [
        f"{path}:1: turns：JSON 格式错误：数组和对象嵌套太深",
        f"{path}:2: meta：JSON 格式错误：数字超过 4,300 位（第 7 列）",
    ]
    assert errors[2] == f"{path}:3: started_at：有个时间超出了 1–9999 年，读不了"


def test_a_parquet_file_of_empty_rows_is_given_up(tmp_path, pa):
    rows = MAX_ERRORS_BEFORE_ANY + 500
    path = tmp_path / "bomb.parquet"
    path.write_bytes(parquet_bytes(pa.table({"id": ["a"] * rows, "turns": pa.nulls(rows, pa.string())})))
    ids, errors = read(path)
    assert ids == [] and len(errors) == MAX_ERRORS_BEFORE_ANY + 1
    assert errors[-1].endswith("个问题，却没读到一个会话：不再往下读（文件是这种格式吗？）")


def test_arrow_holds_no_reference_to_the_files_bytes(pa):
    """The file's bytes were handed to Arrow as a Python object: Arrow's threads let go of it after the read had
    returned, and one doing so while the interpreter exited aborted the process ("terminate called without an active
    exception", status 134) at the end of one `zuoxi analyze` in four that read a Parquet file with a bad row. The
    reader gives Arrow a copy of its own: while a file is read, only the reading frame holds its bytes."""
    from zuoxi.ingest.parquet import read_parquet

    data = parquet_bytes(pa.table({"id": ["a", "b"], "turns": pa.array([1, 2])}))
    before = sys.getrefcount(data)
    records = read_parquet(data, "x.parquet")
    assert isinstance(next(records), IngestError)
    assert sys.getrefcount(data) <= before + 1


def test_links_in_a_folder_are_reported_when_they_lead_to_no_file_and_read_when_they_do(tmp_path):
    """A folder's link to a device or to nothing was skipped in silence; the Dask engine's planning, which reads
    each file, must not open a link to /dev/zero either."""
    from zuoxi.engines.dask import options_variant, plan_shards
    from zuoxi.ingest import NOT_REGULAR, input_files

    real = tmp_path / "real"
    real.mkdir()
    line = {
        "id": "c1",
        "channel": "chat",
        "turns": [{"role": "customer", "text": "在吗"}, {"role": "agent", "text": "在的"}],
    }
    (real / "a.jsonl").write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    given = tmp_path / "in"
    given.mkdir()
    (given / "file.jsonl").symlink_to(real / "a.jsonl")
    (given / "zero.jsonl").symlink_to("/dev/zero")
    (given / "gone.jsonl").symlink_to(tmp_path / "nothing.jsonl")
    (given / "folder").symlink_to(real)  # not followed: its file would be read twice

    listed = {f.name: f.path for f in input_files([given])}
    assert sorted(listed) == ["file.jsonl", "gone.jsonl", "zero.jsonl"]
    said = {name: [r for r in read_file(path)] for name, path in listed.items() if path.exists()}
    assert [c.id for c in said["file.jsonl"]] == ["c1"]
    assert [(e.line, e.reason) for e in said["zero.jsonl"]] == [(None, NOT_REGULAR)]

    options = ReadOptions()
    shards, errors, files = plan_shards([given], options, options_variant(None, True, False, options), 4)
    assert files == 3 and [s.name for s in shards] == ["file.jsonl"]
    assert sorted((Path(e.path).name, e.reason) for e in errors) == [
        ("gone.jsonl", "没有这个文件或文件夹"),
        ("zero.jsonl", NOT_REGULAR),
    ]


def test_a_workbook_number_too_long_for_python_says_what_the_cell_is(tmp_path):
    """openpyxl reads a number cell as an int; past Python's digit guard the message was Python's advice to lift it."""
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in (["会话ID", "角色", "内容"], ["c1", "客户", "你好"], ["c1", "坐席", 987654321]):
        sheet.append(row)
    small, big = tmp_path / "small.xlsx", tmp_path / "big.xlsx"
    book.save(small)
    with zipfile.ZipFile(small) as given, zipfile.ZipFile(big, "w") as patched:
        for item in given.infolist():
            data = given.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                data = data.replace(b"<v>987654321</v>", b"<v>" + b"1" * (sys.get_int_max_str_digits() + 1) + b"</v>")
            patched.writestr(item, data)
    error, skipped = [r for r in read_file(big) if isinstance(r, IngestError)]
    assert "有个数字单元格超过" in error.reason and "set_int_max_str_digits" not in error.reason
    assert skipped.reason.startswith("会话 'c1' 有 1 行没有读入（第 3 行）")


# --- one record's problem is that record's ---------------------------------------------------------------------------


def test_one_bad_element_of_a_json_array_is_its_error_and_the_others_are_read(tmp_path):
    """A number too long in one element of a JSON array failed the whole file, its good conversations lost; an
    element that was not an object put every later error on the wrong line. Each element is now read as a JSON Lines
    line is: its problem names its index and the line it starts at (json.dumps writes a whole array on one line)."""
    elements = [
        line(good("g1")),
        '{"id": "no-turns"}',
        '{"id": "typed", "turns": "在吗"}',
        "1",
        '{"id": "huge", "duration": ' + LONG_NUMBER + "}",
        '{"id": "broken" "turns": []}',
        line(good("g7")),
    ]
    path = tmp_path / "array.json"
    path.write_text("[\n" + ",\n".join(e.strip() for e in elements) + "\n]\n", encoding="utf-8")
    assert read(path) == (
        ["g1", "g7"],
        [
            f"{path}:3: 第 2 项：turns：必须填写",
            f"{path}:4: 第 3 项：turns：应为列表",
            f"{path}:5: 第 4 项：应为一个会话（JSON 对象），却是整数",
            f"{path}:6: 第 5 项：JSON 格式错误：数字超过 4,300 位（第 28 列）",
            f"{path}:7: 第 6 项：JSON 格式错误：缺少逗号（第 17 列）",
        ],
    )
    one_line = tmp_path / "one_line.json"
    one_line.write_text(json.dumps([good("a"), {"id": "b", "turns": [{"role": "bot", "text": "x"}]}, good("c")]))
    ids, (error,) = read(one_line)
    assert ids == ["a", "c"] and error.startswith(f"{one_line}:1: 第 2 项：turns.0.role：只能是")
    cut = tmp_path / "cut.json"  # the array itself broken: what came before is kept
    cut.write_text("[\n" + line(good("g1")) + "," + line(good("g2"))[:30], encoding="utf-8")
    assert read(cut) == (["g1"], [f"{cut}:3: 第 2 项：JSON 格式错误：字段名后缺少冒号（第 32 列）"])


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"], ids=["CR", "CRLF", "LF"])
def test_json_errors_are_on_their_line_whatever_the_line_ends(tmp_path, end):
    """A JSON file of old Mac line ends (CR alone) had every error on line 1, at a column counted from the start of
    the file: json counts LF alone. Lines end at CR, CRLF and LF alike, as for JSON Lines, CSV and text logs."""
    array = tmp_path / "array.json"
    elements = [
        line(good("g1")).strip(),
        '{"id": "bot", "turns": [{"role": "bot", "text": "在吗"}]}',
        '{"id": "broken",' + end + '  "turns" []}',  # the error on the element's second line
        '{"id": "twice", "id": "again", "turns": []}',
        line(good("g5")).strip(),
    ]
    array.write_bytes(("[" + end + ("," + end).join(elements) + end + "]" + end).encode())
    assert read(array) == (
        ["g1", "g5"],
        [
            f"{array}:3: 第 2 项：turns.0.role：只能是 'agent'、'customer' 或 'system'",
            f"{array}:5: 第 3 项：JSON 格式错误：字段名后缺少冒号（第 11 列）",
            f'{array}:6: 第 4 项：JSON 格式错误：同一对象里键 "id" 出现了两次，不清楚用哪个值（第 17 列）',
        ],
    )
    broken = tmp_path / "broken.json"  # the array itself broken: a comma missing between elements
    broken.write_bytes(("[" + end + line(good("g1")).strip() + end + line(good("g2")).strip() + end + "]").encode())
    assert read(broken) == (["g1"], [f"{broken}:3: JSON 格式错误：缺少逗号（第 1 列）"])
    single = tmp_path / "single.json"  # one object, read whole
    single.write_bytes(('{"id": "s",' + end + '"turns": [],' + end + '"x": }' + end).encode())
    assert read(single) == ([], [f"{single}:3: JSON 格式错误：这里缺少值，或值的写法不对（第 6 列）"])


class _Scanned(str):
    """Text that counts how many characters its `rfind` calls search."""

    scanned = 0

    def rfind(self, sub, start=None, end=None):  # type: ignore[override]
        _Scanned.scanned += (len(self) if end is None else end) - (start or 0)
        return str.rfind(self, sub, start, end)


@pytest.mark.parametrize("end", ["\n", "\r", "\r\n"], ids=["LF", "CR", "CRLF"])
def test_the_lines_of_a_json_array_are_counted_once(end):
    """Each element's line was found by searching back to the start of the file: 80,000 elements (7.6 MB) took ten
    seconds, a 100 MB export hours. The array is read in one pass: the search covers the text about once."""
    from zuoxi.ingest.canonical import read_json_array

    elements = [line(good(f"c{i}")).strip() for i in range(2_000)]
    text = _Scanned("[" + ("," + end).join(elements) + "]")
    _Scanned.scanned = 0
    records = list(read_json_array(text, "a.json"))
    assert [r.id for r in records] == [f"c{i}" for i in range(2_000)]
    assert _Scanned.scanned <= 3 * len(text)


def test_a_key_given_twice_is_that_records_error(tmp_path):
    """`{"agent_id": "07", …, "agent_id": "12"}` was read as agent 12 without a word, though which one the exporter
    meant is unclear: the record is an error naming the key, at the line and column of its second place."""
    twice_agent = '{"id": "a", "agent_id": "07", "agent_id": "12", "turns": [{"role": "agent", "text": "您好"}]}'
    twice_text = '{"id": "t", "turns": [{"role": "agent", "text": "您好", "text": "再见"}]}'
    jsonl = tmp_path / "twice.jsonl"
    jsonl.write_text(line(good("g1")) + twice_agent + "\n" + twice_text + "\n" + line(good("g4")), encoding="utf-8")
    message = 'JSON 格式错误：同一对象里键 "{}" 出现了两次，不清楚用哪个值'
    assert read(jsonl) == (
        ["g1", "g4"],
        [
            f"{jsonl}:2: {message.format('agent_id')}（第 31 列）",
            f"{jsonl}:3: {message.format('text')}（第 55 列）",
        ],
    )
    array = tmp_path / "twice.json"
    turns = json.dumps(GOOD["turns"], ensure_ascii=False)
    array.write_text(
        f'[\n{line(good("g1")).strip()},\n{{\n  "id": "x",\n  "turns": {turns},\n  "turns": []\n}},\n'
        f"{line(good('g3')).strip()}\n]",
        encoding="utf-8",
    )
    assert read(array) == (["g1", "g3"], [f"{array}:6: 第 2 项：{message.format('turns')}（第 3 列）"])
    single = tmp_path / "single.json"  # one object: the file's error
    single.write_text('{\n"id": "s",\n"turns": [],\n"id": "s2"\n}', encoding="utf-8")
    assert read(single) == ([], [f"{single}:4: {message.format('id')}（第 1 列）"])


def test_a_workbook_cell_too_big_is_its_rows_error(tmp_path, monkeypatch):
    """A number cell of more digits than Python converts ended openpyxl's reading: the whole workbook was one error.
    A text cell over the bound a CSV cell has cost its whole conversation. Each is now the error of its row, naming
    the sheet, and the other rows are read; a conversation that lost a row so is not stored half."""
    import zipfile

    import openpyxl

    from zuoxi.ingest import table

    book = openpyxl.Workbook()
    book.active.title = "会话"
    rows = [["会话ID", "角色", "内容"], ["c1", "客户", "在吗"], ["c1", "坐席", 987654321], ["c1", "坐席", "您好"]]
    rows += [["c2", "客户", "长" * 200], ["c2", "坐席", "好的"], ["c3", "客户", "谢谢"]]
    for row in rows:
        book.active.append(row)
    given, path = tmp_path / "given.xlsx", tmp_path / "cells.xlsx"
    book.save(given)
    with zipfile.ZipFile(given) as source, zipfile.ZipFile(path, "w") as patched:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                data = data.replace(b"<v>987654321</v>", b"<v>" + b"1" * (sys.get_int_max_str_digits() + 1) + b"</v>")
            patched.writestr(item, data)
    monkeypatch.setattr(table, "MAX_LINE_CHARS", 100)  # the bound of a cell's text, here 100 characters
    conversations = [r for r in read_file(path) if isinstance(r, Conversation)]
    assert [(c.id, [t.text for t in c.turns]) for c in conversations] == [("c3", ["谢谢"])]
    skipped = "整个会话都没有导入，免得只凭剩下的行评分；改好这些行后再导入"
    assert read(path)[1] == [
        f'{path}:3: 工作表 "会话"：有个数字单元格超过 {sys.get_int_max_str_digits():,} 位；请把这一列存成文本',
        f'{path}:5: 工作表 "会话" 单元格 C5：200 个字符，超过单元格最多的 100 个',
        f"{path}:2: 会话 'c1' 有 1 行没有读入（第 3 行）：{skipped}",
        f"{path}:5: 会话 'c2' 有 1 行没有读入（第 5 行）：{skipped}",
    ]
