"""Dialling: the do-not-call list, and revealing a customer's number to the agent who calls them.

The number is the one thing in a campaign that is not for everyone who reads the database: only the
agent the customer is assigned to sees it, only while the customer may be called (open, not on the
do-not-call list, inside calling hours on their clock), and every request — granted or refused —
goes to the audit log without the number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from zuoxi.campaigns import vault
from zuoxi.campaigns.assign import not_now
from zuoxi.campaigns.calllist import (
    MISSING_PHONE,
    ListImport,
    check_phone,
    find_header,
    list_columns,
    read_table,
    unreadable_rows,
)
from zuoxi.campaigns.models import OPEN, CampaignError, Customer, status_name
from zuoxi.ingest.errors import IngestError
from zuoxi.privacy import mask_text, masked_name
from zuoxi.store import Store
from zuoxi.store import campaigns as stored
from zuoxi.store.queries import Forbidden
from zuoxi.store.users import Account


def import_do_not_call(store: Store, path: Path, name: str | None = None, secret: str | None = None) -> ListImport:
    """Add the numbers of a CSV/XLSX (a phone column, or numbers alone, one a line) to the do-not-call
    list of every campaign; a bad line is reported as file:line: reason with the number masked."""
    box = vault.vault(secret)
    summary, where = ListImport(), mask_text(name) if name else masked_name(path)  # stored as each number's source
    rows, summary.errors = read_table(path, where)
    decoded = list(summary.errors)  # the lines that could not be decoded: rows that cannot be read
    header_line, headers, rest = find_header(rows, {"phone": list_columns()["phone"]})
    if not headers and summary.errors:  # nothing could be read, and why is said
        return summary
    summary.rows = unreadable_rows(decoded, header_line)
    column = next((headers.index(h) for h in list_columns()["phone"] if h in headers), None)
    if column is None:  # no header: the first column holds the numbers, from the first line on
        column, rest = 0, iter([(header_line, headers), *rest])
    numbers = []
    for number, cells in rest:
        if not any(cells):
            continue
        summary.rows += 1
        raw = cells[column] if column < len(cells) else ""
        phone, why = check_phone(raw) if raw else (None, MISSING_PHONE)
        if phone is None:
            summary.errors.append(IngestError(where, number, why))
            continue
        numbers.append((box.lookup(phone), f"{where}:{number}"))
    summary.imported = stored.add_do_not_call(store.engine, numbers, datetime.now(UTC))
    summary.already = len(numbers) - summary.imported  # on the list already (or twice in this file)
    return summary


def do_not_call_customer(store: Store, campaign: str, customer_id: int) -> None:
    """The customer asked never to be called again: their number goes on the list (no key needed)."""
    stored.do_not_call_customer(store.engine, campaign, customer_id)


class NotDialable(CampaignError):
    """The customer may not be called now; `reason`: closed, do_not_call, or one of the queue's (`not_now`):
    outside_hours, callback_not_due, max_attempts, retry_too_soon."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def may_dial(account: Account, customer: Customer) -> bool:
    """Only the agent the customer is assigned to dials them; leads and inspectors never need the number."""
    return account.role == "agent" and account.agent_id is not None and account.agent_id == customer.agent_id


def reveal_phone(
    store: Store,
    campaign: str,
    customer_id: int,
    account: Account,
    now: datetime | None = None,
    secret: str | None = None,
) -> str:
    """The customer's number, to dial now. Forbidden for anyone but the assigned agent; NotDialable
    when the customer may not be called now. Granted and refused requests are both audited."""
    box = vault.vault(secret)
    now = now or datetime.now(UTC)

    def refusal(state: stored.QueueState, on_do_not_call: bool) -> Exception | None:
        customer = state.customers[0]
        if not may_dial(account, customer):
            return Forbidden(f"客户 {customer_id} 没有分配给你：只有分配到的坐席能看号码")
        if customer.status not in OPEN:
            return NotDialable("closed", f"客户 {customer_id} {status_name(customer.status)}，不再拨打")
        if on_do_not_call:
            return NotDialable("do_not_call", f"客户 {customer_id} 在免打扰名单上")
        if (why := not_now(state, customer, now)) is not None:
            return NotDialable(why[0], f"客户 {customer_id}：{why[1]}")
        return None

    token, refused = stored.phone_request(store.engine, campaign, customer_id, account, refusal)
    if refused is not None:
        raise refused
    return box.decrypt(token)
