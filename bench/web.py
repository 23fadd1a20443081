"""Web app load test on loopback: `zuoxi serve` over a database of `--conversations N` analyzed
conversations (PostgreSQL or SQLite, `--db URL`), `--clients C` signed-in clients (each its own
session) for `--seconds S`, each request one of: the list with a filter (and the next pages by
cursor), a search, a conversation's detail, the dashboard with a filter. Prints the machine's cores,
requests/s and p50/p95/p99 per endpoint, and the errors, which must be 0 (the script exits non-zero
otherwise).

The database is filled once (kept for later runs): the samples and variants of them are analyzed,
and N conversations derived from them (their own ids, 200 agents in 10 teams, start times over a year), with their
results and the dashboard stats, are written by COPY (PostgreSQL) or one bulk insert (SQLite).

    python bench/web.py --db postgresql+psycopg://postgres@127.0.0.1/pgscale_bench --conversations 1000000
    python bench/web.py --db build/bench-web.db --conversations 100000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from _corpus import sample_conversations, write_jsonl
from sqlalchemy import func, insert, select

from zuoxi.engines.local import Batch
from zuoxi.model import Conversation
from zuoxi.store import Store, database_url, source_zone, stats
from zuoxi.store.migrate import create_missing_indexes
from zuoxi.store.search import grams_vector
from zuoxi.store.tables import ConversationRow, ResultRow, StatRow
from zuoxi.store.users import add_user

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the server harness the tests use
from live_server import running_app

USER, PASSWORD = "bench", "bench-password"
PER_PAGE = 50
AGENTS, TEAMS = 200, 10
YEAR = datetime(2026, 1, 1, tzinfo=UTC)
SEARCHES = ["退款", "汉堡", "漢堡", "投诉", "经理", "快递", "会员", "发票", "没有这个词语"]


def agent_of(i: int) -> tuple[str, str]:
    agent = i % AGENTS
    return f"A{agent:03d}", f"坐席{agent // (AGENTS // TEAMS) + 1}组"


def variants(conversation: Conversation) -> list[Conversation]:
    """The sample and the calls it might have been: cut short by one to three turns, or joined a turn
    late. Scores then spread as real ones do, instead of taking the samples' fifty values."""
    turns, ident = conversation.turns, conversation.id
    cut = [
        conversation.model_copy(update={"id": f"{ident}-v{n}", "turns": turns[:-n]})
        for n in (1, 2, 3)
        if len(turns) - n >= 2
    ]
    late = [conversation.model_copy(update={"id": f"{ident}-v0", "turns": turns[1:]})] if len(turns) > 2 else []
    return [conversation, *cut, *late]


