"""What a reader reports instead of a conversation: where, and why, in one line."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from zuoxi.ingest.encoding import BAD_BYTES
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


def describe_validation_error(error: ValidationError) -> str:
    """`turns.2.role: Input should be 'agent', …` — the field path first, as users look for it."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "conversation"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
