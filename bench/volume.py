"""The store's heavy reads at volume: the calls behind the dashboard, appeals, training, effects, export and alert
pages, timed on a database of `--conversations N` (PostgreSQL or SQLite, `--db URL`), as an inspector and as a team
lead. Prints the machine's cores, then one line per call: its seconds (the best of `--repeat` calls, after one
traced call that also warms it) and the Python memory peak of the traced call (tracemalloc).

The database is filled once by bench/web.py's `prepare` (kept for later runs); then, also once, an agent user per
agent, 3 appeals per 100 conversations (60 % open) on failed items and a complaint alert for 60 % of the
conversations (one in five handled) are added in bulk.

    python bench/volume.py --db build/bench-volume.db --conversations 100000
    python bench/volume.py --db postgresql+psycopg://postgres@127.0.0.1/volume_bench
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from web import AGENTS, USER, agent_of, prepare

from zuoxi.coaching.library import CaseLibrary
from zuoxi.effects.report import effects_report
from zuoxi.report.export import export_rows, read_through, to_csv, to_xlsx
from zuoxi.store import Store, database_url, queries, queues, reviews, source_zone
from zuoxi.store.tables import AppealRow, ComplaintAlertRow, ConversationRow, ResultRow, User
from zuoxi.store.users import Account, username_key

ROLES = {
    "inspector": Account(1, "inspector", "inspector", None, None, None),
    "team lead": Account(2, "lead", "team_lead", agent_of(0)[1], None, None),
}


def seed(engine, n: int, pick: random.Random) -> None:
    """Agent users, appeals on failed items and complaint alerts, unless a run before added them."""
    with Session(engine) as session, session.begin():
        if session.scalar(select(func.count()).select_from(AppealRow)):
            return
        hashed = session.scalar(select(User.password_hash).where(User.username == USER))
        now = datetime.now(UTC)
        users = {}
        for i in range(AGENTS):
            agent, team = agent_of(i)
            name = f"agent-{agent}"
            users[agent] = session.execute(
                insert(User)
                .values(
                    username=name,
                    username_key=username_key(name),
                    password_hash=hashed,
                    role="agent",
                    team=team,
                    agent_id=agent,
                    active=True,
                    created_at=now,
                )
                .returning(User.id)
            ).scalar_one()
        failing = [
            (pk, agent, failed.split())
            for pk, agent, failed in session.execute(select(ResultRow.pk, ResultRow.agent_id, ResultRow.failed_rules))
            if failed.split()
        ]
        appeals = []
        for pk, agent, failed in pick.sample(failing, min(len(failing), max(n * 3 // 100, 10))):
            status = pick.choices(["open", "accepted", "rejected"], [6, 2.5, 1.5])[0]
            appeals.append(
                {
                    "result_pk": pk,
                    "rule": pick.choice(failed),
                    "reason": "客户已表示理解，不应判为未通过",
                    "status": status,
                    "agent_user_id": users[agent],
                    "resolution": None if status == "open" else "已处理",
                    "created_at": now - timedelta(minutes=pick.randrange(525_600)),
                    "resolved_at": None if status == "open" else now,
                }
            )
        session.execute(insert(AppealRow), appeals)
        alerted = session.execute(
            select(
                ConversationRow.key,
                ResultRow.pk,
                ConversationRow.id,
                ConversationRow.team,
                ConversationRow.agent_id,
                ResultRow.complaint_risk,
                ConversationRow.started_at,
            )
            .join(ResultRow, ResultRow.conversation_key == ConversationRow.key)
            .where(ResultRow.main.is_(True))
            .order_by(ResultRow.pk)
            .limit(n * 6 // 10)
        ).all()
        session.execute(
            insert(ComplaintAlertRow),
            [
                {
                    "conversation_key": key,
                    "result_pk": pk,
                    "conversation_id": ident,
                    "team": team,
                    "agent_id": agent,
                    "risk": risk,
                    "rules": ["ES-01"],
                    "excerpt": "我要投诉你们，这个问题拖了三个星期都没有解决",
                    "created_at": started,
                    "handled_at": started if pk % 5 == 0 else None,
                    "note": "已回电" if pk % 5 == 0 else None,
                }
                for key, pk, ident, team, agent, risk, started in alerted
            ],
        )
    print(f"added {len(appeals):,} appeals and {len(alerted):,} complaint alerts", file=sys.stderr)


def streamed(pieces: Iterable[bytes]) -> int:
    """The bytes of a streamed export, read to its end as a download would."""
    return sum(len(piece) for piece in pieces)


def measure(name: str, call: Callable[[], object], repeat: int, describe: Callable[[object], str]) -> None:
    """One traced call (the memory peak, and the warm-up: the first call compiles scorecards), then the best of
    `repeat` untraced ones."""
    tracemalloc.start()
    got = call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        got = call()
        took.append(time.perf_counter() - started)
    print(
        f"{name:{48 - sum(ord(c) > 0x2E80 for c in name)}} {min(took):8.3f} s  peak {peak / 2**20:7.1f} MiB  {describe(got)}",
        flush=True,
    )


def calls(store: Store, account: Account) -> list[tuple[str, Callable[[], object], Callable[[object], str]]]:
    """(name, the call, what it returned in words) for each read, as the pages make them."""
    engine, zone = store.engine, source_zone()

    def board(**given):
        return lambda: queries.dashboard(engine, account, queries.ConversationFilter(tz=zone, **given))

    def counted(d) -> str:
        return f"{d.count:,} conversations"

    june = {"date_from": date(2026, 6, 1), "date_to": date(2026, 6, 30)}
    december = queries.ConversationFilter(date_from=date(2026, 12, 1), date_to=date(2026, 12, 31), tz=zone)
    library = CaseLibrary(store)
    trainer = [("training candidates", library.candidates, lambda c: f"{len(c)} candidates")]
    return [
        ("filter_options", lambda: queries.filter_options(engine, account), lambda o: f"{len(o['agents'])} agents"),
        ("dashboard, no filter", board(), counted),
        ("dashboard, score_min=0", board(score_min=0), counted),
        ("dashboard, q=退款", board(q="退款"), counted),
        ("dashboard, failed_rule=CS-08", board(failed_rule="CS-08"), counted),
        (
            "dashboard, zone America/New_York",
            lambda: queries.dashboard(engine, account, queries.ConversationFilter(tz=ZoneInfo("America/New_York"))),
            counted,
        ),
        ("list_appeals, open", lambda: reviews.list_appeals(engine, account, "open"), lambda p: f"{p.total:,} appeals"),
        ("list_appeals, all", lambda: reviews.list_appeals(engine, account, None), lambda p: f"{p.total:,} appeals"),
        *(trainer if account.role == "inspector" else []),  # the same for every role: the trainer's page
        (
            "effects_report, no dates (90 days)",
            lambda: effects_report(engine, account, queries.ConversationFilter(tz=zone)),
            lambda r: f"{r.conversations:,} conversations",
        ),
        (
            "effects_report, December 2026",
            lambda: effects_report(engine, account, december),
            lambda r: f"{r.conversations:,} conversations",
        ),
        (
            "export CSV, all (scores)",
            lambda: streamed(to_csv(export_rows(engine, account, queries.ConversationFilter(tz=zone)))),
            lambda size: f"{size:,} bytes",
        ),
        (
            "export XLSX, June 2026",
            lambda: streamed(
                read_through(to_xlsx(export_rows(engine, account, queries.ConversationFilter(tz=zone, **june))))
            ),
            lambda size: f"{size:,} bytes",
        ),
        ("list_alerts, open (limit 200)", lambda: queues.list_alerts(engine, account), lambda a: f"{len(a)} alerts"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="SQLAlchemy URL or SQLite file (default: a SQLite file in a temporary folder)")
    parser.add_argument("--conversations", "-n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2, help="timed calls of each read, after the traced one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url(args.db or str(Path(tmp) / "volume.db"))
        prepare(url, args.conversations)
        store = Store(url)
        seed(store.engine, args.conversations, random.Random(7))
        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        print(
            f"{args.conversations:,} conversations in {backend}, {os.cpu_count()} CPU cores; "
            f"seconds: best of {args.repeat} after a traced call; peak: Python memory of the traced call"
        )
        for role, account in ROLES.items():
            for name, call, describe in calls(store, account):
                measure(f"{role:9} {name}", call, args.repeat, describe)
        store.close()


if __name__ == "__main__":
    main()
