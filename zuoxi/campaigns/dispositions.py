"""Recording call attempts: the disposition moves the customer on (success, closed, retry,
callback), and a recorded call is linked and scored with the `outbound` scorecard so its items can
be set against the outcome (analytics.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from zuoxi.campaigns.calllist import ListImport, find_header, read_table, stored_ref, unreadable_rows
from zuoxi.campaigns.models import (
    OPEN,
    Attempt,
    CampaignError,
    CampaignSpec,
    check_not_future,
    check_requested_callback,
    dispositions,
    parse_time,
    to_utc,
)
from zuoxi.ingest.errors import IngestError
from zuoxi.messages import said_all
from zuoxi.model import Conversation
from zuoxi.privacy import masked_name
from zuoxi.store import Store
from zuoxi.store import campaigns as stored
from zuoxi.store.campaigns import AttemptsState, CallbackState, CustomerState, NewAttempt

SCORECARD = "outbound"


@cache
def _columns() -> dict[str, list[str]]:
    return yaml.safe_load(
        resources.files("zuoxi.campaigns").joinpath("data/disposition_columns.yaml").read_text(encoding="utf-8")
    )


def campaign_call(conversation: Conversation, spec: CampaignSpec) -> Conversation:
    """The call as the outbound scorecard should see it: OB-06 checks this campaign's questions."""
    meta = {
        **conversation.meta,
        "scorecard": SCORECARD,
        "campaign": spec.name,
        "script_questions": spec.script_questions(),
    }
    return conversation.model_copy(update={"meta": meta})


def score_linked(store: Store, keys: Iterable[str], spec: CampaignSpec, models: bool = True) -> int:
    """Give each linked conversation an `outbound` result if it has none; returns how many were scored.
    The stored conversation is left as it is (its key is its content hash)."""
    from zuoxi.pipeline import iter_analyses

    keys = list(dict.fromkeys(keys))
    todo = stored.unscored(store.engine, keys, SCORECARD)
    results = iter_analyses((campaign_call(conv, spec) for _, conv in todo), SCORECARD, mask=False, models=models)
    store.save_results(zip((key for key, _ in todo), results))
    return len(todo)


def not_theirs(customer_id: int, assigned: str, agent: str) -> CampaignError:
    return CampaignError(
        f"客户 {customer_id} 分配给了坐席 {assigned}，坐席 {agent} 不能为其记录拨打"
        "（只有分配到的坐席能记录；还没分配的客户谁都可以）"
    )


def unknown_reason(spec: CampaignSpec, value: str) -> CampaignError:
    known = "、".join(f"{code}（{label}）" for code, label in spec.reason_codes.items())
    return CampaignError(f"没有 {value!r} 这个拒绝原因（可填代码或中文：{known}）")


def reason_code(spec: CampaignSpec, value: str | None) -> str | None:
    """A refusal reason as typed or exported, its code or its Chinese name (the campaign's reason_codes) → the code;
    None for none; CampaignError names the reasons there are."""
    value = (value or "").strip()
    if not value or value in spec.reason_codes:
        return value or None
    code = next((code for code, label in spec.reason_codes.items() if label == value), None)
    if code is None:
        raise unknown_reason(spec, value)
    return code


def _checked(
    state: AttemptsState, campaign: str, attempt: Attempt, callback_at: datetime | None, now: datetime
) -> CustomerState:
    """The attempt's customer; CampaignError when it cannot be recorded at all."""
    spec = state.spec
    customer = state.customers.get(attempt.customer_id)
    if customer is None:
        raise CampaignError(f"活动 {campaign} 的名单上没有客户 {attempt.customer_id}")
    check_not_future(spec, attempt.started_at, now)
    if attempt.reason_code and attempt.reason_code not in spec.reason_codes:
        raise unknown_reason(spec, attempt.reason_code)
    if attempt.conversation_key and attempt.conversation_key not in state.stored:
        raise CampaignError(f"没有键为 {attempt.conversation_key!r} 的已存会话")
    check_requested_callback(spec, attempt.started_at, callback_at)
    return customer


