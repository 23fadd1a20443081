"""The local batch engine: files → conversations → (results) → store, never losing the batch.

Bad input is reported as `file:line: reason` and skipped. Work is committed in chunks (and on
Ctrl-C), so an interrupted run keeps what it read; files imported completely, without an error, are
recorded by content hash and skipped on the next run, which is how a re-run resumes. Recordings are
named in results from the input root (`ingest.InputFile`), as the Dask engine names them.

A conversation id stands for one conversation (`Duplicates`): a run that stores or scores notes a
second conversation of an id it has seen with other content, and one whose id is stored with other
content (both are stored, and `zuoxi conversation delete` removes the one not wanted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from zuoxi.analyze.models import PREDICT_CHUNK
from zuoxi.ingest import NO_SUCH_FILE, IngestError, InputFile, ReadOptions, input_files, read_file
from zuoxi.model import Conversation, Result
from zuoxi.pipeline import iter_analyses
from zuoxi.privacy import mask_conversation, mask_id, masked_name
from zuoxi.store import Store, content_key, file_sha256

CHUNK = 500


@dataclass
class BatchSummary:
    files: int = 0
    files_skipped: int = 0  # already imported, unchanged
    read: int = 0
    imported: int = 0  # new in the store
    duplicates: int = 0
    kept_out: int = 0  # read, but deleted earlier (`zuoxi conversation delete`): neither analyzed nor stored
    analyzed: int = 0
    errors: list[IngestError] = field(default_factory=list)

    @property
    def nothing_read(self) -> bool:
        return self.read == 0 and self.files_skipped == 0


@dataclass
class Analyzed:
    conversation: Conversation
    result: Result | None
    key: str | None
    source: str
    known: bool = False  # stored under `key` already, as an older version masked it: its result goes there


@dataclass
class Batch:
    """One run over some files. Iterate `run()`; read `summary` afterwards."""

    paths: Iterable[str | Path]
    options: ReadOptions | None = None
    store: Store | None = None
    analyze: bool = False
    scorecard: str | None = None
    models: bool = True  # the trained emotion/satisfaction models (False: lexicon cues only)
    mask: bool = True
    audio: bool | Path = True  # recordings that may be read: all, none, or those inside a folder
    resume: bool = True
    on_error: Callable[[IngestError], None] | None = None
    on_progress: Callable[[int, int, int], None] | None = None  # (files done, files, conversations read)
    # the name a file is stored under where it is not its path: an upload's copy in a folder that goes after the run
    names: dict[Path, str] = field(default_factory=dict)
    summary: BatchSummary = field(default_factory=BatchSummary)
    _pending: list[Analyzed] = field(default_factory=list)
    _marks: list[tuple[str, str, int, int]] = field(default_factory=list)  # files read whole, stored with `_pending`
    _errors: int = 0  # of summary.errors, those that are no note
    _duplicates: Duplicates | None = None

    def run(self) -> Iterator[Analyzed]:
        files = list(input_files(self.paths))
        if self.store is not None or self.analyze:  # what is only read (predict, live) counts nothing
            self._duplicates = Duplicates(self.store, self.mask)
        try:
            for done, file in enumerate(files, start=1):
                yield from self._file(file)
                if self.on_progress:
                    self.on_progress(done, len(files), self.summary.read)
        finally:
            self._flush()  # Ctrl-C or a crash in the caller: keep what was read

    def _file(self, file: InputFile) -> Iterator[Analyzed]:
        path, summary = file.path, self.summary
        summary.files += 1
        store = self.store
        try:
            sha = file_sha256(path, "" if self.mask else "unmasked") if store is not None and path.is_file() else None
        except OSError:  # unreadable: `read_file` reports it as this file's error, and the batch goes on
            sha = None
        if store is not None and sha and self.resume and not self.analyze and store.file_done(sha):
            summary.files_skipped += 1
            return
        errors_before, read_before = self._errors, summary.read
        records = read_file(path, self.options) if path.exists() else [IngestError(str(path), None, NO_SUCH_FILE)]
        # read ahead to analyze together with the models, or to look up stored ids once per run of conversations
        ahead = PREDICT_CHUNK if (self.analyze and self.models) or self.store is not None else 1
        for part in in_order_chunks(records, ahead):
            if isinstance(part, IngestError):
                self._error(part)
            else:
                yield from self._take(part, file)
        if store is not None and sha:  # marked done with the next chunk stored, after its last conversation
            self._marks.append((sha, self._named(path), summary.read - read_before, self._errors - errors_before))
            if len(self._marks) >= CHUNK:
                self._flush()

    def _error(self, error: IngestError) -> None:
        self.summary.errors.append(error)
        self._errors += not error.note
        if self.on_error:
            self.on_error(error)

    def _named(self, path: Path) -> str:
        """The file a conversation came from, as stored: masked like the conversation (exports are often named
        by a customer's number); its folder, where recordings beside it are looked up, keeps its name."""
        name = self.names.get(path, str(path))
        return masked_name(name) if self.mask else name

    def _take(self, conversations: list[Conversation], file: InputFile) -> Iterator[Analyzed]:
        """Mask, analyze (when asked) and hand on conversations read from `file`, each as soon as
        it is done: an interruption loses only the conversation in hand, as one at a time would."""
        path, source = file.path, self._named(file.path)
        masked = (mask_conversation(c) if self.mask else c for c in conversations)
        taken: Iterable[tuple[Conversation, str | None, bool]] = (
            self._duplicates.kept(conversations, masked, path, source, self._error, self._kept_out)
            if self._duplicates is not None
            else ((c, None, False) for c in masked)
        )
        if self.analyze:
            taken = list(taken)  # analyzed together (the models read a chunk at once)
        results = (
            iter_analyses(
                [conversation for conversation, _, _ in taken],
                self.scorecard,
                mask=False,
                models=self.models,
                audio_dir=path.parent,
                audio=self.audio,
                audio_name_dir=Path(file.name).parent,
            )
            if self.analyze
            else repeat(None)
        )
        for conversation, worked_out, known in taken:
            self.summary.read += 1
            result = next(results)
            self.summary.analyzed += result is not None
            key = worked_out if self.store is not None else None
            item = Analyzed(conversation, result, key, source, known=known)
            self._pending.append(item)
            yield item
            if len(self._pending) >= CHUNK:
                self._flush()

    def _kept_out(self) -> None:
        """A conversation read that a deletion keeps out (noted by `Duplicates.kept`): read, neither analyzed nor
        stored."""
        self.summary.read += 1
        self.summary.kept_out += 1

    def _flush(self) -> None:
        """Store what was read and then mark the files read to their end: a file is marked only once all it gave is
        stored, so a run stopped in between reads it again (its conversations then count as already stored)."""
        if self.store is not None and self._pending:
            store_analyzed(self.store, self._pending, self.summary, self._error)
        if self.store is not None and self._marks:
            self.store.mark_files(self._marks)
        self._pending.clear()
        self._marks.clear()


class Duplicates:
    """One id, one conversation, as a contact centre's system gives it — or said where it is not. A re-export of a
    chat that went on, or a corrected export, is another conversation of the same id; so is each conversation of
    exports that number their conversations 1, 2, 3… afresh each day. Which it is the file cannot tell, so both are
    stored and a note says so, naming the first (its file and line, or its key in the database) and
    `zuoxi conversation delete`, which removes the one not wanted; stored beside each other without a word, both
    were scored and counted (exports, agents' averages). The same content again is no duplicate: it is stored once
    (库中已有) — also a conversation stored as an older version masked it, read again from its file or from another
    folder's copy, its id stored as read or as masked: masked again today, the stored one is this one (its result goes
    to it; `zuoxi db remask` masks its text again, its key stays).

    Ids made of the file's name (a subtitle file, a table without an id column, a text log's `name-2`, FunASR items
    without a key) are not compared: two folders' call_001.srt are two calls. An id that masking changes (a caller's
    number) is compared by content only, never noted: two callers' numbers can be masked alike."""

    def __init__(self, store: Store | None, mask: bool) -> None:
        self.store = store
        self.mask = mask
        self.deleted = Deleted(store.deleted() if store is not None else {}, mask)
        # id as read → (its content key's first 16 digits, its file, as an index of `files`, and line): a run of a
        # million conversations holds a million of these
        self.seen: dict[str, tuple[str, int, int | None]] = {}
        self.files: list[str] = []

    def kept(
        self,
        read: list[Conversation],
        masked: Iterable[Conversation],
        path: Path,
        source: str,
        note: Callable[[IngestError], None],
        kept_out: Callable[[], None] | None = None,
    ) -> Iterator[tuple[Conversation, str, bool]]:
        """Each of `masked` (the conversations `read` from `path`, masked as they are stored, one at a time), with the
        key it is stored under and whether that key is already stored for it, another than its own (an older version
        masked it otherwise); a note for each whose id another conversation has. One a deletion keeps out is left
        out first, with a note (and `kept_out` called): it is compared with nothing, so no other note names it."""
        if not self.files or self.files[-1] != str(path):
            self.files.append(str(path))
        compared = [c.id for c in read if not _named_after_file(c.id, path)]
        if self.mask:  # an id today's masking changes may be stored as read (by an older version) or masked
            compared += [mask_id(ident) for ident in compared]
        stored = self.store.stored_ids(compared) if self.store is not None and compared else {}
        masked_again: dict[str, str | None] = {}  # a stored key → its conversation's key masked today
        for original, conversation in zip(read, masked, strict=True):
            key, line = content_key(conversation), original.source_line
            if (deleted := self.deleted.kept_out(original, key)) is not None:
                note(kept_out_note(str(path), conversation, deleted))
                if kept_out is not None:
                    kept_out()
                continue
            if _named_after_file(original.id, path):
                yield conversation, key, False
                continue
            if (first := self.seen.get(original.id)) is not None:
                if first[0] != key[:16]:
                    where = f"{self.files[first[1]]}:{first[2]}" if first[2] else self.files[first[1]]
                    note(IngestError(str(path), line, _seen_before(conversation.id, where), note=True))
                yield conversation, key, False
                continue
            if then := self._stored_otherwise(
                original, conversation, key, stored.get, (path, source), masked_again, note
            ):
                yield conversation, then, True
                continue
            self.seen[original.id] = (key[:16], len(self.files) - 1, line)
            yield conversation, key, False

    def _stored_otherwise(
        self,
        original: Conversation,
        conversation: Conversation,
        key: str,
        stored: Callable[[str, list[tuple[str, str | None]]], list[tuple[str, str | None]]],
        came: tuple[Path, str],
        masked_again: dict[str, str | None],
        note: Callable[[IngestError], None],
    ) -> str | None:
        """The stored key of this conversation where an older version masked it otherwise; else None, with a note
        where other conversations of its id are stored (not for an id masking changed: two callers masked alike)."""
        raw = stored(original.id, []) if conversation.id != original.id else []
        others = list(dict.fromkeys(raw + stored(conversation.id, [])))
        if not others or any(other == key for other, _ in others):
            return None
        path, source = came  # (the file read, as stored)
        if then := self._stored_as_older_masking(key, _worth_masking_again(others, raw, source), masked_again):
            return then
        if conversation.id == original.id:
            note(IngestError(str(path), original.source_line, _stored_before(conversation.id, others), note=True))
        return None

    def _stored_as_older_masking(self, key: str, others: list[str], masked_again: dict[str, str | None]) -> str | None:
        """The stored key among `others` whose conversation, masked again today, is this one (`key`): the same content
        an older version masked otherwise. Each stored conversation is read once, and only here."""
        if not self.mask or self.store is None:
            return None
        if unread := [other for other in others if other not in masked_again]:
            before = self.store.conversations(unread)
            for other in unread:
                masked_again[other] = content_key(mask_conversation(before[other])) if other in before else None
        return next((other for other in others if masked_again[other] == key), None)


@dataclass(frozen=True)
class Deleted:
    """The content keys deleted conversations are kept out by (zuoxi.store.deletion), each with the key it was stored
    and deleted under: read once a run (deletions are few)."""

    keys: dict[str, str]
    mask: bool  # whether the run masks: an unmasked run's conversation is compared as masked too

    def kept_out(self, original: Conversation, key: str) -> str | None:
        """The stored key of the deleted conversation this one is (read as `original`, stored under `key`), if any."""
        if not self.keys:
            return None
        if key in self.keys:
            return self.keys[key]
        return None if self.mask else self.keys.get(content_key(mask_conversation(original)))


def kept_out_note(path: str, conversation: Conversation, key: str) -> IngestError:
    """The note said at a conversation's line where a deletion keeps it out (`key`: the one it was deleted under)."""
    return IngestError(path, conversation.source_line, _kept_out_words(conversation.id, key), note=True)


def _kept_out_words(ident: str, key: str) -> str:
    return (
        f"会话 {ident!r} 此前已用 zuoxi conversation delete 删除：没有再存入，也没有分析。"
        f"若要让它再存入：zuoxi conversation readmit {key[:12]}，再用 zuoxi import --again 或 zuoxi analyze 读这个文件"
    )


def _worth_masking_again(
    others: list[tuple[str, str | None]], raw: list[tuple[str, str | None]], source: str
) -> list[str]:
    """The stored conversations of this id, with other keys, that may be this one as an older version masked it, and so
    are worth reading to mask again: stored under the id as read where masking now changes it, or from this file or a
    file of its name (a copy in another folder). Not another day's export numbered 1, 2, 3… afresh, nor another caller
    whose number is masked alike: reading every stored conversation of an id made each day's import slower than the
    last."""
    name = Path(source).name
    return [
        key
        for key, came in others
        if (key, came) in raw or (came is not None and (came == source or Path(came).name == name))
    ]


def _named_after_file(ident: str, path: Path) -> bool:
    """Whether a reader made this id of the file's name (its own id none): `call.srt`, `export`, `log-3`."""
    return ident in (path.name, path.stem) or (
        ident.startswith(f"{path.stem}-") and ident[len(path.stem) + 1 :].isdigit()
    )


def _seen_before(ident: str, first: str) -> str:
    return (
        f"会话 {ident!r} 与 {first} 的会话同一ID、内容不同：两个都已导入。若只应保留一个，导入后用 "
        "zuoxi conversation delete 删去另一个"
    )


def _stored_before(ident: str, others: list[tuple[str, str | None]]) -> str:
    key, source = others[0]
    more = f"等 {len(others)} 个" if len(others) > 1 else ""
    came = f"，来自 {source}" if source else ""
    return (
        f"数据库中已有会话 {ident!r}，内容不同（内容键 {key[:12]}{more}{came}）：这一个也已导入。"
        f"若这是它更正过或更完整的导出，用 zuoxi conversation delete {key[:12]} 删去库中旧的那个"
        f"（zuoxi show {key[:12]} 可先查看）；若这是另一个会话（导出每次从 1 编号），可不理会"
    )


def in_order_chunks(
    records: Iterable[Conversation | IngestError], size: int
) -> Iterator[list[Conversation] | IngestError]:
    """The records in their order, conversations in runs of at most `size` (read ahead, to be
    analyzed together): a bad record ends a run, so results and errors keep the input's order.
    Should reading fail (or Ctrl-C land while parsing), the run read so far still comes first."""
    records = iter(records)
    run: list[Conversation] = []
    while True:
        try:
            record = next(records, None)
        except BaseException:
            if run:
                yield run
            raise
        if record is None:
            break
        if isinstance(record, IngestError):
            if run:
                yield run
                run = []
            yield record
            continue
        run.append(record)
        if len(run) >= size:
            yield run
            run = []
    if run:
        yield run


def store_analyzed(
    store: Store, items: list[Analyzed], summary: BatchSummary, note: Callable[[IngestError], None] | None = None
) -> None:
    """One chunk of conversations and their results into the store, in two transactions, counting
    what was new; both engines store through here. One deleted since the run read the deletions (another process's
    `zuoxi conversation delete` while this run went on) is left out here, noted — also one deleted between this check
    and its result's storing (`save_results` hands its key back): a customer's erasure is not undone by an import that
    was running."""
    if late := store.deleted(a.key for a in items if a.key):
        for gone in items:
            if gone.key is None or gone.key not in late:
                continue
            summary.kept_out += 1
            summary.analyzed -= gone.result is not None
            if note is not None:
                note(kept_out_note(gone.source, gone.conversation, late[gone.key]))
        items = [a for a in items if a.key not in late]
    keys = [a.key for a in items if a.key]
    new = store.count_new(list(dict.fromkeys(keys)))
    store.add_conversations((a.conversation, a.source) for a in items if not a.known)
    summary.imported += new
    summary.duplicates += len(keys) - new
    vanished = set(store.save_results((a.key, a.result) for a in items if a.result is not None and a.key))
    for late_item in (a for a in items if a.key in vanished):  # deleted while this chunk was stored
        summary.kept_out += 1
        summary.analyzed -= 1
        if note is not None:
            note(kept_out_note(late_item.source, late_item.conversation, late_item.key or ""))
