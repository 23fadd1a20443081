"""Exports streamed in bounded memory, on SQLite and PostgreSQL: the same CSV bytes and workbook cells as the export
that loaded every row at once (kept below as the reference), whoever exports and whatever the filter; rows read a chunk
at a time as the download asks for them; formula-like cells inert; and a filter over the limit refused in Chinese
before anything is sent, never cut short."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import Text, cast, event, null, select, update
from sqlalchemy.orm import Session

from zuoxi import review
from zuoxi.engines.local import Batch
from zuoxi.report import export
from zuoxi.store import as_utc
from zuoxi.store.exports import ExportedResult
from zuoxi.store.queries import ConversationFilter, scoped
from zuoxi.store.tables import ConversationRow, ResultRow
from zuoxi.store.users import Account, add_user
from zuoxi.web import create_app

QA = Account(1, "qa", "inspector", None, None, None)
LEAD = Account(2, "lead", "team_lead", "售后二组", None, None)
AGENT = Account(3, "a07", "agent", None, "07", None)
FILTERS = [
    ConversationFilter(),
    ConversationFilter(scorecard="core"),
    ConversationFilter(date_from=date(2026, 12, 1), date_to=date(2026, 12, 6)),
    ConversationFilter(team="售后二组", failed_rule="CS-01"),
]
FORMULAS = ['=HYPERLINK("http://evil.example","点我")', "+1+2", "-3+4", "@SUM(A1)", "\t=1+1"]
TURNS = [{"role": "customer", "text": "你们这什么服务，我要投诉！"}, {"role": "agent", "text": "不知道，这不归我管。"}]
PASSWORD = "correct-horse"


def hostile(tmp_path) -> list:
    """Formula-like ids, agents and teams, a control character, no start time, and one id given to two conversations
    at the same moment (the order's tie)."""
    lines = [
        {"id": f, "agent_id": f, "team": f, "started_at": "2026-12-05T14:03:00+08:00", "turns": TURNS} for f in FORMULAS
    ]
    lines.append({"id": "c\x01-1", "agent_id": "07", "team": "售后二组", "turns": TURNS})
    for text in ("您好，请问有什么可以帮您？", "您好，我是客服小李"):
        turns = [TURNS[0], {"role": "agent", "text": text}]
        lines.append(
            {"id": "twin", "agent_id": "21", "team": "售后二组", "started_at": "2026-12-06T09:00:00Z", "turns": turns}
        )
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return [path]


@pytest.fixture
def varied(store, samples, tmp_path):
    """The samples and the hostile conversations analysed, then again with the core scorecard (results that are not
    the main one); reviews overturn findings, so some results export their reviewed version."""
    files = [samples / "complaint_desk.jsonl", samples / "ecommerce_chats.jsonl", *hostile(tmp_path)]
    for scorecard in (None, "core"):
        for _ in Batch(files, store=store, analyze=True, scorecard=scorecard, resume=False, models=False).run():
            pass
    inspector = add_user(store.engine, "qa-export", PASSWORD, "inspector")
    with Session(store.engine) as session:
        rows = session.scalars(select(ResultRow).order_by(ResultRow.pk)).all()
        failed = [(row.pk, f["rule"]) for row in rows for f in row.data["findings"] if f["status"] == "fail"]
    for pk, rule in failed[::7][:10]:
        review.review_finding(store.engine, inspector, pk, rule, "overturn", "复核改判")
    with Session(store.engine) as session:  # what older writers left for a result never reviewed
        unreviewed = session.scalars(select(ResultRow.pk).where(ResultRow.reviewed.is_(False)).order_by(ResultRow.pk))
        for pk, unset in zip(list(unreviewed)[1::5], (null(), None, {}), strict=False):
            session.execute(update(ResultRow).where(ResultRow.pk == pk).values(final_data=unset))
        session.commit()
    return store


def reference(engine, account: Account, f: ConversationFilter) -> tuple[list[list], list[list]]:
    """The rows as the export read them before it streamed: every matching row loaded at once, whole (the order's
    ties broken by result, as now)."""
    query = (
        scoped(
            select(ConversationRow, ResultRow).join(ResultRow, ResultRow.conversation_key == ConversationRow.key),
            account,
        )
        .where(*f.where())
        .order_by(ConversationRow.started_at, ConversationRow.id, ResultRow.pk)
    )
    scores, findings = [], []
    with Session(engine) as session:
        for c, r in session.execute(query):
            started = as_utc(c.started_at) if c.started_at else None
            result = ExportedResult(
                c.id, c.agent_id, c.team, c.channel, started, r.scorecard, r.score, r.final_score, r.max_score,
                r.failed_rules or "", r.complaint_risk, r.satisfaction, bool(r.reviewed), r.final_data or r.data,
            )  # fmt: skip
            score, failed = export._exported(result, f)
            scores.append(score)
            findings += failed
    return scores, findings


def reference_csv(rows: list[list], which: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(export.SCORE_COLUMNS if which == "scores" else export.FINDING_COLUMNS)
    writer.writerows([[v.isoformat() if isinstance(v, datetime) else export.inert(v) for v in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def reference_xlsx(scores: list[list], findings: list[list]) -> io.BytesIO:
    """The workbook as it was made in memory, its formula-like cells found again by `sheet[sheet.max_row]`."""
    book = Workbook()
    sheet = book.active
    sheet.title = "评分"
    detail = book.create_sheet("问题")
    for target, header, rows in ((sheet, export.SCORE_COLUMNS, scores), (detail, export.FINDING_COLUMNS, findings)):
        target.append(header)
        for row in rows:
            values = [export._clean(v.replace(tzinfo=None) if isinstance(v, datetime) else v) for v in row]
            target.append(values)
            for cell, value in zip(target[target.max_row], values, strict=False):
                if isinstance(value, str) and value.startswith(export.FORMULA_STARTS):
                    cell.data_type, cell.quotePrefix = "s", True
                if isinstance(value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm:ss"
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return buffer


def cells(book) -> dict:
    """Every sheet's cells as a spreadsheet reads them: value, type, quote prefix, and a date's format."""
    return {
        sheet.title: [
            [(c.value, c.data_type, c.quotePrefix, c.number_format if c.is_date else None) for c in row]
            for row in sheet.iter_rows()
        ]
        for sheet in book
    }


def csv_of(engine, account, f, which="scores", **kw) -> bytes:
    return b"".join(export.to_csv(export.export_rows(engine, account, f, **kw), which))


@pytest.mark.parametrize("account", [QA, LEAD, AGENT], ids=["inspector", "team_lead", "agent"])
def test_streamed_exports_hold_what_the_whole_rows_made(varied, account):
    engine = varied.engine
    seen = 0
    for f in FILTERS:
        scores, findings = reference(engine, account, f)
        seen += len(scores)
        for chunk in (2, 1000):
            for which, rows in (("scores", scores), ("findings", findings)):
                assert csv_of(engine, account, f, which, chunk=chunk) == reference_csv(rows, which), (f, which, chunk)
            with export.to_xlsx(export.export_rows(engine, account, f, chunk=chunk)) as book:
                assert cells(load_workbook(book)) == cells(load_workbook(reference_xlsx(scores, findings))), (f, chunk)
    assert seen and any(reference(engine, account, f)[1] for f in FILTERS)


def test_the_varied_database_holds_what_the_exports_must_keep(varied):
    """The comparison above is not vacuous: reviewed results, a missing start time, formula-like cells, a tie."""
    scores, findings = reference(varied.engine, QA, ConversationFilter())
    assert {s[-1] for s in scores} == {"是", "否"} and any(s[4] is None for s in scores)
    assert sum(s[0] == "twin" for s in scores) == 2 and findings
    assert {s[0] for s in scores} >= set(FORMULAS)
    with Session(varied.engine) as session:
        unset = session.scalars(select(cast(ResultRow.final_data, Text)).where(ResultRow.reviewed.is_(False))).all()
    assert {None, "null", "{}"} <= set(unset)  # and each exports the machine's version, as `final_data or data` did


def test_formula_like_cells_stay_inert_in_both_kinds(varied):
    rows = list(csv.reader(io.StringIO(csv_of(varied.engine, QA, ConversationFilter()).decode("utf-8-sig"))))
    formulas = [row for row in rows if row[0].lstrip("'") in FORMULAS]
    assert sorted(row[0] for row in formulas) == sorted("'" + f for f in FORMULAS)
    assert all(row[1] == row[2] == "'" + row[0][1:].strip() for row in formulas)  # agent and team, trimmed as stored
    assert ["c-1", "07", "售后二组"] in [row[:3] for row in rows]  # the control character left out
    with export.to_xlsx(export.export_rows(varied.engine, QA, ConversationFilter())) as file:
        sheet = load_workbook(file)["评分"]
    written = [row[:3] for row in sheet.iter_rows(min_row=2) if row[0].value in FORMULAS]
    assert len(written) == len(FORMULAS)
    assert all(c.data_type == "s" and c.quotePrefix and not c.value.startswith("'") for row in written for c in row)
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


def test_rows_are_read_a_chunk_at_a_time_as_the_download_asks(varied):
    """Memory is bounded by the chunk: the CSV's header leaves before any result is read, each piece after it holds
    one chunk read just then, and no query reads the results' documents before they are asked for."""
    engine = varied.engine
    reads: list[str] = []

    def count(conn, cursor, statement, *args):
        if "results.data" in statement:
            reads.append(statement)

    total = len(reference(engine, QA, ConversationFilter())[0])
    event.listen(engine, "before_cursor_execute", count)
    try:
        pieces = export.to_csv(export.export_rows(engine, QA, ConversationFilter(), chunk=3))
        assert reads == []  # the selection reads keys only
        assert next(pieces).decode("utf-8-sig").startswith("会话ID,")
        assert reads == []
        first = next(pieces).decode("utf-8")
        assert len(reads) == 1 and len(list(csv.reader(io.StringIO(first)))) == 3
        rest = list(pieces)
        assert len(reads) == len(rest) + 1 == -(-total // 3)
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_filter_over_the_limit_is_refused_never_cut_short(varied):
    engine = varied.engine
    total = len(reference(engine, QA, ConversationFilter())[0])
    assert total > 3
    with pytest.raises(export.TooManyToExport) as refused:
        export.export_rows(engine, QA, ConversationFilter(), limit=total - 1)  # at once: nothing read, nothing sent
    assert "缩小筛选范围" in str(refused.value) and f"{total - 1:,}" in str(refused.value)
    exact = csv_of(engine, QA, ConversationFilter(), limit=total).decode("utf-8-sig").splitlines()
    assert len(exact) - 1 == total  # at the limit: every row, the newest included
    team = len(reference(engine, LEAD, ConversationFilter())[0])
    assert 0 < team < total  # the limit counts what the account may see, not what others' scope holds
    assert len(csv_of(engine, LEAD, ConversationFilter(), limit=team).splitlines()) - 1 == team


def test_the_web_export_over_the_limit_is_a_422_in_chinese(varied, db_url, monkeypatch):
    add_user(varied.engine, "qa-web", PASSWORD, "inspector")
    client = TestClient(create_app(db_url, models=False))
    assert client.post("/api/login", json={"username": "qa-web", "password": PASSWORD}).status_code == 200
    total = len(reference(varied.engine, QA, ConversationFilter())[0])
    team = len(reference(varied.engine, QA, ConversationFilter(team="售后二组"))[0])
    monkeypatch.setattr(export, "EXPORT_LIMIT", team)
    assert team < total
    for url in ("/api/export.csv", "/api/export.csv?which=findings", "/api/export.xlsx"):
        response = client.get(url)
        assert response.status_code == 422 and "缩小筛选范围" in response.json()["detail"], url
    # the list page's export link, followed by a browser: the refusal is a page, not JSON text
    page = client.get("/api/export.xlsx", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "缩小筛选范围" in page.text and '"detail"' not in page.text
    narrowed = client.get("/api/export.csv", params={"team": "售后二组"})
    assert narrowed.status_code == 200 and len(narrowed.content.decode("utf-8-sig").splitlines()) - 1 == team
    book = load_workbook(io.BytesIO(client.get("/api/export.xlsx", params={"team": "售后二组"}).content))
    assert book.sheetnames == ["评分", "问题"] and book["评分"].max_row - 1 == team


def test_findings_past_a_sheets_rows_go_on_in_another_sheet(varied, monkeypatch):
    """A spreadsheet holds 1,048,576 rows a sheet: the findings past them go on in 问题2, 问题3…, none dropped."""
    scores, findings = reference(varied.engine, QA, ConversationFilter())
    monkeypatch.setattr(export, "SHEET_ROWS", 4)  # the header and three findings a sheet
    with export.to_xlsx(export.export_rows(varied.engine, QA, ConversationFilter(), chunk=2)) as file:
        book = load_workbook(file)
    sheets = -(-len(findings) // 3)
    assert book.sheetnames == ["评分", "问题", *(f"问题{n}" for n in range(2, sheets + 1))]
    rows = [cells(book)[name] for name in book.sheetnames[1:]]
    assert all(sheet[0] == [(h, "s", False, None) for h in export.FINDING_COLUMNS] for sheet in rows)
    expected = cells(load_workbook(reference_xlsx(scores, findings)))["问题"][1:]
    assert [row for sheet in rows for row in sheet[1:]] == expected
    assert book["评分"].max_row - 1 == len(scores)


def test_a_start_time_is_a_date_cell_at_the_lists_wall_clock_time(varied):
    f = ConversationFilter(tz=UTC)
    with export.to_xlsx(export.export_rows(varied.engine, QA, f)) as file:
        sheet = load_workbook(file)["评分"]
    started = {row[0].value: row[4] for row in sheet.iter_rows(min_row=2) if row[0].value in FORMULAS}
    assert {c.value for c in started.values()} == {datetime(2026, 12, 5, 6, 3)}
    assert all(c.is_date for c in started.values())


def test_an_empty_selection_is_the_headers_alone(varied):
    f = ConversationFilter(agent_id="nobody")
    assert csv_of(varied.engine, QA, f).decode("utf-8-sig").splitlines() == [",".join(export.SCORE_COLUMNS)]
    with export.to_xlsx(export.export_rows(varied.engine, QA, f)) as file:
        book = load_workbook(file)
    assert [book[name].max_row for name in book.sheetnames] == [1, 1]
