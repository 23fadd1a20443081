"""Store: conversations and results in any SQLAlchemy database (SQLite file by default).

Conversations are keyed by a hash of their content, so importing the same file twice stores
nothing new, and an interrupted import resumes by simply running again. Teams and agent ids are
stored in one canonical form (`canonical_label`) and times in UTC, whatever the source wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import opencc
from sqlalchemy import Integer, cast, create_engine, func, make_url, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateSchema

from zuoxi.model import Conversation, Result
from zuoxi.normalize import normalize_text
from zuoxi.privacy import mask_id
from zuoxi.store.races import for_update, insert, lost_to_another
from zuoxi.store.tables import (
    CampaignAttempt,
    CampaignCallback,
    CampaignCustomer,
    ConversationRow,
    DeletedConversation,
    ImportedFile,
    ResultRow,
    User,
)

DEFAULT_URL = "sqlite:///zuoxi.db"
SAVE_ATTEMPTS = 3  # of a batch of results another process raced to insert first
StoreError = SQLAlchemyError  # what a failed query or write raises: front ends catch it by the store's name
_T2S = opencc.OpenCC("t2s")


def canonical_label(value: str | None) -> str | None:
    """A team or agent id as stored and compared: Simplified, half-width, single spaces, trimmed, so
    that 售後二組, 售后二组 and " 售后二组 " are one team and ０７ is agent 07 (case is kept)."""
    if value is None:
        return None
    return " ".join(_T2S.convert(unicodedata.normalize("NFKC", value)).split()) or None


def masked_label(value: str | None) -> str | None:
    """A team or agent id a person typed (a user's, a webhook's, a plan's or a campaign's), as conversations carry
    it: personal data masked as ids are (`mask_id`), then canonical — so a team named by a number matches its
    conversations."""
    return canonical_label(mask_id(value)) if value else None


def canonical(conversation: Conversation) -> Conversation:
    """The conversation with its team and agent id in canonical form (the same object if they are)."""
    team, agent = canonical_label(conversation.team), canonical_label(conversation.agent_id)
    if (team, agent) == (conversation.team, conversation.agent_id):
        return conversation
    return conversation.model_copy(update={"team": team, "agent_id": agent})


def database_url(value: str | None = None) -> str:
    """`--db` value, else $ZUOXI_DB, else ./zuoxi.db; a bare path means a SQLite file."""
    value = value or os.environ.get("ZUOXI_DB") or DEFAULT_URL
    return value if "://" in value else f"sqlite:///{value}"


def content_key(conversation: Conversation) -> str:
    """The key a conversation is stored under: the hash of its canonical form, so the engines, which
    hash what they read, and the store agree, and 售後 and 售后 versions of one conversation are one row."""
    text = json.dumps(canonical(conversation).model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path: Path, variant: str = "") -> str:
    """The file's content hash; a `variant` (e.g. "unmasked") makes a separate import mark, so a
    file imported masked is not skipped when imported again without masking."""
    digest = hashlib.sha256()
    if variant:
        digest.update(variant.encode() + b"\0")
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_zone() -> ZoneInfo:
    """The time zone of a source's times that carry no offset: the contact centre's, $ZUOXI_TZ or Asia/Shanghai."""
    return ZoneInfo(os.environ.get("ZUOXI_TZ") or "Asia/Shanghai")


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns: read them as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def search_text(conversation: Conversation) -> str:
    """What full-text search looks in: every turn, Traditional folded to Simplified, lower case."""
    return "\n".join(normalize_text(t.text) for t in conversation.turns)


def result_facts(result: Result) -> dict:
    """The scalar columns lists and dashboards filter on, for the current version of a result."""
    failed = [f.rule for f in result.findings if f.status == "fail"]
    return dict(
        final_score=result.score,
        final_data=result.model_dump(mode="json"),
        failed_rules=f" {' '.join(failed)} " if failed else " ",
        complaint_risk=result.complaint_risk,
        satisfaction=result.satisfaction.label if result.satisfaction else None,
    )


SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def database_schema(value: str | None = None, url: str | None = None) -> str | None:
    """`--schema` value, else $ZUOXI_DB_SCHEMA: the PostgreSQL schema zuoxi's tables live in. Raises ValueError, in
    Chinese, for a name that is no identifier. Given the database's `url`, only PostgreSQL's: another database has no
    schemas (none is used, whatever was given), so a name set for PostgreSQL does not stop a command on a SQLite file."""
    given = value or os.environ.get("ZUOXI_DB_SCHEMA") or None
    if given is None or (url is not None and _backend(url) not in ("postgresql", None)):
        return None
    if not SCHEMA_NAME.fullmatch(given):
        where = "--schema" if value else "$ZUOXI_DB_SCHEMA"
        raise ValueError(f"schema 名称 {given!r}（{where}）不可用：只能用小写字母、数字和 _，并以字母或 _ 开头")
    return given


def _backend(url: str) -> str | None:
    """The database a URL names (postgresql, sqlite…), or None for one SQLAlchemy cannot parse (reported where it is
    opened)."""
    try:
        return make_url(url).get_backend_name()
    except Exception:  # noqa: BLE001 - any text at all may come from --db
        return None


def create_store_engine(url: str, schema: str | None = None) -> Engine:
    """An engine on `url`; on PostgreSQL with `schema`, every connection's search_path is that schema
    (created if missing), so several zuoxi databases can share one PostgreSQL database."""
    if schema is None or make_url(url).get_backend_name() != "postgresql":
        return create_engine(url, future=True)
    engine = create_engine(url, future=True, connect_args={"options": f"-csearch_path={schema}"})
    with engine.begin() as connection:
        connection.execute(CreateSchema(schema, if_not_exists=True))
    return engine


def shown_url(url: str) -> str:
    """A database URL fit to print: its password masked (also for a URL SQLAlchemy cannot parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - any URL at all may come from --db
        return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


class StoreUnavailable(Exception):
    """The database cannot be opened: an unknown or malformed URL, a missing driver, a file that is no
    database, a server that does not answer. The message names the URL, its password masked."""


class Store:
    def __init__(self, url: str | None = None, schema: str | None = None, migrate: bool = True, create: bool = True):
        """`schema`: PostgreSQL's (default $ZUOXI_DB_SCHEMA); `migrate`: bring the database to this
        version's tables first (`zuoxi.store.migrate`); `create=False`: a SQLite file that is not there is a mistyped
        `--db` of a command that only reads, not a new empty database. Raises StoreUnavailable if it cannot be
        opened."""
        from zuoxi.store import migrate as migrations
        from zuoxi.store import stats

        stats.keep_counts()

        self.url = database_url(url)
        try:
            self.schema = database_schema(schema, self.url)  # a bad name: why the database is not opened
            parsed = make_url(self.url)
            if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
                # a SQLite URI (`sqlite:///file:/path/x.db?mode=ro&uri=true`) names its file after `file:`: read as a
                # path, `file:/path` made a folder `file:` wherever zuoxi ran
                uri = parsed.query.get("uri") in ("true", "1") and parsed.database.startswith("file:")
                database = Path(parsed.database.removeprefix("file:") if uri else parsed.database)
                if not create and not database.exists():
                    raise StoreUnavailable(
                        f"找不到数据库 {database}（zuoxi import 或 zuoxi analyze 会新建数据库；请检查 --db 或 $ZUOXI_DB）"
                    )
                database.parent.mkdir(parents=True, exist_ok=True)  # --db build/x.db on a fresh checkout
            self.engine: Engine = create_store_engine(self.url, self.schema)
            if migrate:
                migrations.upgrade(self.engine)
            self._canonical_labels()
        except (SQLAlchemyError, ImportError, OSError, ValueError) as error:
            shown = shown_url(self.url)
            reason = str(getattr(error, "orig", None) or error).replace(self.url, shown).strip().splitlines()
            raise StoreUnavailable(
                f"无法打开数据库 {shown}：{reason[0] if reason else type(error).__name__}"
            ) from error

    def _canonical_labels(self) -> None:
        """Rows stored before labels were canonical get the canonical team and agent id, so an older
        database shows 售後二組 and 售后二组 as one team too (one UPDATE per label that changes); the
        results' copies of the labels and the dashboard's figures follow."""
        from zuoxi.store import stats
        from zuoxi.store.migrate import fill_list_columns

        columns = (
            ConversationRow.team,
            ConversationRow.agent_id,
            User.team,
            User.agent_id,
            CampaignCustomer.agent_id,
            CampaignAttempt.agent_id,
            CampaignCallback.agent_id,
        )
        changed = set()
        with Session(self.engine) as session, session.begin():
            for column in columns:
                for value in session.scalars(select(column).where(column.is_not(None)).distinct()).all():
                    if canonical_label(value) != value:
                        session.execute(
                            update(column.class_).where(column == value).values({column.key: canonical_label(value)})
                        )
                        changed.add(column.class_)
            if ConversationRow in changed:
                fill_list_columns(session.connection())
                stats.rebuild(session.connection())

    def close(self) -> None:
        self.engine.dispose()

    # --- conversations -------------------------------------------------------------------
    def add_conversations(self, items: Iterable[tuple[Conversation, str | None]]) -> list[str]:
        """Insert what is new, in one transaction; returns the keys of all items given. A key stored meanwhile (the
        same file imported by two processes at once) is left as it is: INSERT … ON CONFLICT DO NOTHING, where
        looking first and inserting then failed the whole import on the other's row."""
        from zuoxi.store.search import grams_vector

        rows: dict[str, dict] = {}
        keys = []
        pairs = self.engine.dialect.name == "postgresql"  # only PostgreSQL indexes the search pairs
        for given, source in items:
            conversation = canonical(given)
            key = content_key(conversation)
            keys.append(key)
            started = conversation.started_at
            if started is not None:  # UTC: what the column compares and SQLite keeps without an offset
                started = (started if started.tzinfo else started.replace(tzinfo=source_zone())).astimezone(UTC)
            if key in rows:
                continue
            text = search_text(conversation)
            rows[key] = dict(
                key=key,
                id=conversation.id,
                channel=conversation.channel,
                agent_id=conversation.agent_id,
                team=conversation.team,
                started_at=started,
                turn_count=len(conversation.turns),
                source=source,
                imported_at=utc_now(),
                data=conversation.model_dump(mode="json"),
                search_text=text,
                search_grams=grams_vector(text) if pairs else None,
                scored=False,
            )
        if not rows:
            return keys
        statement = insert(self.engine.dialect.name, ConversationRow).on_conflict_do_nothing(index_elements=["key"])
        values = list(rows.values())
        with self.engine.begin() as connection:
            for begin in range(0, len(values), 500):
                connection.execute(statement, values[begin : begin + 500])
        return keys

    def stored_ids(self, ids: Iterable[str]) -> dict[str, list[tuple[str, str | None]]]:
        """The stored conversations of these ids, as id → [(key, the file it came from)], in one query per 500 ids
        (an id is the conversation's in the source system; the key, its content's)."""
        found: dict[str, list[tuple[str, str | None]]] = {}
        wanted = list(dict.fromkeys(ids))
        with Session(self.engine) as session:
            for begin in range(0, len(wanted), 500):
                query = (
                    select(ConversationRow.id, ConversationRow.key, ConversationRow.source)
                    .where(ConversationRow.id.in_(wanted[begin : begin + 500]))
                    .order_by(ConversationRow.imported_at, ConversationRow.key)
                )
                for ident, key, source in session.execute(query):
                    found.setdefault(ident, []).append((key, source))
        return found

    def conversations(self, keys: list[str]) -> dict[str, Conversation]:
        """The stored conversations of these keys (those there are), in one query per 500 keys."""
        found: dict[str, Conversation] = {}
        with Session(self.engine) as session:
            for begin in range(0, len(keys), 500):
                query = select(ConversationRow.key, ConversationRow.data).where(
                    ConversationRow.key.in_(keys[begin : begin + 500])
                )
                for key, data in session.execute(query):
                    found[key] = Conversation.model_validate(data)
        return found

    def deleted(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """The content keys deleted conversations are kept out by (`zuoxi conversation delete`), each with the key the
        conversation was stored under — all of them (deletions are few — erasures and wrong imports — so a run reads
        them once), or those among `keys` (one query per 500)."""
        query = select(DeletedConversation.key, DeletedConversation.conversation_key)
        with Session(self.engine) as session:
            if keys is None:
                return {key: stored for key, stored in session.execute(query)}
            wanted, found = list(dict.fromkeys(keys)), {}
            for begin in range(0, len(wanted), 500):
                chunk = wanted[begin : begin + 500]
                found.update({k: v for k, v in session.execute(query.where(DeletedConversation.key.in_(chunk)))})
            return found

    def count_new(self, keys: list[str]) -> int:
        with Session(self.engine) as session:
            return len(keys) - len(
                set(session.scalars(select(ConversationRow.key).where(ConversationRow.key.in_(keys))))
            )

    def find(self, ident: str) -> list[tuple[str, Conversation]]:
        """Conversations whose key starts with, or whose id equals, `ident` (a key's start is hex: `%%%%%%` or
        `______` matched every key as LIKE wildcards)."""
        if len(ident) > 200:  # no id is longer; a pattern of 100,000 characters was too complex for SQLite
            return []
        start = ident.lower()  # keys are lower-case hex; a key copied in capitals is the same key
        prefix = 6 <= len(start) <= 64 and all(c in "0123456789abcdef" for c in start)
        with Session(self.engine) as session:
            query = select(ConversationRow).where(
                (ConversationRow.id == ident)
                | (ConversationRow.key.startswith(start, autoescape=True) if prefix else False)
            )
            return [(row.key, Conversation.model_validate(row.data)) for row in session.scalars(query)]

    # --- files (resume) --------------------------------------------------------------------
    def file_done(self, sha: str) -> bool:
        """Whether the file (or Dask shard) of this hash was read to its end, without an error, by an earlier run: it is
        skipped then. One that gave errors is read again, so that they are said again (a file of nothing but errors
        was skipped as imported and its errors never shown again); what of it was stored is counted as already there."""
        with Session(self.engine) as session:
            mark = session.get(ImportedFile, sha)
            return mark is not None and not mark.errors

    def mark_file(self, sha: str, path: str, conversations: int, errors: int) -> None:
        self.mark_files([(sha, path, conversations, errors)])

    def mark_files(self, marks: Iterable[tuple[str, str, int, int]]) -> None:
        """Files read to their end, (sha256, path, conversations, errors) each, in one transaction: a folder of
        one-conversation files marked one commit a file spent most of its import time waiting on the disk."""
        with Session(self.engine) as session, session.begin():
            for sha, path, conversations, errors in marks:
                session.merge(
                    ImportedFile(
                        sha256=sha, path=path, conversations=conversations, errors=errors, finished_at=utc_now()
                    )
                )

    # --- results ---------------------------------------------------------------------------
    def save_results(self, items: Iterable[tuple[str, Result]]) -> list[str]:
        """Store results, replacing an earlier result of the same conversation and scorecard; returns the keys of
        the conversations not stored (deleted before or while this ran, `zuoxi conversation delete`), whose results
        are left out: for the caller to note, where the missing conversation failed the whole batch before.

        A replaced result keeps its reviews and appeals: people's decisions are applied again to
        the new machine result (by rule ID), so re-analysis never silently undoes a review. Two
        processes storing a result of the same conversation and scorecard at once: the one whose insert
        the other's beat stores it again, now as a replacement (it failed its whole batch before); a batch
        PostgreSQL ended to break a deadlock is stored again too.
        """
        # The columns of each result before the transaction, once for every attempt: no lock waits on this work.
        prepared = []
        for key, result in items:
            facts = result_facts(result)  # its final_data is the result's JSON: dumped once, stored as both
            values = dict(
                score=result.score,
                max_score=result.max_score,
                veto=result.veto,
                analyzed_at=utc_now(),
                data=facts["final_data"],
                reviewed=False,
                **facts,
            )
            prepared.append((key, result.scorecard, values))
        for attempt in range(SAVE_ATTEMPTS):
            try:
                return self._save_results(prepared)
            except (IntegrityError, OperationalError) as error:
                if attempt == SAVE_ATTEMPTS - 1 or not (isinstance(error, IntegrityError) or lost_to_another(error)):
                    raise
        return []  # not reached: the last attempt returns or raises

    def _save_results(self, items: list[tuple[str, str, dict]]) -> list[str]:
        """`save_results` in one transaction: (conversation key, scorecard, the result's columns) each."""
        from zuoxi.store.reviews import reapply_decisions  # it imports this module

        if not items:
            return []
        # One flush at the commit: the dashboard's figures (zuoxi.store.stats) are then added in one sorted batch, as
        # every other writer adds them, never batch by batch as rows are read (two writers so deadlocked).
        with Session(self.engine) as session, session.begin(), session.no_autoflush:
            # The conversations first, locked in the order of their keys (a deletion takes them so too), then their
            # earlier results, locked: two analyses of one conversation take turns, the second seeing the first's
            # result (each made its own the conversation's main one), and a review of a result waits for its
            # re-analysis or the other way round. One query per 500 keys: the batch engines store thousands at a time.
            keys = sorted(dict.fromkeys(key for key, _, _ in items))
            listed: dict[str, list] = {}  # the conversation's list columns, copied onto its results
            for begin in range(0, len(keys), 500):
                query = (
                    select(
                        ConversationRow.key,
                        ConversationRow.channel,
                        ConversationRow.agent_id,
                        ConversationRow.team,
                        ConversationRow.started_at,
                    )
                    .where(ConversationRow.key.in_(keys[begin : begin + 500]))
                    .order_by(ConversationRow.key)
                )
                listed.update({key: rest for key, *rest in session.execute(for_update(session, query))})
            vanished = [key for key in keys if key not in listed]  # deleted before or while this ran
            items = [item for item in items if item[0] in listed]
            keys = [key for key in keys if key in listed]
            earlier: dict[tuple[str, str], ResultRow] = {}
            for begin in range(0, len(keys), 500):
                of_chunk = (
                    select(ResultRow)
                    .where(ResultRow.conversation_key.in_(keys[begin : begin + 500]))
                    .order_by(ResultRow.pk)
                )
                rows = session.scalars(for_update(session, of_chunk).execution_options(populate_existing=True))
                earlier.update({(row.conversation_key, row.scorecard): row for row in rows})
            had = {key for key, _ in earlier}
            scored = set(had)
            added: dict[tuple[str, str], ResultRow] = {}
            for key, scorecard, values in items:
                row = earlier.get((key, scorecard)) or added.get((key, scorecard))
                if row is None:
                    channel, agent_id, team, started_at = listed[key]
                    added[(key, scorecard)] = row = ResultRow(
                        conversation_key=key,
                        scorecard=scorecard,
                        channel=channel,
                        agent_id=agent_id,
                        team=team,
                        started_at=started_at,
                        main=key not in scored,
                        **values,
                    )
                    scored.add(key)
                    session.add(row)
                else:
                    for name, value in values.items():
                        setattr(row, name, value)
                    if (key, scorecard) in earlier:
                        reapply_decisions(session, row)
            newly = [key for key in dict.fromkeys(key for key, _ in added) if key not in had]
            for begin in range(0, len(newly), 500):
                session.execute(
                    update(ConversationRow)
                    .where(ConversationRow.key.in_(newly[begin : begin + 500]))
                    .values(scored=True)
                )
            from zuoxi.queues.alerts import raise_alerts  # alerts build on the store, not the other way

            raise_alerts(
                session,
                [*added.values(), *(earlier[(k, s)] for k, s, _ in items if (k, s) in earlier)],
            )
        return vanished

    def results_for(self, key: str) -> list[Result]:
        with Session(self.engine) as session:
            rows = session.scalars(select(ResultRow).where(ResultRow.conversation_key == key))
            return [Result.model_validate(row.data) for row in rows]

    def results_of(self, keys: list[str]) -> dict[tuple[str, str], Result]:
        """The machine results of these conversations by (key, scorecard), in one query per 500 keys:
        how a batch re-run hands on the results of work an earlier run stored."""
        found: dict[tuple[str, str], Result] = {}
        with Session(self.engine) as session:
            for begin in range(0, len(keys), 500):
                query = select(ResultRow).where(ResultRow.conversation_key.in_(keys[begin : begin + 500]))
                found.update(
                    {
                        (row.conversation_key, row.scorecard): Result.model_validate(row.data)
                        for row in session.scalars(query)
                    }
                )
        return found

    # --- statistics ------------------------------------------------------------------------
    def stats(self) -> dict:
        with Session(self.engine) as session:
            conversations = session.scalar(select(func.count()).select_from(ConversationRow)) or 0
            by_channel = dict(
                session.execute(select(ConversationRow.channel, func.count()).group_by(ConversationRow.channel)).all()
            )
            per_scorecard = session.execute(
                select(
                    ResultRow.scorecard,
                    func.count(),
                    func.avg(ResultRow.score),
                    func.sum(cast(ResultRow.veto, Integer)),
                ).group_by(ResultRow.scorecard)
            ).all()
            per_agent = session.execute(
                select(ConversationRow.agent_id, func.count(), func.avg(ResultRow.score))
                .join(ResultRow, ResultRow.conversation_key == ConversationRow.key)
                .group_by(ConversationRow.agent_id)
                .order_by(func.avg(ResultRow.score))
            ).all()
            files = session.scalar(select(func.count()).select_from(ImportedFile)) or 0
        return {
            "conversations": conversations,
            "files": files,
            "by_channel": by_channel,
            "scorecards": [
                {"scorecard": s, "results": n, "average": round(avg or 0, 1), "vetoes": int(v or 0)}
                for s, n, avg, v in per_scorecard
            ],
            "agents": [{"agent_id": a, "results": n, "average": round(avg or 0, 1)} for a, n, avg in per_agent],
        }
