"""Search by conversation id, or in the turns: a substring of the normalized text (LIKE, on every backend), narrowed on
PostgreSQL by a GIN index of the text's character pairs. Chinese words are mostly two characters,
too short for trigrams; pairs find 退款 among a million conversations without reading them, and
the LIKE that follows keeps the answer exactly the substring search SQLite gives."""

from __future__ import annotations

import re

from sqlalchemy import and_, cast, or_
from sqlalchemy.dialects.postgresql import TSQUERY

from zuoxi.normalize import normalize_text
from zuoxi.store.tables import ConversationRow

_RUN = re.compile(r"[^\W_]+")  # letters and digits of any script: nothing a tsvector or tsquery treats specially


def grams(text: str) -> list[str]:
    """The distinct pairs of adjacent letters or digits of normalized text."""
    pairs = {run[i : i + 2] for run in _RUN.findall(text) for i in range(len(run) - 1)}
    return sorted(pairs)


def grams_vector(text: str) -> str:
    """The tsvector literal stored in `search_grams` (its lexemes need no quoting)."""
    return " ".join(grams(text))


def search_clause(query: str, dialect: str):
    """Conversations whose turns contain `query` (Traditional or Simplified, any width or case), or whose id is
    `query` (an inspector pastes the id a report or an agent names)."""
    return or_(ConversationRow.id == query.strip(), _in_turns(query, dialect))


def _in_turns(query: str, dialect: str):
    needle = normalize_text(query.strip())
    found = ConversationRow.search_text.contains(needle, autoescape=True)
    pairs = grams(needle)
    if dialect != "postgresql" or not pairs:
        return found
    indexed = ConversationRow.search_grams.op("@@")(cast(" & ".join(pairs), TSQUERY))
    # Two letters or digits (most Chinese words) are one pair: the index alone is exact, and without
    # the LIKE the planner sees how common the word is and reads common ones in list order.
    return indexed if pairs == [needle] else and_(indexed, found)
