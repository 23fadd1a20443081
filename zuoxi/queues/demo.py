"""The demo's review queues (`zuoxi serve --demo`): the bundled weekly plan, sampled once."""

from __future__ import annotations

from datetime import datetime

from zuoxi.queues.models import Period, RunSummary
from zuoxi.queues.plans import load_plan_file
from zuoxi.queues.sampling import run_plan
from zuoxi.store import Store, source_zone
from zuoxi.store import queues as Q


def demo_queues(store: Store) -> RunSummary | None:
    """`zuoxi serve --demo`: the bundled weekly plan, sampled once over every stored conversation, so
    the demo's inspectors have queues (and the samples' complaints have raised alerts already)."""
    span = Q.conversation_span(store.engine)
    if span is None or any(p.name == "weekly" for p in Q.list_plans(store.engine)):
        return None
    spec, text = load_plan_file("weekly")
    Q.save_plan(store.engine, spec, text, None)
    tz = source_zone()
    summary = run_plan(
        store.engine,
        "weekly",
        Period.of_days(span[0].astimezone(tz).date(), span[1].astimezone(tz).date(), tz),
        datetime.now(tz).date(),
    )
    return summary