def analyzed_samples() -> list[tuple[dict, str, dict]]:
    """(conversation JSON, search text, result JSON) of each sample and its variants, analyzed as `zuoxi analyze` does."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "variants.jsonl"
        write_jsonl([v for c in sample_conversations() for v in variants(c)], corpus)
        store = Store(str(Path(tmp) / "samples.db"))
        for _ in Batch([corpus], store=store, analyze=True).run():
            pass
        with store.engine.connect() as connection:
            rows = connection.execute(
                select(ConversationRow.data, ConversationRow.search_text, ResultRow.data)
                .join(ResultRow, ResultRow.conversation_key == ConversationRow.key)
                .where(ResultRow.main.is_(True))
                .order_by(ConversationRow.key)
            ).all()
        store.close()
    return [tuple(row) for row in rows]


def generated(n: int, seed: int = 19):
    """The N conversations and their results as column values, and the stats they add."""
    bases = analyzed_samples()
    zone = source_zone()
    pick = random.Random(seed)
    figures = []  # each base's contribution at grain 3, whose cells are then placed at each grain
    for conversation, _, result in bases:
        failed = [f["rule"] for f in result["findings"] if f["status"] == "fail"]
        facts = {
            "scorecard": result["scorecard"],
            "main": True,
            "channel": conversation["channel"],
            "team": "",
            "agent_id": "",
            "started_at": None,
            "final_score": result["score"],
            "final_data": result,
            "data": result,
            "failed_rules": f" {' '.join(failed)} ",
            "score": result["score"],
            "satisfaction": (result.get("satisfaction") or {}).get("label"),
        }
        figures.append(
            [(key[7:], count, total) for key, count, total in stats.contribution(facts, zone) if key[0] == 3]
        )
    cells: Counter = Counter()
    grams = [grams_vector(search) for _, search, _ in bases]
    for i in range(n):
        b = i % len(bases)
        conversation, search, result = bases[b]
        agent, team = agent_of(pick.randrange(AGENTS))
        started = YEAR + timedelta(seconds=pick.randrange(365 * 86400))
        ident = f"{conversation['id']}-r{i}"
        key = hashlib.sha256(ident.encode()).hexdigest()
        doc = {**conversation, "id": ident, "agent_id": agent, "team": team, "started_at": started.isoformat()}
        day = stats.day_of(started, zone)
        for grain, keeps_day, keeps_agent in stats.GRAINS:
            cells[
                (
                    grain,
                    result["scorecard"],
                    team,
                    agent if keeps_agent else "",
                    day if keeps_day else "",
                    conversation["channel"],
                    b,
                )
            ] += 1
        yield (
            "row",
            (
                key,
                ident,
                conversation["channel"],
                agent,
                team,
                started,
                len(conversation["turns"]),
                doc,
                search,
                grams[b],
                {**result, "conversation_id": ident},
                b,
            ),
        )
    summed: dict[tuple, list] = {}
    for (grain, scorecard, team, agent, day, channel, b), count in cells.items():
        for (kind, name), n_, total in figures[b]:
            into = summed.setdefault((grain, True, scorecard, team, agent, day, channel, kind, name), [0, 0.0])
            into[0] += n_ * count
            into[1] += total * count
    for key, (n_, total) in summed.items():
        yield "stat", (*key, n_, total)


def fill(url: str, n: int) -> None:
    store = Store(url)
    engine = store.engine
    postgres = engine.dialect.name == "postgresql"
    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as connection:  # indexes are built after the rows: far faster than row by row
        for table in (ConversationRow.__table__, ResultRow.__table__, StatRow.__table__):
            for index in table.indexes:
                index.drop(connection, checkfirst=True)
    conversations, results, stat_rows = [], [], []
    stat_columns = ("grain", "main", "scorecard", "team", "agent_id", "day", "channel", "kind", "name", "n", "total")
    for kind, row in generated(n):
        if kind == "stat":
            stat_rows.append(row)
            continue
        key, ident, channel, agent, team, when, turns, doc, search, grams, result, _ = row
        conversations.append(
            (
                key,
                ident,
                channel,
                agent,
                team,
                when,
                turns,
                "bench",
                now,
                json.dumps(doc, ensure_ascii=False),
                search,
                grams if postgres else None,
                True,
            )
        )
        failed = [f["rule"] for f in result["findings"] if f["status"] == "fail"]
        results.append(
            (
                key,
                result["scorecard"],
                result["score"],
                result["max_score"],
                result["veto"],
                now,
                json.dumps(result, ensure_ascii=False),
                result["score"],
                None,
                f" {' '.join(failed)} ",
                result.get("complaint_risk"),
                (result.get("satisfaction") or {}).get("label"),
                False,
                channel,
                agent,
                team,
                when,
                True,
            )
        )
        if len(conversations) >= 20_000:
            _write(engine, conversations, results, postgres)
            conversations, results = [], []
            print(f"  {len(stat_rows) or '…'} {time.perf_counter() - started:.0f} s", end="\r", file=sys.stderr)
    _write(engine, conversations, results, postgres)
    with engine.begin() as connection:
        if postgres:
            connection.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            _copy(connection, "stats", stat_columns, stat_rows)
        else:
            connection.execute(insert(StatRow), [dict(zip(stat_columns, r)) for r in stat_rows])
        create_missing_indexes(connection)
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "ANALYZE" if not postgres else "VACUUM ANALYZE"
        )
    add_user(engine, USER, PASSWORD, "inspector")
    print(f"filled {n:,} conversations in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    store.close()


CONVERSATION_COLUMNS = (
    "key",
    "id",
    "channel",
    "agent_id",
    "team",
    "started_at",
    "turn_count",
    "source",
    "imported_at",
    "data",
    "search_text",
    "search_grams",
    "scored",
)
RESULT_COLUMNS = (
    "conversation_key",
    "scorecard",
    "score",
    "max_score",
    "veto",
    "analyzed_at",
    "data",
    "final_score",
    "final_data",
    "failed_rules",
    "complaint_risk",
    "satisfaction",
    "reviewed",
    "channel",
    "agent_id",
    "team",
    "started_at",
    "main",
)


def _copy(connection, table: str, columns: tuple, rows: list) -> None:
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # the bench's own names, no input
        for row in rows:
            copy.write_row(row)


def _write(engine, conversations: list, results: list, postgres: bool) -> None:
    if not conversations:
        return
    with engine.begin() as connection:
        if postgres:
            _copy(connection, "conversations", CONVERSATION_COLUMNS, conversations)
            _copy(connection, "results", RESULT_COLUMNS, results)
            return
        connection.execute(
            insert(ConversationRow),
            [dict(zip(CONVERSATION_COLUMNS, (*r[:9], json.loads(r[9]), *r[10:]))) for r in conversations],
        )
        connection.execute(
            insert(ResultRow), [dict(zip(RESULT_COLUMNS, (*r[:6], json.loads(r[6]), *r[7:]))) for r in results]
        )


def prepare(url: str, n: int) -> list[str]:
    """The database with N conversations (filled unless it has them); some of their keys."""
    store = Store(url)
    with store.engine.connect() as connection:
        have = connection.execute(select(func.count()).select_from(ConversationRow)).scalar()
    store.close()
    if have != n:
        if have:
            sys.exit(f"{url} holds {have:,} conversations, not {n:,}: give an empty database")
        fill(url, n)
    store = Store(url)
    with store.engine.connect() as connection:
        keys = list(connection.execute(select(ConversationRow.key).limit(5000)).scalars())
    store.close()
    return keys


def requests_for(pick: random.Random, keys: list[str]):
    """One user action: the endpoint's name and the URLs it requests (a list's next pages follow cursors)."""
    agent, team = agent_of(pick.randrange(AGENTS))
    month = pick.randrange(1, 13)
    filters = [
        {},
        {"team": team},
        {"agent_id": agent},
        {"scorecard": "core"},
        {"channel": "call"},
        {"date_from": f"2026-{month:02d}-01", "date_to": f"2026-{month:02d}-07"},
        {"score_max": 60},
        {"team": team, "failed_rule": "CS-01"},
    ]
    kind = pick.choice(["list", "search", "detail", "dashboard"])
    if kind == "list":
        return kind, {"per_page": PER_PAGE, **pick.choice(filters)}, pick.randint(1, 3)
    if kind == "search":
        return kind, {"per_page": PER_PAGE, "q": pick.choice(SEARCHES)}, 1
    if kind == "detail":
        return kind, pick.choice(keys), 1
    return kind, pick.choice(filters[:6]), 1


async def sign_in(base: str, clients: int) -> list[httpx.AsyncClient]:
    """The signed-in clients, one login each, in order; a failed login stops the run before any load."""
    sessions = []
    for _ in range(clients):
        # Idle connections are dropped before the server's 5 s keep-alive ends: signing 50 clients in takes
        # longer, and a request sent as the server closes the connection would count as an error.
        client = httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(keepalive_expiry=4))
        (await client.post("/api/login", json={"username": USER, "password": PASSWORD})).raise_for_status()
        sessions.append(client)
    return sessions


class Tally:
    """Every request's latency by endpoint and every failed request, shared by all the clients of one run."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {"list": [], "search": [], "detail": [], "dashboard": []}
        self.errors: list[str] = []

    async def get(self, client, name: str, url: str, params=None):
        """The JSON body of one timed GET, or None where it failed (a transport error, a bad body or not 200)."""
        started = time.perf_counter()
        try:
            response = await client.get(url, params=params)
            body = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as error:
            response, body = error, None
        self.latencies[name].append(time.perf_counter() - started)
        if body is None:
            self.errors.append(f"{url} {params}: {getattr(response, 'status_code', response)}")
        return body


