"""`zuoxi db remask`: personal data masked again, by today's masker, in every stored text its write paths mask.

The masker has grown (full-width digits, dotted and spaced numbers, metadata keys…) and masking has reached fields
once stored as typed (users' teams and names, webhooks, plans, drills, notes, comments…): a database an older zuoxi
wrote still holds what today's would mask, and no write path goes back over it. This walks each of those texts, a
batch of rows at a time (keyset by primary key, one transaction per batch: bounded memory on any size of database),
and rewrites each value the masker changes, as the write path stores it today:

- teams and agent ids as `masked_label` makes them (masked, then canonical), wherever they are kept (conversations
  and their JSON, results' list columns, users, webhooks, plans' scopes, queue items, alerts, campaigns, drills'
  trainees), so that one agent or team is one value everywhere; the dashboard's figures (`stats`) are rebuilt when
  they held another form;
- a conversation's id, turns, recording name and metadata as `mask_conversation` masks them (the id as `mask_id`
  does, wherever it is kept: an id that only looked like a card to an older masker stays as it is stored), its
  source file as `masked_name` names it, its search text again from the masked turns; the results of the
  conversation (and every version of them) with its id and their evidence masked, their evidence spans and emotion
  cues moved to where the same words are in the masked turns;
- texts people wrote (comments, appeal reasons, notes, drill turns, the audit log's before and after) as `mask_text`;
  a sampling plan as `save_plan` stores it (`stored_text`), a promoted case's YAML with its fields masked, a
  scorecard's YAML as the editor saves it (`masked_text`: its values and comments, the layout kept). The messages
  and suggestions a scorecard copied into results are masked with the results' other strings.

Keys are never rewritten: conversation keys (hashes), usernames, plan and case ids (personal data in one is refused
where they are made), so nothing that refers to them changes. A rewrite the database refuses (a unique index two
masked values would share, a value grown past its column), or a row that cannot be masked (stored JSON that does not
read, or nests deeper than masking follows), leaves that row, and the rows that go with it, as they were: it is
reported, never raised. A second run finds nothing to change.

Left alone, as no write path masks them: campaigns' definitions (a hotline is a business's number),
webhook URLs and delivery errors, calibration round names; and conversations imported with `--no-mask` are masked
like any other (the rule is that nothing is stored unmasked).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import yaml
from sqlalchemy import JSON, Table, Text, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from zuoxi.normalize import normalize_text
from zuoxi.privacy import mask_id, mask_text, mask_turns, mask_value, masked_name
from zuoxi.store import masked_label
from zuoxi.store.tables import (
    AppealRow,
    AuditEntry,
    Base,
    CampaignAttempt,
    CampaignCallback,
    CampaignCustomer,
    ComplaintAlertRow,
    ConversationRow,
    DoNotCall,
    ImportedFile,
    ImportJob,
    QueueItemRow,
    ResultRow,
    ResultVersion,
    ReviewRow,
    SamplingPlanRow,
    ScorecardRow,
    StatRow,
    TrainingAttempt,
    TrainingCase,
    User,
    WebhookRow,
)

__all__ = ["BATCH", "Refused", "RemaskReport", "has_stored_data", "remask"]

BATCH = 500  # rows read, and written in one transaction, at a time
_PASSES = 3  # masking is idempotent; a value it would still change after this many passes is masked that far


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# --- what each kind of value becomes ---------------------------------------------------------------------


def _settled(mask: Callable[[Any], Any], value: Any) -> Any:
    """`mask` applied to its fixed point, so that a second run changes nothing (a value it would turn into none
    stays as it is)."""
    for _ in range(_PASSES):
        again = mask(value)
        if again is None or again == value:
            break
        value = again
    return value


def _text(value: Any) -> Any:
    """A text masked as `mask_text` masks it."""
    return _settled(mask_text, value) if isinstance(value, str) else value


def _id(value: Any) -> Any:
    """A conversation's id as `mask_id` masks it."""
    return _settled(mask_id, value) if isinstance(value, str) else value


