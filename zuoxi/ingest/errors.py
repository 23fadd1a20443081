"""What a reader reports instead of a conversation: where, and why, in one line."""

from __future__ import annotations

import errno
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from zuoxi.ingest.encoding import BAD_BYTES
from zuoxi.ingest.limits import MAX_ERRORS_BEFORE_ANY
from zuoxi.messages import said
from zuoxi.model import Conversation
from zuoxi.privacy import mask_text, masked_name


@dataclass(frozen=True)
class IngestError:
    """What went wrong at a file's line; a `note` is what the reader should know though nothing was lost (a table
    read as one conversation, an id stored with other content too): said, but no error — the file is done when it
    gave notes only."""

    path: str
    line: int | None
    reason: str
    note: bool = False

    def __post_init__(self) -> None:
        # Reasons quote the input (a role, a time, a line): mask personal data here, where every
        # error is made, so none reaches the terminal, JSON or the database unmasked; a bad byte's
        # mark (`BAD_BYTES`, a lone surrogate) could not be printed or stored, so it is shown as U+FFFD.
        object.__setattr__(self, "reason", mask_text(self.reason).replace(BAD_BYTES, "\ufffd"))

    def __str__(self) -> str:
        """`file:line: reason`, the file's name masked as it is stored (exports are often named by a customer's
        number): what the terminal, the web app and the logs show. `path` itself stays as read, for the code."""
        path = masked_name(self.path)
        return f"{path}:{self.line}: {self.reason}" if self.line else f"{path}: {self.reason}"


Record = Conversation | IngestError  # what every reader yields


PROBLEMS_SHOWN = 3  # of one conversation's validation problems; the rest are counted


def errors_only(problems: Iterable[IngestError]) -> int:
    """How many of `problems` are errors, not notes: what decides whether a file or shard is read again."""
    return sum(not problem.note for problem in problems)


def lost_lines(path: str, line: int, conversation: str, lines: Iterable[int], what: str = "行") -> IngestError:
    """Why a conversation of a table, text log or subtitle file is not stored: some of its lines (`what`: or its cues,
    at these lines) could not be read (each reported as its own error). Stored with the lines left, it was scored on
    them (say the agent's 好的 alone), and stored again, whole, beside that once the file was fixed and imported
    again."""
    lost = sorted(set(lines))
    shown = "、".join(map(str, lost[:5])) + (" 等" if len(lost) > 5 else "")
    return IngestError(
        path,
        line,
        f"会话 {conversation!r} 有 {len(lost):,} {what}没有读入（第 {shown} 行）：整个会话都没有导入，"
        "免得只凭剩下的行评分；改好这些行后再导入",
    )


def describe_validation_error(error: ValidationError) -> str:
    """`turns.2.role：只能是 'agent'、'customer' 或 'system'` — the field path first, as users look for it, and the
    problem in Chinese (`zuoxi.messages.said`). The first PROBLEMS_SHOWN problems, then how many more: 1,500 turns
    with a wrong role were one line of 200 KB."""
    parts = []
    for item in error.errors()[:PROBLEMS_SHOWN]:
        where = ".".join(str(p) for p in item["loc"]) or "会话"
        parts.append(f"{where}：{said(item)}")
    if (more := error.error_count() - PROBLEMS_SHOWN) > 0:
        parts.append(f"另有 {more:,} 处类似问题")
    return "；".join(parts)


_OS_SAYS = {
    errno.EACCES: "没有权限读取",
    errno.EPERM: "没有权限读取",
    errno.ENOENT: "没有这个文件或文件夹",
    errno.EISDIR: "这是文件夹，不是文件",
    errno.EIO: "磁盘读取出错",
    errno.ELOOP: "符号链接绕成了圈",
    errno.ENAMETOOLONG: "文件名太长",
}


def os_problem(error: BaseException) -> str:
    """Why a file could not be read (an `OSError`), in Chinese where its kind is known, else with the system's words."""
    said_here = _OS_SAYS.get(getattr(error, "errno", None) or -1)
    return f"读取失败：{said_here or getattr(error, 'strerror', None) or error}"


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
                f"已有 {errors:,} 个问题，却没读到一个会话：不再往下读（文件是这种格式吗？）",
            )
            if isinstance(records, Generator):
                records.close()
            return
