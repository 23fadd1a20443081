"""Call lists from CSV/XLSX: validate each row, keep only what the script needs, de-duplicate.

A bad row (no phone, unreadable or placeholder phone, a duplicate customer, a line in the wrong
encoding, a field the script needs that is empty, an unknown time zone) is reported as
`file:line: reason` and the rest of the list is kept; a rejected number is reported masked. Full
names, ID numbers, full card numbers and phone numbers never reach the database in clear: the
salutation, the card's last four digits, age band and the phone encrypted under the secret do.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from zuoxi.campaigns import vault
from zuoxi.campaigns.campaign import needed_customer_fields
from zuoxi.campaigns.models import CampaignSpec, zone
from zuoxi.ingest import file_bytes
from zuoxi.ingest.encoding import decode_bytes, text_lines
from zuoxi.ingest.errors import IngestError
from zuoxi.ingest.table import csv_problem, sheet_rows
from zuoxi.privacy import mask_text, masked_name, valid_id_number
from zuoxi.store import Store
from zuoxi.store.campaigns import NewCustomer, add_customers

_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0[1-9]\d{8,10}")  # area codes are 010, 02x, 03xx–09xx: never 00
HEADER_SEARCH_ROWS = 20  # a title or a note above the headers is skipped, this far down
_COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "长孙",
    "宇文",
    "司徒",
    "夏侯",
    "令狐",
)
AGE_BANDS = ((30, "<30"), (40, "30-39"), (50, "40-49"), (60, "50-59"), (200, "60+"))


@cache
def list_columns() -> dict[str, list[str]]:
    """Call-list field → the headers that mean it (data/calllist_columns.yaml)."""
    return yaml.safe_load(
        resources.files("zuoxi.campaigns").joinpath("data/calllist_columns.yaml").read_text(encoding="utf-8")
    )


@dataclass
class ListImport:
    rows: int = 0
    imported: int = 0
    already: int = 0  # rows an earlier import of the same file and line stored: a re-run is no error
    errors: list[IngestError] = field(default_factory=list)


MISSING_PHONE = "没有电话号码"


def check_phone(value: str) -> tuple[str | None, str]:
    """(digits of a mainland mobile or landline number, country prefix dropped, "") or (None, why not);
    the reason shows the value masked, since a rejected number may still be someone's."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", value))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            digits = digits[len(prefix) :]
    if not (_MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits)):
        return None, f"认不出电话号码 {masked_phone(value)!r}（应为中国大陆手机或固定电话号码）"
    if len(set(digits[-8:])) == 1:
        return None, f"占位的电话号码 {masked_phone(value)!r}（后八位数字全都一样）"
    return digits, ""


def normalize_phone(value: str) -> str | None:
    return check_phone(value)[0]


def masked_phone(value: str) -> str:
    """Every digit starred but the last four (all of them when there are fewer than eight)."""
    total = sum(ch.isdigit() for ch in value)
    keep = 4 if total >= 8 else 0
    seen, out = 0, []
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - keep else "*")
        else:
            out.append(ch)
    return "".join(out)


MAX_AGE = 130  # past it (or below 0) an age cell is a mistake: no band, a note


def age_band(age: int) -> str | None:
    """The report's band of an age; None for an age no customer has (a list's 200 crashed the whole import)."""
    if not 0 <= age < MAX_AGE:
        return None
    return next(label for limit, label in AGE_BANDS if age < limit)


def _years(born: date, as_of: date) -> int:
    return as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))


def salutation(name: str, gender: str | None) -> str:
    """张三, 男 → 张先生: the script's {{name}}; the full name is not kept."""
    surname = name[:2] if name.startswith(_COMPOUND_SURNAMES) else name[:1]
    title = {"男": "先生", "m": "先生", "male": "先生", "女": "女士", "f": "女士", "female": "女士"}.get(
        (gender or "").lower()
    )
    return surname + (title or "先生/女士")


NAME_MARKS = frozenset(
    " ·・•.'-*()（）"
)  # between the parts of a name (买买提·艾力, O'Brien), a list's own masking (张**), a note on it (张三（先生）)


