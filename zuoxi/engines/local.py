"""The local batch engine: files → conversations → (results) → store, never losing the batch.

Bad input is reported as `file:line: reason` and skipped. Work is committed in chunks (and on
Ctrl-C), so an interrupted run keeps what it read; files imported completely are recorded by
content hash and skipped on the next run, which is how a re-run resumes. Recordings are named in
results from the input root (`ingest.InputFile`), as the Dask engine names them.
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
from zuoxi.privacy import mask_conversation, masked_name
from zuoxi.store import Store, content_key, file_sha256

CHUNK = 500


@dataclass
class BatchSummary:
    files: int = 0
    files_skipped: int = 0  # already imported, unchanged
    read: int = 0
    imported: int = 0  # new in the store
    duplicates: int = 0
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
    summary: BatchSummary = field(default_factory=BatchSummary)
    _pending: list[Analyzed] = field(default_factory=list)

    def run(self) -> Iterator[Analyzed]:
        files = list(input_files(self.paths))
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
        errors_before, read_before = len(summary.errors), summary.read
        records = read_file(path, self.options) if path.exists() else [IngestError(str(path), None, NO_SUCH_FILE)]
        for part in in_order_chunks(records, PREDICT_CHUNK if self.analyze and self.models else 1):
            if isinstance(part, IngestError):
                summary.errors.append(part)
                if self.on_error:
                    self.on_error(part)
            else:
                yield from self._take(part, file)
        self._flush()
        if store is not None and sha:
            store.mark_file(sha, self._named(path), summary.read - read_before, len(summary.errors) - errors_before)

    def _named(self, path: Path) -> str:
        """The file a conversation came from, as stored: masked like the conversation (exports are often named
        by a customer's number); its folder, where recordings beside it are looked up, keeps its name."""
        return masked_name(path) if self.mask else str(path)

    def _take(self, conversations: list[Conversation], file: InputFile) -> Iterator[Analyzed]:
        """Mask, analyze (when asked) and hand on conversations read from `file`, each as soon as
        it is done: an interruption loses only the conversation in hand, as one at a time would."""
        path, source = file.path, self._named(file.path)
        if self.mask:
            conversations = [mask_conversation(conversation) for conversation in conversations]
        results = (
            iter_analyses(
                conversations,
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
        for conversation in conversations:
            self.summary.read += 1
            result = next(results)
            self.summary.analyzed += result is not None
            item = Analyzed(conversation, result, content_key(conversation) if self.store else None, source)
            self._pending.append(item)
            yield item
            if len(self._pending) >= CHUNK:
                self._flush()

    def _flush(self) -> None:
        if self.store is not None and self._pending:
            store_analyzed(self.store, self._pending, self.summary)
        self._pending.clear()


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


def store_analyzed(store: Store, items: list[Analyzed], summary: BatchSummary) -> None:
    """One chunk of conversations and their results into the store, in two transactions, counting
    what was new; both engines store through here."""
    keys = [a.key for a in items if a.key]
    new = store.count_new(list(dict.fromkeys(keys)))
    store.add_conversations((a.conversation, a.source) for a in items)
    summary.imported += new
    summary.duplicates += len(keys) - new
    store.save_results((a.key, a.result) for a in items if a.result is not None and a.key)