def record_attempts(
    store: Store,
    campaign: str,
    attempts: Iterable[tuple[Attempt, datetime | None]],
    models: bool = True,
    refused: list[tuple[int, CampaignError]] | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Store attempts (each with an optional callback time) in time order and move each customer on.
    A reason code must be one of the campaign's; a linked conversation must be stored; a callback is not
    earlier than its call; the agent is the customer's (a customer assigned to another agent is not theirs to
    record, as it is not theirs to dial; one not yet assigned is anyone's, and becomes theirs). Times without a
    zone are the campaign's local time. An attempt already recorded (the same customer, disposition and start
    time: the same command run twice, a file imported twice) is not stored again and moves no one on. Returns the
    ids of the attempts stored. With `refused`, an attempt for another agent's customer is left out and listed
    there (its position in `attempts`, why) instead of refusing them all. An attempt that starts later than `now`
    (default: the current time; `models.check_not_future`) is refused: it has not been made."""
    items = list(attempts)
    now = now or datetime.now(UTC)
    linked = [a.conversation_key for a, _ in items if a.conversation_key]

    def plan(state: AttemptsState) -> list[NewAttempt]:
        spec = state.spec
        if refused is not None:
            refused.clear()  # the plan runs again when another process stored one of them meanwhile
        order = sorted(range(len(items)), key=lambda i: to_utc(items[i][0].started_at, spec.tz))
        records: list[NewAttempt] = []
        for position in order:
            attempt, callback_at = items[position]
            customer = _checked(state, campaign, attempt, callback_at, now)
            started = to_utc(attempt.started_at, spec.tz)
            if (customer.id, started, attempt.disposition) in state.recorded:
                continue  # recorded before, or earlier in this batch
            if customer.agent_id is not None and customer.agent_id != attempt.agent_id:
                if refused is None:
                    raise not_theirs(customer.id, customer.agent_id, attempt.agent_id)
                refused.append((position, not_theirs(customer.id, customer.agent_id, attempt.agent_id)))
                continue
            state.recorded.add((customer.id, started, attempt.disposition))
            records.append(NewAttempt(**attempt.model_dump(exclude={"started_at"}), started_at=started))
            state.counts[customer.id] += 1
            for due in state.open_callbacks[customer.id]:  # this call was the callback
                due.settled_by = len(records) - 1
            follow_up = _move_on(
                spec, customer, attempt, callback_at, state.counts[customer.id], state.open_callbacks[customer.id]
            )
            state.open_callbacks[customer.id] = []
            if follow_up is not None:
                state.open_callbacks[customer.id] = [follow_up]
                state.created.append(follow_up)
        return records

    ids, spec = stored.record_attempts(store.engine, campaign, list({a.customer_id for a, _ in items}), linked, plan)
    score_linked(store, linked, spec, models=models)
    return ids


def _move_on(
    spec: CampaignSpec,
    customer: CustomerState,
    attempt: Attempt,
    callback_at: datetime | None,
    attempts: int,
    open_callbacks: list[CallbackState],
) -> CallbackState | None:
    """The customer's status after this attempt, and a new callback if one is due. Only an open
    customer moves: a success or a closed one (refused, wrong number…) stays where it is."""
    for due in open_callbacks:
        due.done = True
    if customer.status not in OPEN:
        return None
    if customer.agent_id is None:
        customer.agent_id = attempt.agent_id
    step = dispositions()[attempt.disposition].next
    if step == "callback" or (callback_at is not None and step == "retry"):
        when = callback_at or attempt.started_at + timedelta(hours=spec.callback_after_hours)
        customer.status = "callback"
        return CallbackState(
            customer_id=customer.id,
            agent_id=customer.agent_id,
            due_at=to_utc(when, spec.tz),
            note=attempt.notes,
            done=False,
        )
    customer.status = ("retry" if attempts < spec.max_attempts else "closed") if step == "retry" else step
    return None


def _parse_duration(value: str) -> float | None:
    """Seconds, or m:ss / h:mm:ss as dialers print them."""
    if not value:
        return None
    try:
        parts = [float(p) for p in value.split(":")]
        return sum(p * 60**i for i, p in enumerate(reversed(parts)))
    except OverflowError:  # "1:1:1…" of hundreds of parts
        raise ValueError("时长太大") from None


def _detail(error: ValueError) -> str:
    """What a time's error adds to the value shown: the years allowed (`models.parse_time`), or nothing (datetime's
    "Invalid isoformat string" repeats the value)."""
    years = re.fullmatch(r"时间 .* 的年份不在 (\d+)–(\d+) 之间", str(error))
    return f"（年份不在 {years[1]}–{years[2]} 之间）" if years else ""


def import_dispositions(
    store: Store, campaign: str, path: Path, models: bool = True, now: datetime | None = None
) -> ListImport:
    """Attempts from a dialer or spreadsheet export; a bad row is reported as file:line: reason (a call that starts
    after `now`, default the current time, too)."""
    now = now or datetime.now(UTC)
    summary, where = ListImport(), masked_name(path)  # exports are often named by a number, as call lists are
    rows, summary.errors = read_table(path, where)
    decoded = list(summary.errors)  # the lines that could not be decoded: rows that cannot be read
    header_line, headers, rows = find_header(rows, _columns())
    if not headers and summary.errors:  # nothing could be read, and why is said
        return summary
    summary.rows = unreadable_rows(decoded, header_line)
    index = {f: next((headers.index(h) for h in names if h in headers), None) for f, names in _columns().items()}
    missing = [f for f in ("agent_id", "started_at", "disposition") if index[f] is None]
    if missing or (index["customer_id"] is None and index["ref"] is None):
        summary.errors.append(
            IngestError(where, header_line, f"缺少列：{'、'.join(missing or ['customer_id 或 ref'])}")
        )
        return summary
    spec, by_ref, by_id = stored.customer_numbers(store.engine, campaign)
    items, lines = [], []
    for number, cells in rows:
        if not any(cells):
            continue
        summary.rows += 1
        cell = {f: (cells[i] if i is not None and i < len(cells) else "") for f, i in index.items()}
        try:
            items.append(_attempt(store, cell, by_ref, by_id, spec, now))
            lines.append(number)
        except (ValueError, OverflowError, ValidationError, CampaignError) as error:
            reason = said_all(error.errors()) if isinstance(error, ValidationError) else str(error)
            summary.errors.append(IngestError(where, number, reason))
    refused: list[tuple[int, CampaignError]] = []  # rows for another agent's customer: errors of their own
    stored_ids = record_attempts(store, campaign, items, models=models, refused=refused, now=now)
    summary.errors += [IngestError(where, lines[position], str(error)) for position, error in refused]
    summary.errors.sort(key=lambda error: error.line or 0)  # in the file's order
    summary.imported = len(stored_ids)
    summary.already = len(items) - len(stored_ids) - len(refused)  # recorded before: a file imported again is no error
    return summary


def _attempt(
    store: Store, cell: dict[str, str], by_ref: dict[str, int], by_id: set[int], spec: CampaignSpec, now: datetime
) -> tuple[Attempt, datetime | None]:
    if cell["customer_id"]:
        if not cell["customer_id"].isdigit() or int(cell["customer_id"]) not in by_id:
            raise CampaignError(f"本活动的名单上没有客户 {cell['customer_id']!r}")
        customer_id = int(cell["customer_id"])
    elif (ref := stored_ref(cell["ref"])) in by_ref:
        customer_id = by_ref[ref]
    else:
        raise CampaignError(f"本活动的名单上没有客户编号为 {ref!r} 的客户")
    reason = reason_code(spec, cell["reason_code"])
    key = None
    if cell["conversation"]:
        found = store.find(cell["conversation"])
        if len(found) != 1:
            raise CampaignError(f"{'没有' if not found else '有不止一个'}已存的会话 {cell['conversation']!r}")
        key = found[0][0]
    try:
        started = parse_time(cell["started_at"], spec.tz)
        callback = parse_time(cell["callback_at"], spec.tz) if cell["callback_at"] else None
    except ValueError as error:
        raise CampaignError(f"认不出时间 {cell['started_at'] or cell['callback_at']!r:.60}{_detail(error)}") from None
    check_not_future(spec, started, now)
    check_requested_callback(spec, started, callback)
    try:
        duration = _parse_duration(cell["duration"])
    except ValueError:
        raise CampaignError(f"认不出时长 {cell['duration']!r:.40}") from None
    attempt = Attempt(
        customer_id=customer_id,
        agent_id=cell["agent_id"],
        started_at=started,
        duration=duration,
        disposition=cell["disposition"],
        reason_code=reason,
        notes=cell["notes"],
        conversation_key=key,
    )
    return attempt, callback