def name_problem(name: str) -> str | None:
    """Why a list's name is not one to greet a customer by (None: it is): it must begin with a letter (the surname)
    and hold only letters, digits (a list's own 张三2, 客户17), their marks and `NAME_MARKS`. Markup
    (`<img src=x onerror=…>`), a spreadsheet formula (`=cmd|' /C calc'!A0`), a control or bidi character is a bad
    row, reported, not a customer called 先生/女士: refused, the row's customer is not called at all, so only what
    no name holds is refused."""
    if not name[:1].isalpha():
        return f"姓名应以姓开头，却以{_shown_char(name[0])}开头：这一行没有导入"
    for char in name:
        if not (char.isalnum() or unicodedata.category(char).startswith("M") or char in NAME_MARKS):
            return (
                f"姓名不像人名（含有{_shown_char(char)}）：只能是文字和数字，可带空格、括号和 · . ' - *，这一行没有导入"
            )
    return None


def _shown_char(char: str) -> str:
    return f"「{char}」" if char.isprintable() and not char.isspace() else f"不可见字符 U+{ord(char):04X}"


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores phone and card numbers as numbers
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return unicodedata.normalize("NFKC", str(value)).strip()


def _decode_lines(data: bytes, path: str) -> tuple[list[str], list[IngestError]]:
    """Text lines of a CSV; a line in another encoding than the rest becomes empty and is reported."""
    raw = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    good, bad = 0, []
    for number, line in enumerate(raw, start=1):
        try:
            line.decode("utf-8")
            good += not line.isascii()
        except UnicodeDecodeError:
            bad.append(number)
    errors = []
    if bad and good >= len(bad):  # a UTF-8 list with a few lines pasted from a GBK file
        lines = []
        for number, line in enumerate(raw, start=1):
            try:
                lines.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append("")
                errors.append(IngestError(path, number, "编码错误：这一行不是 UTF-8，与文件其他行不同"))
    else:
        lines = text_lines(decode_bytes(data)[0])  # CR-only line ends too
    for number, text in enumerate(lines, start=1):
        if "\ufffd" in text:
            lines[number - 1] = ""
            errors.append(IngestError(path, number, "编码错误：这一行有 U+FFFD（文字在此前的转换中已经乱码）"))
    return lines, errors


def unreadable_rows(decoded: list[IngestError], header_line: int) -> int:
    """How many lines below the header `read_table` could not decode (`decoded`: the errors as it returns them,
    before any row is read): a line of another encoding, or one already garbled, is read as empty, yet it is a row
    of the list all the same. Counted as a row (its error says why it was skipped), so that a summary's rows are
    what was imported, already there and skipped."""
    return sum(error.line is not None and error.line > header_line for error in decoded)


MAX_RESTARTS = 100  # unreadable lines a list may hold before the rest of it is given up


def read_table(path: Path, where: str) -> tuple[Iterator[tuple[int, list[str]]], list[IngestError]]:
    """(line number, cells) of a CSV or XLSX file, and the list of what could not be read, reported under the name
    `where`: a file that cannot be read at all (not a regular file, over the size bound, no text, no workbook), lines
    that could not be decoded, and — added while the rows are read — a break that ends the rest (a workbook cut
    short). Never raises: one broken list is one message, not a traceback."""
    data = file_bytes(path, where)
    if isinstance(data, IngestError):
        return iter(()), [data]
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            errors: list[IngestError] = []
            rows = ((i, [_cell_text(c) for c in row]) for i, row in sheet_rows(data))
            return _until_broken(rows, where, errors), errors
        lines, errors = _decode_lines(data, where)
    except Exception as error:  # noqa: BLE001 - openpyxl and zipfile raise many types for a broken workbook
        return iter(()), [IngestError(where, None, f"名单读不了（{type(error).__name__}: {error}）")]
    sample = "\n".join(lines[:20])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        delimiter = ","

    def records() -> Iterator[tuple[int, list[str]]]:
        """The rows, each at its first line (a quoted cell may span lines). A line the strict reader refuses — a
        quote never closed, which would take every line after it into one cell, or text after a closing quote — is
        reported, and the file read again from the line after it."""
        begin = 0  # lines read before this reader's first
        for _ in range(MAX_RESTARTS):
            reader = csv.reader(io.StringIO("\n".join(lines[begin:])), csv.excel, delimiter=delimiter, strict=True)
            start = begin + 1
            try:
                for row in reader:
                    yield start, [_cell_text(c) for c in row]
                    start = begin + reader.line_num + 1
                return
            except csv.Error as error:
                errors.append(IngestError(where, start, f"{csv_problem(error)}；从下一行接着读"))
                begin = start
        errors.append(IngestError(where, begin + 1, f"读不了的行超过 {MAX_RESTARTS} 行：余下的部分不再读"))

    return _until_broken(records(), where, errors), errors