def _label(value: Any) -> Any:
    """A team or agent id as `masked_label` stores it; an empty one, or one that would become none, as it is."""
    return _settled(masked_label, value) if isinstance(value, str) and value else value


def _value(value: Any) -> Any:
    """Metadata as `mask_value` masks it: strings, numbers that read as personal data, keys too."""
    return _settled(mask_value, value)


def _strings(value: Any, keep_ids: bool = False) -> Any:
    """Every string in a JSON value masked (mapping keys too), numbers and the rest as they are; `keep_ids`: the
    values under an "id" key left alone (ids are keys that other rows and URLs name)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return [_strings(item, keep_ids) for item in value]
    if isinstance(value, dict):
        return {
            _text(key): item if keep_ids and key == "id" else _strings(item, keep_ids) for key, item in value.items()
        }
    return value


def _source(value: Any) -> Any:
    """A stored file name (`source`, `path`; `file:line` of a list's row) as `masked_name` names it."""
    return _settled(masked_name, value) if isinstance(value, str) else value


# --- conversations and their results -----------------------------------------------------------------------

# A turn whose text masking changed: (text before, text after, the alignment of the two).
_Moved = tuple[str, str, list[tuple[str, int, int, int, int]]]


def _turn_texts(turns: list[Any]) -> dict[int, str]:
    """The text of each turn that has one (a string), by index, masked as `mask_conversation` masks it: each as
    `mask_text` does, and a number that one speaker's consecutive turns split in every part (`mask_turns`)."""
    texts = {i: _text(t["text"]) for i, t in enumerate(turns) if isinstance(t, dict) and isinstance(t.get("text"), str)}
    # a speaker's turns are consecutive only with no other turn between: the index less the position stays the same
    speakers = [(turns[i].get("role"), i - at) for at, i in enumerate(texts)]
    said = list(texts.values())
    for _ in range(_PASSES):
        again = mask_turns(list(zip(speakers, said, strict=True)))
        if again == said:
            break
        said = again
    return dict(zip(texts, said, strict=True))


def _turn(turn: Any, index: int, moved: dict[int, _Moved], masked: str | None) -> Any:
    """A turn (its JSON) with its text masked (`masked`, as `_turn_texts` masks it); one whose text changed is noted
    in `moved`. A turn that is no object, or whose text is no string (a number), masked as metadata is."""
    if not isinstance(turn, dict):
        return _value(turn)
    text = turn.get("text")
    if not isinstance(text, str) or masked is None:
        return turn if (value := _value(text)) == text else {**turn, "text": value}
    if masked == text:
        return turn
    opcodes = difflib.SequenceMatcher(None, text, masked, autojunk=False).get_opcodes()
    moved[index] = (text, masked, [(str(tag), i1, i2, j1, j2) for tag, i1, i2, j1, j2 in opcodes])
    return {**turn, "text": masked}


def _conversation(data: Any) -> tuple[Any, dict[int, _Moved]]:
    """A stored conversation (its JSON) masked as `mask_conversation` and `canonical` store it, and its turns
    whose text changed, by index. A field of another type than a conversation's (an id that is a number, turns that
    are no list) is masked as metadata is: no write path stored one, and `_text` and `_label` left it as it was."""
    if not isinstance(data, dict):
        return _strings(data), {}
    new = dict(data)
    for name, mask in (("id", _id), ("audio", _text), ("agent_id", _label), ("team", _label), ("meta", _value)):
        if name in data:
            new[name] = mask(data[name]) if isinstance(data[name], str) else _value(data[name])
    moved: dict[int, _Moved] = {}
    if isinstance(turns := data.get("turns"), list):
        texts = _turn_texts(turns)
        new["turns"] = [_turn(turn, index, moved, texts.get(index)) for index, turn in enumerate(turns)]
    elif "turns" in data:
        new["turns"] = _value(turns)
    return new, moved


def _start(moved: _Moved, at: int) -> int:
    """Where a span starting at `at` of the old text starts in the masked one (a masked number: at its start)."""
    old, new, opcodes = moved
    if at >= len(old):
        return len(new)
    for tag, i1, i2, j1, _ in opcodes:
        if i1 <= at < i2:
            return j1 + (at - i1) if tag == "equal" else j1
    return 0


def _end(moved: _Moved, at: int) -> int:
    """Where a span ending at `at` of the old text ends in the masked one (a masked number: at its end)."""
    _, new, opcodes = moved
    if at <= 0:
        return 0
    for tag, i1, i2, j1, j2 in opcodes:
        if i1 < at <= i2:
            return j1 + (at - i1) if tag == "equal" else j2
    return len(new)


def _span(moved: dict[int, _Moved], turn: Any, start: Any, end: Any) -> tuple[int, int] | None:
    """A [start, end) span of a turn whose text changed, in the masked text; None when it did not change."""
    if not (isinstance(turn, int) and isinstance(start, int) and isinstance(end, int)) or turn not in moved:
        return None
    new_start, new_end = _start(moved[turn], start), _end(moved[turn], end)
    return new_start, max(new_start, new_end)


def _evidence(item: Any, moved: dict[int, _Moved]) -> Any:
    """Evidence pointing where its words are in the masked turn; quoting the masked span if it quoted its span."""
    if not isinstance(item, dict) or not (span := _span(moved, item.get("turn"), item.get("start"), item.get("end"))):
        return item
    old, new, _ = moved[item["turn"]]
    quoted = item.get("text") == old[item["start"] : item["end"]]
    return {**item, "start": span[0], "end": span[1], "text": new[span[0] : span[1]] if quoted else item.get("text")}


def _finding(finding: Any, moved: dict[int, _Moved]) -> Any:
    if not isinstance(finding, dict) or not isinstance(finding.get("evidence"), list):
        return finding
    return {**finding, "evidence": [_evidence(item, moved) for item in finding["evidence"]]}


def _emotion(emotion: Any, moved: dict[int, _Moved]) -> Any:
    """A turn's emotion with its cue (a [start, end) span) where the words are in the masked turn."""
    cue = emotion.get("cue") if isinstance(emotion, dict) else None
    if isinstance(cue, list) and len(cue) == 2 and (span := _span(moved, emotion.get("turn"), *cue)):
        return {**emotion, "cue": list(span)}
    return emotion


def _result(data: Any, moved: dict[int, _Moved]) -> Any:
    """A stored result (its JSON) of a conversation whose turns `moved`: evidence and emotion cues pointing where
    the same words are in the masked turns, then every string masked (evidence, messages), the conversation id as
    ids are."""
    if not isinstance(data, dict):
        return _strings(data)
    if moved and isinstance(data.get("findings"), list):
        data = {**data, "findings": [_finding(finding, moved) for finding in data["findings"]]}
    if moved and isinstance(data.get("customer_emotion"), list):
        data = {**data, "customer_emotion": [_emotion(emotion, moved) for emotion in data["customer_emotion"]]}
    masked = _strings(data)
    if isinstance(ident := data.get("conversation_id"), str):
        masked["conversation_id"] = _id(ident)
    return masked


# --- sampling plans and promoted cases ------------------------------------------------------------------


def _plan_spec(spec: Any) -> Any:
    """A stored plan's spec as the plan's parts mask it (`Written`): texts masked, ids kept, the scope's teams and
    agents masked and canonical."""
    masked = _strings(spec, keep_ids=True)
    if isinstance(masked, dict) and isinstance(scope := masked.get("scope"), dict):
        masked["scope"] = {
            **scope,
            **{
                name: [label for v in scope[name] if (label := _label(v))]
                for name in ("teams", "agents")
                if isinstance(scope.get(name), list)
            },
        }
    return masked


def _plan(row: dict) -> dict:
    """A plan's title, YAML and spec as `save_plan` would store them today (the spec from its YAML, when it still
    reads as a plan; else each masked where it is)."""
    from zuoxi.queues.plans import PlanError, parse_plan, stored_text  # the plans' rules live with the queues

    spec = _plan_spec(row["spec"])
    if _text(row["yaml"]) == row["yaml"] and spec == row["spec"] and _text(row["title"]) == row["title"]:
        return {}
    try:
        parsed = parse_plan(row["yaml"], row["name"])
        if parsed.id != row["name"]:
            raise PlanError([f"{row['name']}: id {parsed.id}"])
        spec, title, text = parsed.model_dump(mode="json"), parsed.name, stored_text(parsed, row["yaml"])
    except PlanError:  # a plan an older zuoxi took that today's refuses: masked where it stands
        title, text = _text(row["title"]), _text(row["yaml"])
        try:
            reads = yaml.safe_load(text) is not None
        except yaml.YAMLError:  # a masked value read as a YAML alias
            reads = False
        if not reads:
            text = yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)
    if _text(text) != text:  # the spec written out where it quotes what it masks: masked text never changes again
        text = _text(text)
    return {name: value for name, value in (("title", title), ("yaml", text), ("spec", spec)) if value != row[name]}