async def client_loop(tally: Tally, client, keys: list[str], seed: int, stop: float) -> None:
    """One client's user actions, back to back until stop, drawn from its own seeded generator."""
    pick = random.Random(seed)
    while time.perf_counter() < stop:
        name, what, pages = requests_for(pick, keys)
        if name == "detail":
            await tally.get(client, name, f"/api/conversations/{what}")
        elif name == "dashboard":
            await tally.get(client, name, "/api/dashboard", what)
        else:
            await list_pages(tally, client, name, what, pages)


async def list_pages(tally: Tally, client, name: str, what: dict, pages: int) -> None:
    """A list or a search and up to pages - 1 next pages, stopping at the last page or a failed request."""
    params = dict(what)
    for _ in range(pages):
        body = await tally.get(client, name, "/api/conversations", params)
        if not body or not body["next"]:
            break
        params = {**what, "after": body["next"]}


async def load(base: str, keys: list[str], clients: int, seconds: float):
    """All the clients signed in first, then loading the server together for `seconds`: the latencies by
    endpoint, the failed requests and the time it took."""
    sessions = await sign_in(base, clients)
    tally = Tally()
    started = time.perf_counter()
    await asyncio.gather(*(client_loop(tally, c, keys, i, started + seconds) for i, c in enumerate(sessions)))
    elapsed = time.perf_counter() - started
    for client in sessions:
        await client.aclose()
    return tally.latencies, tally.errors, elapsed


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="SQLAlchemy URL or SQLite file (default: a SQLite file in a temporary folder)")
    parser.add_argument("--conversations", "-n", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=1, help="server processes (2 or more need --redis)")
    parser.add_argument("--redis", help="Redis URL for the server's shared state, with --workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url(args.db or str(Path(tmp) / "web.db"))
        keys = prepare(url, args.conversations)
        extra = ["--no-models", "--workers", str(args.workers)] + (["--redis", args.redis] if args.redis else [])
        with running_app(url, *extra) as base:
            latencies, errors, elapsed = asyncio.run(load(base, keys, args.clients, args.seconds))
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    total = sum(len(v) for v in latencies.values())
    print(
        f"{args.conversations:,} conversations in {backend}, {args.clients} signed-in clients, {elapsed:.0f} s, "
        f"{args.workers} server process(es), {os.cpu_count()} CPU cores (server, database and clients on one machine)"
    )
    for name, endpoint in (
        ("list", "GET /api/conversations?filter…(+next pages)"),
        ("search", "GET /api/conversations?q=…"),
        ("detail", "GET /api/conversations/{key}"),
        ("dashboard", "GET /api/dashboard?filter…"),
    ):
        values = latencies[name]
        if values:
            print(
                f"{name:9} {endpoint:44} {len(values) / elapsed:6,.1f} req/s  p50 {percentile(values, 50) * 1000:6.0f} ms"
                f"  p95 {percentile(values, 95) * 1000:6.0f} ms  p99 {percentile(values, 99) * 1000:6.0f} ms"
            )
    print(f"all: {total / elapsed:,.1f} requests/s, {total:,} requests, errors: {len(errors)}")
    for error in errors[:10]:
        print("  ", error)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