def _until_broken(
    rows: Iterator[tuple[int, list[str]]], where: str, errors: list[IngestError]
) -> Iterator[tuple[int, list[str]]]:
    """`rows` until one cannot be read (a sheet's XML cut short, a CSV record the reader refuses): that is added to
    `errors` with the line it came after, and the rows before it are kept."""
    line = 0
    try:
        for line, cells in rows:
            yield line, cells
    except Exception as error:  # noqa: BLE001 - openpyxl, its XML parser and csv raise many types
        errors.append(IngestError(where, line + 1, f"文件余下的部分读不了（{type(error).__name__}: {error}）"))


def find_header(
    rows: Iterator[tuple[int, list[str]]], columns: dict[str, list[str]]
) -> tuple[int, list[str], Iterator[tuple[int, list[str]]]]:
    """(line, cells) of the header row and the rows after it: of the first non-empty rows, the one
    naming most known columns, so a title row or a note above the headers is skipped."""
    known = {name for names in columns.values() for name in names}
    head: list[tuple[int, list[str]]] = []
    for number, cells in rows:
        if any(cells):
            head.append((number, cells))
            if len(head) == HEADER_SEARCH_ROWS:
                break
    if not head:
        return 1, [], iter(())
    best = max(range(len(head)), key=lambda i: (sum(c in known for c in head[i][1]), -i))
    line, cells = head[best]
    return line, cells, itertools.chain(head[best + 1 :], rows)


def import_call_list(
    store: Store,
    campaign: str,
    path: Path,
    as_of: date | None = None,
    name: str | None = None,
    secret: str | None = None,
) -> ListImport:
    """Add the customers of one file to a campaign. `as_of` is the date ages are counted at
    (today by default) when the list gives a birth date or an ID number instead of an age;
    `name` is what reports call the file (default: its path); `secret` replaces $ZUOXI_SECRET_KEY."""
    as_of = as_of or date.today()
    box = vault.vault(secret)
    summary, where = ListImport(), mask_text(name) if name else masked_name(path)  # stored as each customer's source
    rows, summary.errors = read_table(path, where)
    decoded = list(summary.errors)  # the lines that could not be decoded: rows that cannot be read
    header_line, headers, rows = find_header(rows, list_columns())
    if not headers and summary.errors:  # nothing could be read, and why is said
        return summary
    summary.rows = unreadable_rows(decoded, header_line)
    index = {
        fieldname: next((headers.index(h) for h in names if h in headers), None)
        for fieldname, names in list_columns().items()
    }
    if index["phone"] is None:
        summary.errors.append(
            IngestError(
                where,
                header_line,
                f"找不到电话列（表头：{mask_text(', '.join(headers))}；"
                f"应为其中之一：{', '.join(list_columns()['phone'])}）",
            )
        )
        return summary

    def build(spec: CampaignSpec, seen_phone: dict[str, str], seen_ref: dict[str, str]) -> Iterator[NewCustomer]:
        needed = needed_customer_fields(spec)
        for number, cells in rows:
            if not any(cells):
                continue
            summary.rows += 1

            def cell(name: str, cells: list[str] = cells) -> str:
                i = index[name]
                return cells[i] if i is not None and i < len(cells) else ""

            customer, reason, notes = _customer(cell, needed, as_of)
            summary.errors += [IngestError(where, number, note, note=True) for note in notes]
            if customer is None:
                summary.errors.append(IngestError(where, number, reason))
                continue
            phone = customer.pop("phone")
            phone_hash = box.lookup(phone)
            ref = customer["ref"]
            if _repeated(summary, where, number, seen_phone.get(phone_hash), seen_ref.get(ref) if ref else None):
                continue
            seen_phone[phone_hash] = f"第 {number} 行"
            if ref:
                seen_ref[ref] = f"第 {number} 行"
            summary.imported += 1
            yield NewCustomer(
                phone_hash=phone_hash,
                phone_tail=phone[-4:],
                phone_enc=box.encrypt(phone),
                source=f"{where}:{number}",
                **customer,
            )

    add_customers(store.engine, campaign, build)
    summary.errors.sort(key=lambda error: error.line or 0)  # in the file's order (lines of another encoding first)
    return summary