class _NoAliases(yaml.SafeLoader):
    """YAML without aliases (`*name`), which `promote` never writes: masking walked every copy they stand for (a
    stored case of 272 bytes of them took 14 s and 18 MB, and each level more ten times that)."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "an alias", self.peek_event().start_mark)
        return super().compose_node(parent, index)


def _case_yaml(text: Any) -> Any:
    """A promoted case's YAML with what the trainer typed masked (`promote`: `mask_value`) and its conversation as
    conversations are; its id kept. Written out again, as `promote` writes it, only when something was masked; YAML
    that does not read (or holds an alias) masked where it stands."""
    if not isinstance(text, str):
        return text
    try:
        data = yaml.load(text, Loader=_NoAliases)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError:
        return text if _text(text) == text else _text(text)
    if not isinstance(data, dict):
        return _text(text)
    masked = {
        key: value if key == "id" else _conversation(value)[0] if key == "conversation" else _value(value)
        for key, value in data.items()
    }
    if masked == data:
        return text
    return yaml.safe_dump(masked, allow_unicode=True, sort_keys=False)


def _scorecard_yaml(text: Any) -> Any:
    """A scorecard's YAML as the editor saves it today (`masked_text`); `_Unmaskable` when YAML that read no longer
    would (a masked number in an anchor's name), left as it was."""
    from zuoxi.rules.scorecard import masked_text  # the scorecard's syntax lives with the rules

    if not isinstance(text, str) or (masked := _settled(masked_text, text)) == text:
        return text
    try:
        list(yaml.parse(text))
    except yaml.YAMLError:
        return masked  # it never read: masked where it stands
    try:
        list(yaml.parse(masked))
    except yaml.YAMLError:
        raise _Unmaskable(("yaml",), "打码后不再是有效的 YAML") from None
    return masked


# --- the walk ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """A row the database would not take masked, or that cannot be masked (`_Unmaskable`), left as it was with the
    rows that go with it (a conversation's results): its table, primary key and the columns that would have changed
    (or that do not read)."""

    table: str
    key: str
    columns: tuple[str, ...]
    reason: str  # in Chinese, without the values


@dataclass
class RemaskReport:
    dry_run: bool
    changed: dict[str, dict[str, int]] = field(default_factory=dict)  # table → column → values rewritten
    rows: dict[str, int] = field(default_factory=dict)  # table → rows read
    refused: list[Refused] = field(default_factory=list)
    stats_rebuilt: bool = False  # the dashboard's figures (`stats`) were (or, dry, would be) rebuilt

    @property
    def total(self) -> int:
        return sum(n for columns in self.changed.values() for n in columns.values())

    def audited(self) -> dict:
        """What the audit log keeps of a run: counts and row keys, no value."""
        return {
            "changed": {f"{t}.{c}": n for t, columns in self.changed.items() for c, n in columns.items() if n},
            "refused": [f"{r.table}:{r.key}" for r in self.refused[:100]],
            "stats_rebuilt": self.stats_rebuilt,
        }


# One row's new values: (table, primary key column, key, {column: value}). A unit is what is written together.
_Update = tuple[Table, str, Any, dict[str, Any]]


class _Unreadable:
    """A stored JSON value that does not read: not JSON (SQLite keeps any text), or nested deeper than Python's
    parser follows (PostgreSQL takes it)."""


class _Unmaskable(Exception):
    """A row that cannot be masked: the columns that do not read, and why (in Chinese)."""

    def __init__(self, columns: tuple[str, ...], reason: str):
        super().__init__(reason)
        self.columns, self.reason = columns, reason


def _columns(table: Table, names: list[str]) -> list[Any]:
    """The columns to select, JSON ones as their text (`_loaded`): the database's driver parsed them, and one row's
    JSON that did not read ended the run with a traceback."""
    return [
        sql_cast(table.c[name], Text).label(name) if isinstance(table.c[name].type, JSON) else table.c[name]
        for name in names
    ]


def _loaded(table: Table, row: Any) -> dict:
    """A row read by `_columns`, its JSON parsed; `_Unreadable` for JSON that does not read."""
    loaded = dict(row._mapping)
    for name, value in loaded.items():
        if isinstance(value, str) and isinstance(table.c[name].type, JSON):
            try:
                loaded[name] = json.loads(value)
            except (ValueError, RecursionError):
                loaded[name] = _Unreadable()
    return loaded


def _readable(*rows: dict, table: str = "") -> None:
    """`_Unmaskable` when a value of these rows (of `table`, when not the row reported) is stored JSON that does not
    read."""
    unread = dict.fromkeys(
        f"{table}.{name}" if table else name
        for row in rows
        for name, value in row.items()
        if isinstance(value, _Unreadable)
    )
    if unread:
        raise _Unmaskable(tuple(unread), "存储的 JSON 无法读取（不是 JSON，或嵌套过深）")


def _rows(engine: Engine, table: Table, key: str, columns: list[str], batch: int, where=None) -> Iterator[list[dict]]:
    """The table's rows (their key and `columns`, JSON parsed by `_loaded`), `batch` at a time in key order, each
    batch read on its own."""
    key_column = table.c[key]
    last = None
    while True:
        query = select(*_columns(table, list(dict.fromkeys([key, *columns])))).order_by(key_column).limit(batch)
        if last is not None:
            query = query.where(key_column > last)
        if where is not None:
            query = query.where(where)
        with engine.connect() as connection:
            rows = [_loaded(table, row) for row in connection.execute(query)]
        if not rows:
            return
        yield rows
        last = rows[-1][key]


class _Writer:
    """Writes units of updates a batch per transaction, counting what changed; a batch the database refuses is
    written again a unit per transaction, and each unit it still refuses is reported and left."""

    def __init__(self, engine: Engine, report: RemaskReport):
        self.engine, self.report = engine, report

    def count(self, table: Table, columns: list[str]) -> None:
        counts = self.report.changed.setdefault(table.name, {})
        for name in columns:
            counts.setdefault(name, 0)

    def _counted(self, unit: list[_Update]) -> None:
        for table, _, _, values in unit:
            counts = self.report.changed.setdefault(table.name, {})
            for name in values:
                if name in counts:  # derived columns (the search pairs) are written, not reported
                    counts[name] += 1

    @staticmethod
    def _write(connection: Connection, unit: list[_Update]) -> None:
        for table, key, ident, values in unit:
            connection.execute(update(table).where(table.c[key] == ident).values(**values))

    def unit(self, table: Table, ident: Any, make: Callable[[], list[_Update]]) -> list[_Update]:
        """`make()`'s updates of a row and the rows that go with it; none when it cannot be masked — its stored JSON
        does not read (`_Unmaskable`), or nests deeper than masking follows — which is reported, the rows left."""
        try:
            return make()
        except _Unmaskable as error:
            columns, reason = error.columns, error.reason
        except RecursionError:
            columns, reason = (), "JSON 嵌套过深，无法打码"
        self.report.refused.append(Refused(table.name, str(ident), columns, reason))
        return []

    def write(self, units: list[list[_Update]]) -> list[list[_Update]]:
        """Write (unless dry) and count; returns the units written."""
        units = [unit for unit in units if unit]
        if self.report.dry_run or not units:
            for unit in units:
                self._counted(unit)
            return units
        try:
            with self.engine.begin() as connection:
                for unit in units:
                    self._write(connection, unit)
        except (IntegrityError, DataError):
            written = []
            for unit in units:
                try:
                    with self.engine.begin() as connection:
                        self._write(connection, unit)
                except (IntegrityError, DataError) as error:
                    reason = (
                        "与已有的值冲突（唯一约束）" if isinstance(error, IntegrityError) else "打码后的值超出列的限制"
                    )
                    table, _, ident, values = unit[0]  # the row the others go with (a conversation: its results)
                    self.report.refused.append(Refused(table.name, str(ident), tuple(values), reason))
                else:
                    self._counted(unit)
                    written.append(unit)
            return written
        for unit in units:
            self._counted(unit)
        return units


def _row_update(table: Table, key: str, row: dict, values: dict[str, Any]) -> list[_Update]:
    changed = {name: value for name, value in values.items() if value != row[name]}
    return [(table, key, row[key], changed)] if changed else []


_CONVERSATION = ["id", "agent_id", "team", "source", "data", "search_text"]
_RESULT = ["agent_id", "team", "data", "final_data"]


def _dependents(engine: Engine, keys: list[str]) -> tuple[dict[str, list[dict]], dict[int, list[dict]]]:
    """The results of these conversations by conversation key, and the versions of those results by result."""
    results, versions = _table(ResultRow), _table(ResultVersion)
    of_conversation: dict[str, list[dict]] = {}
    of_result: dict[int, list[dict]] = {}
    with engine.connect() as connection:
        query = select(*_columns(results, ["pk", "conversation_key", *_RESULT]))
        for r in connection.execute(query.where(results.c.conversation_key.in_(keys)).order_by(results.c.pk)):
            of_conversation.setdefault(r.conversation_key, []).append(_loaded(results, r))
        pks = [r["pk"] for rows in of_conversation.values() for r in rows]
        for begin in range(0, len(pks), BATCH):
            query = select(*_columns(versions, ["id", "result_pk", "data"]))
            for v in connection.execute(query.where(versions.c.result_pk.in_(pks[begin : begin + BATCH]))):
                of_result.setdefault(v.result_pk, []).append(_loaded(versions, v))
    return of_conversation, of_result


def _result_update(row: dict, moved: dict[int, _Moved]) -> list[_Update]:
    _readable(row)
    values = {
        "agent_id": _label(row["agent_id"]),
        "team": _label(row["team"]),
        "data": _result(row["data"], moved),
        "final_data": _result(row["final_data"], moved) if row["final_data"] is not None else None,
    }
    return _row_update(_table(ResultRow), "pk", row, values)


def _turn_text(turn: Any) -> str:
    """A stored turn's text, for the search text; none when it is no text (a number, a turn that is no object)."""
    text = turn.get("text") if isinstance(turn, dict) else None
    return text if isinstance(text, str) else ""


def _conversation_unit(row: dict, results: list[dict], versions: dict[int, list[dict]], grams: bool) -> list[_Update]:
    """One conversation's updates with its results' and their versions' (`_Unmaskable` when one does not read)."""
    _readable(row)
    _readable(*results, table="results")
    _readable(*(version for result in results for version in versions.get(result["pk"], [])), table="result_versions")
    data, moved = _conversation(row["data"])
    values: dict[str, Any] = {
        "id": _id(row["id"]),
        "agent_id": _label(row["agent_id"]),
        "team": _label(row["team"]),
        "source": _source(row["source"]),
        "data": data,
    }
    turns = data.get("turns") if isinstance(data, dict) else None
    stale = row["search_text"] is not None and (moved or _text(row["search_text"]) != row["search_text"])
    if stale:  # from the masked turns; masked where it stands when they are no list
        searched = (normalize_text(_turn_text(t)) for t in turns) if isinstance(turns, list) else None
        values["search_text"] = "\n".join(searched) if searched is not None else _text(row["search_text"])
    unit = _row_update(_table(ConversationRow), "key", row, values)
    if grams and unit and "search_text" in unit[0][3]:
        from zuoxi.store.search import grams_vector

        unit[0][3]["search_grams"] = grams_vector(unit[0][3]["search_text"])
    for result in results:
        unit += _result_update(result, moved)
        for version in versions.get(result["pk"], []):
            unit += _row_update(_table(ResultVersion), "id", version, {"data": _result(version["data"], moved)})
    return unit


def _version_update(row: dict) -> list[_Update]:
    """A result version whose result is gone: its strings masked."""
    _readable(row)
    return _row_update(_table(ResultVersion), "id", row, {"data": _result(row["data"], {})})


def _relabelled(units: list[list[_Update]]) -> bool:
    """Whether a result's team or agent id is among these updates."""
    return any(
        table is _table(ResultRow) and {"agent_id", "team"} & set(values)
        for unit in units
        for table, _, _, values in unit
    )


def _conversations(engine: Engine, writer: _Writer, batch: int) -> bool:
    """Conversations with their results and result versions, a batch of conversations per transaction (a result's
    evidence is moved by its conversation's turns); then results and versions whose conversation is gone (SQLite
    keeps them when its foreign keys are off). Returns whether a result's team or agent id changed."""
    conversations, results, versions = _table(ConversationRow), _table(ResultRow), _table(ResultVersion)
    grams = engine.dialect.name == "postgresql"  # only PostgreSQL keeps the search pairs
    writer.count(conversations, _CONVERSATION)
    writer.count(results, _RESULT)
    writer.count(versions, ["data"])
    relabelled = False
    for rows in _rows(engine, conversations, "key", _CONVERSATION, batch):
        writer.report.rows["conversations"] = writer.report.rows.get("conversations", 0) + len(rows)
        of_conversation, of_result = _dependents(engine, [row["key"] for row in rows])
        writer.report.rows["results"] = writer.report.rows.get("results", 0) + sum(map(len, of_conversation.values()))
        writer.report.rows["result_versions"] = writer.report.rows.get("result_versions", 0) + sum(
            map(len, of_result.values())
        )
        units = [
            writer.unit(
                conversations,
                row["key"],
                partial(_conversation_unit, row, of_conversation.get(row["key"], []), of_result, grams),
            )
            for row in rows
        ]
        relabelled |= _relabelled(writer.write(units))
    orphaned = ~select(conversations.c.key).where(conversations.c.key == results.c.conversation_key).exists()
    for rows in _rows(engine, results, "pk", _RESULT, batch, orphaned):
        relabelled |= _relabelled(
            writer.write([writer.unit(results, row["pk"], partial(_result_update, row, {})) for row in rows])
        )
    orphaned = ~select(results.c.pk).where(results.c.pk == versions.c.result_pk).exists()
    for rows in _rows(engine, versions, "id", ["data"], batch, orphaned):
        writer.write([writer.unit(versions, v["id"], partial(_version_update, v)) for v in rows])
    return relabelled


# Tables whose masked columns are each masked on their own: column → how the write path stores it today.
_PLAIN: tuple[tuple[type[Base], str, dict[str, Callable[[Any], Any]]], ...] = (
    (ImportedFile, "sha256", {"path": _source}),
    (User, "id", {"team": _label, "agent_id": _label, "display_name": _text}),
    (ReviewRow, "id", {"comment": _text}),
    (AppealRow, "id", {"reason": _text, "resolution": _text}),
    (ImportJob, "id", {"errors": _strings}),
    (TrainingCase, "id", {"yaml": _case_yaml}),
    (ScorecardRow, "name", {"yaml": _scorecard_yaml}),
    (TrainingAttempt, "id", {"trainee": _label, "turns": _strings}),
    (QueueItemRow, "id", {"agent_id": _label, "team": _label, "label": _text, "skip_comment": _text}),
    (
        ComplaintAlertRow,
        "id",
        {"conversation_id": _id, "team": _label, "agent_id": _label, "excerpt": _text, "note": _text},
    ),
    (WebhookRow, "id", {"name": _text, "team": _label}),
    (
        CampaignCustomer,
        "id",
        {
            "ref": _text,
            "region": _text,
            "occupation": _text,
            "branch": _text,
            "agent_id": _label,
            "source": _source,
        },
    ),
    (CampaignAttempt, "id", {"agent_id": _label, "notes": _text}),
    (CampaignCallback, "id", {"agent_id": _label, "note": _text}),
    (DoNotCall, "id", {"source": _source}),
    (AuditEntry, "id", {"before": _strings, "after": _strings}),
)


def _plain_update(table: Table, key: str, columns: dict[str, Callable[[Any], Any]], row: dict) -> list[_Update]:
    _readable(row)
    return _row_update(table, key, row, {name: mask(row[name]) for name, mask in columns.items()})


def _plain(engine: Engine, writer: _Writer, batch: int) -> None:
    for model, key, columns in _PLAIN:
        table = _table(model)
        writer.count(table, list(columns))
        for rows in _rows(engine, table, key, list(columns), batch):
            writer.report.rows[table.name] = writer.report.rows.get(table.name, 0) + len(rows)
            writer.write(
                [writer.unit(table, row[key], partial(_plain_update, table, key, columns, row)) for row in rows]
            )


def _plan_update(table: Table, row: dict) -> list[_Update]:
    _readable(row)
    return [(table, "id", row["id"], values)] if (values := _plan(row)) else []


def _plans(engine: Engine, writer: _Writer, batch: int) -> None:
    table = _table(SamplingPlanRow)
    writer.count(table, ["title", "yaml", "spec"])
    for rows in _rows(engine, table, "id", ["name", "title", "yaml", "spec"], batch):
        writer.report.rows[table.name] = writer.report.rows.get(table.name, 0) + len(rows)
        writer.write([writer.unit(table, row["id"], partial(_plan_update, table, row)) for row in rows])


def _stats(engine: Engine, writer: _Writer, relabelled: bool) -> None:
    """The dashboard's figures rebuilt from the results when a result's team or agent id changed, or when the
    figures hold a team or agent id in another form than today's (a run stopped before its rebuild)."""
    from zuoxi.store import stats

    table = _table(StatRow)
    writer.count(table, ["team", "agent_id"])
    with engine.connect() as connection:
        stale = {
            name: sum(
                _label(value) != value
                for value in connection.scalars(select(table.c[name]).where(table.c[name] != "").distinct())
            )
            for name in ("team", "agent_id")
        }
    writer.report.changed["stats"].update(stale)
    if not (relabelled or any(stale.values())):
        return
    writer.report.stats_rebuilt = True
    if not writer.report.dry_run:
        with engine.begin() as connection:
            stats.rebuild(connection)


def remask(engine: Engine, dry_run: bool = False, batch: int = BATCH) -> RemaskReport:
    """Mask again, by today's masker, every stored text its write paths mask (module docstring); `dry_run`: count
    what would change and write nothing. The run is audited (counts and row keys only) unless dry."""
    from zuoxi.store.audit import audit_now

    report = RemaskReport(dry_run)
    writer = _Writer(engine, report)
    relabelled = _conversations(engine, writer, batch)
    _plain(engine, writer, batch)
    _plans(engine, writer, batch)
    _stats(engine, writer, relabelled)
    if not dry_run:
        audit_now(engine, None, "db.remask", "database", "remask", None, report.audited())
    return report


def has_stored_data(engine: Engine) -> bool:
    """Whether the database holds a conversation or a user (an older zuoxi's data, after an upgrade)."""
    with engine.connect() as connection:
        return any(
            connection.execute(select(table.c[key]).limit(1)).first() is not None
            for table, key in ((_table(ConversationRow), "key"), (_table(User), "id"))
        )
