"""What a reader reports instead of a conversation: where, and why, in one line."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from zuoxi.ingest.encoding import BAD_BYTES
from zuoxi.ingest.limits import MAX_ERRORS_BEFORE_ANY
from zuoxi.model import Conversation
from zuoxi.privacy import mask_text


@dataclass(frozen=True)
class IngestError:
    path: str
    line: int | None
    reason: str

    def __post_init__(self) -> None:
        # Reasons quote the input (a role, a time, a line): mask personal data here, where every
        # error is made, so none reaches the terminal, JSON or the database unmasked; a bad byte's
        # mark (`BAD_BYTES`, a lone surrogate) could not be printed or stored, so it is shown as U+FFFD.
        object.__setattr__(self, "reason", mask_text(self.reason).replace(BAD_BYTES, "\ufffd"))

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}" if self.line else f"{self.path}: {self.reason}"


Record = Conversation | IngestError  # what every reader yields


PROBLEMS_SHOWN = 3  # of one conversation's validation problems; the rest are counted


def describe_validation_error(error: ValidationError) -> str:
    """`turns.2.role: Input should be 'agent', …` — the field path first, as users look for it. The first
    PROBLEMS_SHOWN problems, then how many more: 1,500 turns with a wrong role were one line of 200 KB."""
    parts = []
    for item in error.errors()[:PROBLEMS_SHOWN]:
        where = ".".join(str(p) for p in item["loc"]) or "conversation"
        parts.append(f"{where}: {item['msg']}")
    if (more := error.error_count() - PROBLEMS_SHOWN) > 0:
        parts.append(f"and {more:,} more like these")
    return "; ".join(parts)


def given_up_if_nothing_read(records: Iterable[Record], path: str) -> Iterator[Record]:
    """`records`, until MAX_ERRORS_BEFORE_ANY problems come before any conversation: then one more saying the rest of
    the file is not read. Such a file is not of its format (a server log named .log, a table with the wrong columns) or
    a bomb (a 90 KB Parquet file of 20 million empty rows ran for hours); a file that has given conversations is read to
    its end, whatever it holds besides."""
    records = iter(records)
    for errors, record in enumerate(records, start=1):
        yield record
        if not isinstance(record, IngestError):
            yield from records
            return
        if errors >= MAX_ERRORS_BEFORE_ANY:
            yield IngestError(
                path,
                None,
                f"{errors:,} problems and not one conversation: not read on (is it a file of this format?)",
            )
            if isinstance(records, Generator):
                records.close()
            return