def _repeated(summary: ListImport, where: str, number: int, same_phone: str | None, same_ref: str | None) -> bool:
    """Whether a row is a customer already listed (`same_phone`/`same_ref`: where the one with its phone or customer
    number came from): this very row imported before — the list run again, counted as already listed — or another
    row, an error naming the one kept."""
    earlier = same_phone or same_ref
    if earlier is None:
        return False
    if earlier == f"{where}:{number}":
        summary.already += 1
    else:
        what = "电话" if same_phone else "客户编号"
        if earlier == "the campaign":  # zuoxi.store.campaigns.add_customers: a customer stored without a source
            earlier = "活动里已有的客户"
        space = " " if earlier[:1].isascii() else ""  # a file's name, spaced from the Chinese around it
        summary.errors.append(
            IngestError(where, number, f"重复的客户：{what}与{space}{earlier}{space}相同（保留了那一条）")
        )
    return True


def stored_ref(value: str) -> str | None:
    """A list's own customer number as it is stored (masked: lists often number customers by their phone), so a
    dialer's export naming the same number finds the customer."""
    return mask_text(value) or None


def _customer(cell, needed: set[str], as_of: date) -> tuple[dict | None, str, list[str]]:
    """The stored fields of one row, or (None, why the row is skipped); and what to note of a row imported (an age
    no customer has: imported without an age band, the age being only for the report)."""
    raw_phone = cell("phone")
    if not raw_phone:
        return None, MISSING_PHONE, []
    phone, why = check_phone(raw_phone)
    if phone is None:
        return None, why, []
    try:
        timezone = cell("timezone") or None
        zone(timezone)
    except ValueError as error:
        return None, str(error), []
    id_number = cell("id_number").upper()
    id_ok = len(id_number) == 18 and id_number[:17].isdigit() and valid_id_number(id_number)
    card = re.sub(r"\D", "", cell("card_last4") or cell("card"))
    band, notes = _age_band(cell, id_number if id_ok else "", as_of)
    fields: dict[str, Any] = {
        "ref": stored_ref(cell("ref")),
        "region": mask_text(cell("region")) or None,
        "occupation": mask_text(cell("occupation")) or None,
        "age_band": band,
    }
    if "card_last4" in needed:
        if len(card) < 4:
            return None, "没有卡号：话术要说出卡号后四位", []
        fields["card_last4"] = card[-4:]
    if "salutation" in needed:
        name = cell("name")
        if not name:
            return None, "没有姓名：话术要称呼客户的姓", []
        if problem := name_problem(name):
            return None, problem, []
        gender = cell("gender") or (("男" if int(id_number[16]) % 2 else "女") if id_ok else None)
        fields["salutation"] = salutation(name, gender)
    branch = mask_text(cell("branch"))
    if "branch" in needed and not branch:
        return None, "没有网点：话术要说出客户所属的网点", []
    fields["branch"] = branch or None
    fields["timezone"] = timezone
    fields["phone"] = phone
    return fields, "", notes


def _age_band(cell, id_number: str, as_of: date) -> tuple[str | None, list[str]]:
    """The customer's age band (from the age, else the birth date or ID number), and a note where the age cell holds
    no age a customer has (the row is imported: the age is only for the report)."""
    age = cell("age").removesuffix("周岁").removesuffix("岁").strip()
    if age:
        band = age_band(int(age)) if age.isdigit() else None
        said = f"年龄 {mask_text(age)[:20]!r} 不是 0–{MAX_AGE - 1} 的整数：这位客户不计入年龄段"
        return band, [] if band else [said]
    born = cell("birth_date") or (f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}" if id_number else "")
    try:
        when = datetime.strptime(born.replace("/", "-")[:10], "%Y-%m-%d").date() if born else None
    except ValueError:
        return None, []
    return (age_band(_years(when, as_of)) if when else None), []
