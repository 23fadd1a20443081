"""The Dask batch engine: the local engine's analysis, shard by shard, on a Dask distributed cluster.

A shard is one input file, or a slice of a big one: a range of `SHARD_RECORDS` lines of a JSON Lines
file, a run of row groups of a Parquet file. A worker reads its shard, masks and analyzes its
conversations in chunks with `zuoxi.pipeline.analyze_conversations` exactly as `engines.local` does (so
results are identical), optionally writes the shard's results as one Parquet part, and hands back what
it found. The client stores the results in the database in batches as shards complete, then marks the
shard done, and hands on every result in input order.

By default the cluster is a `LocalCluster` of worker processes (one per core, one thread each) bound
to 127.0.0.1 with the dashboard off, so nothing listens on or connects to another address. Given a
scheduler address, any existing cluster is used (Kubernetes, YARN, SSH, HPC via dask-jobqueue):
its workers need the same zuoxi installed and the input files at the same absolute paths.

Exactly once, whatever the cluster:
- the plan depends on the input and the options only, never on the workers: a shard's key hashes the
  file's name below its input root, the record range and the bytes of that range, with what changes
  results (scorecard, masking, models, read options, the zuoxi version). Adding workers, removing
  some, or adding files leaves the other shards' keys as they were;
- a shard is done when every sink has it: the database its mark (`Store.mark_file`), `--parquet` its
  part `part-<key>.parquet`, written atomically by the worker, so a shard done again (a retry after a
  killed worker, `--again`) replaces its part instead of adding one; parts that the plan does not name
  are moved aside before the run (`report.parquet.supersede_parts`);
- a re-run skips done shards and still hands on their results, read back from their parts (else from
  the database), so its output is the whole run's;
- results name files and recordings from the input root (`ingest.InputFile`), not from the folder a
  worker runs in, so they are byte for byte the local engine's.

Failure handling: bad input is reported `file:line: reason` (Parquet: `file:row`) and the rest goes on;
so is a conversation whose analysis fails (`会话 …：分析失败`); a shard that fails as a
whole (its task raised three times, or killed three workers) is reported and skipped; a killed worker
loses only the shard it was running: the scheduler runs it again elsewhere.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zuoxi import __version__
from zuoxi.analyze.models import PREDICT_CHUNK
from zuoxi.engines.local import (
    CHUNK,
    Analyzed,
    BatchSummary,
    Deleted,
    Duplicates,
    in_order_chunks,
    kept_out_note,
    store_analyzed,
)
from zuoxi.ingest import NO_SUCH_FILE, NOT_REGULAR, IngestError, ReadOptions, detect_format, input_files, read_file
from zuoxi.ingest.canonical import read_jsonl
from zuoxi.ingest.encoding import UnknownEncoding, decode_lines
from zuoxi.ingest.errors import errors_only, os_problem
from zuoxi.ingest.parquet import ParquetUnavailable, pyarrow_modules, read_parquet, row_groups
from zuoxi.model import Conversation, Result
from zuoxi.pipeline import analyze_conversation, analyze_conversations, choose_scorecard
from zuoxi.privacy import mask_conversation, masked_name
from zuoxi.store import Store, content_key, file_sha256

logger = logging.getLogger(__name__)

SHARD_RECORDS = 2000  # lines / rows per shard of a big file: seconds of a core, far above Dask's ms per task
CONNECT_TIMEOUT = 30  # seconds to reach a given scheduler
BLOCK = 1 << 20  # bytes read at a time while hashing and cutting files


class DaskEngineError(RuntimeError):
    """The cluster cannot be used (scheduler unreachable, workers without the same zuoxi)."""


@dataclass(frozen=True)
class Shard:
    path: str  # as given: the `source` stored, the name in messages
    name: str  # below the input root: names the file in results (parts, recordings)
    location: str  # absolute: what a worker opens
    key: str | None  # the "done" mark and the part's name (None: unreadable, never marked)
    span: str = ""  # "lines A-B" / "rows A-B" for a slice of a file, "" for a whole file
    lines: tuple[int, int, int] | None = None  # JSON Lines slice: byte start, byte end, number of its first line
    groups: tuple[int, ...] | None = None  # Parquet slice: row groups
    first_row: int = 1

    @property
    def label(self) -> str:
        """The shard in messages: path, or path#lines A-B / path#rows A-B."""
        return f"{self.path}#{self.span}" if self.span else self.path

    @property
    def part_label(self) -> str:
        """The shard in its part's rows, from the input root."""
        return f"{self.name}#{self.span}" if self.span else self.name


@dataclass(frozen=True)
class Job:
    """What every shard of a run shares."""

    scorecard: str | None
    mask: bool = True
    models: bool = True
    options: ReadOptions = field(default_factory=ReadOptions)
    parquet: str | None = None  # folder of result parts
    send_items: bool = True  # return conversations and results to the client (database, output)
    deleted: dict[str, str] = field(default_factory=dict)  # content keys deletions keep out (Store.deleted)


@dataclass
class ShardOutcome:
    read: int
    analyzed: int
    errors: list[IngestError]
    items: list[tuple[Conversation, Result, str]] | None  # (masked conversation, result, content key)
    kept_out: int = 0  # read, but deleted earlier: neither analyzed nor handed on (a note each, in `errors`)


@dataclass
class DaskSummary(BatchSummary):
    shards: int = 0
    shards_skipped: int = 0  # done by an earlier run
    shards_failed: int = 0
    read_back: int = 0  # results of skipped shards handed on again (from their parts or the database)
    parts_superseded: int = 0  # parts of an older plan moved aside

    @property
    def nothing_read(self) -> bool:
        return self.read == 0 and self.shards_skipped == 0


def part_name(key: str) -> str:
    return f"part-{key[:32]}.parquet"


def shard_key(variant: str, name: str, span: str, content: str) -> str:
    """A shard's identity: the file's name below its input root, the record range, the range's content
    hash, and the run's options (`options_variant`); nothing about the cluster."""
    return hashlib.sha256("\0".join((variant, name, span, content)).encode()).hexdigest()


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def local_cluster(workers: int | None = None):
    """Worker processes on this machine, one thread each, listening on 127.0.0.1 only, no dashboard."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers or default_workers(),
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
        # the scheduler's HTTP server (health, metrics) still runs: on a free loopback port
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )


def worker_version() -> str:
    return __version__


# --- on the workers ------------------------------------------------------------------------------
def _records(shard: Shard, options: ReadOptions) -> Iterator[Conversation | IngestError]:
    if shard.lines is not None:
        start, end, first_line = shard.lines
        try:
            with open(shard.location, "rb") as handle:
                handle.seek(start)
                data = handle.read(end - start)
            text = decode_lines(data)  # a bad byte costs its line, not the shard
        except (OSError, UnknownEncoding) as error:
            yield IngestError(shard.label, None, os_problem(error) if isinstance(error, OSError) else str(error))
            return
        for record in read_jsonl(text, shard.path):
            if isinstance(record, IngestError) and record.line:
                yield replace(record, line=record.line + first_line - 1)
                continue
            if isinstance(record, Conversation) and record.source_line:
                record._line = record.source_line + first_line - 1  # its line in the file, not in the slice
            yield record
    elif shard.groups is not None:
        yield from read_parquet(shard.location, shard.path, shard.groups, shard.first_row)
    elif not Path(shard.location).exists():
        yield IngestError(shard.path, None, NO_SUCH_FILE)
    else:
        for record in read_file(Path(shard.location), options):
            yield (
                replace(record, path=shard.path)
                if isinstance(record, IngestError) and record.path == shard.location
                else record
            )


def analyze_shard(shard: Shard, job: Job) -> ShardOutcome:
    """One task: read the shard, mask and analyze each conversation, write the Parquet part."""
    from zuoxi.report.parquet import result_row, write_part

    # opened where the client found it, named from the input root: results do not depend on this folder
    audio_dir, audio_name_dir = Path(shard.location).parent, Path(shard.name).parent
    read, analyzed, errors, items, rows = 0, 0, [], [], []
    deleted, kept_out = Deleted(job.deleted, job.mask), 0
    for part in in_order_chunks(_records(shard, job.options), PREDICT_CHUNK):
        if isinstance(part, IngestError):
            errors.append(part)
            continue
        read += len(part)
        masked = [mask_conversation(record) for record in part] if job.mask else part
        keyed = []  # (conversation, key) of those no deletion keeps out, noted as the local engine notes them
        for record, conversation in zip(part, masked):
            key = content_key(conversation)
            if (stored := deleted.kept_out(record, key)) is not None:
                errors.append(kept_out_note(shard.path, record, stored))
                kept_out += 1
            else:
                keyed.append((conversation, key))
        conversations = [conversation for conversation, _ in keyed]
        analyses = _analyzed(conversations, job, audio_dir, audio_name_dir, shard.label, errors)
        for (conversation, key), result in zip(keyed, analyses):
            if result is None:
                continue
            analyzed += 1
            if job.send_items:
                items.append((conversation, result, key))
            if job.parquet:
                # A row is a few strings: keeping rows rather than thousands of Result objects spares the
                # garbage collector (a shard of 2,000 kept Results costs it 0.6 s more, 12% of the shard).
                rows.append(result_row(key, conversation, result, shard.name, shard.part_label))
    if job.parquet and shard.key:
        write_part(rows, Path(job.parquet) / part_name(shard.key))
    return ShardOutcome(
        read=read, analyzed=analyzed, errors=errors, items=items if job.send_items else None, kept_out=kept_out
    )


def _analyzed(
    conversations: list[Conversation],
    job: Job,
    audio_dir: Path,
    audio_name_dir: Path,
    label: str,
    errors: list[IngestError],
) -> list[Result | None]:
    """Results of a chunk analyzed together; when that fails, of each conversation alone, so one
    conversation must not cost the others (its failure becomes an error, its result None)."""
    audio = dict(audio_dir=audio_dir, audio_name_dir=audio_name_dir)
    try:
        return [*analyze_conversations(conversations, job.scorecard, mask=False, models=job.models, **audio)]
    except Exception as error:  # noqa: BLE001 - find the culprit below
        logger.warning(
            "%s: %d 个会话一起分析失败（%s: %s），改为逐个分析",
            label,
            len(conversations),
            type(error).__name__,
            error,
        )
    results: list[Result | None] = []
    for conversation in conversations:
        try:
            results.append(analyze_conversation(conversation, job.scorecard, mask=False, models=job.models, **audio))
        except Exception as error:  # noqa: BLE001 - one conversation must not cost the shard
            errors.append(
                IngestError(label, None, f"会话 {conversation.id}：分析失败（{type(error).__name__}: {error}）")
            )
            results.append(None)
    return results


# --- on the client: planning ---------------------------------------------------------------------
def jsonl_slices(path: Path, records: int) -> list[tuple[int, int, int, int, str]]:
    """Cut a JSON Lines file after every `records` lines, in one pass: (byte start, byte end, first line,
    last line, sha256 of the slice's bytes) per slice."""
    slices: list[tuple[int, int, int, int, str]] = []
    start = offset = 0  # byte offsets of the slice being read and of the block in hand
    first_line, lines, last_byte = 1, 0, b"\n"
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            i = 0
            while block.count(b"\n", i) >= records - lines:  # the slice ends in this block
                cut = i - 1
                for _ in range(records - lines):
                    cut = block.find(b"\n", cut + 1)
                digest.update(block[i : cut + 1])
                slices.append((start, offset + cut + 1, first_line, first_line + records - 1, digest.hexdigest()))
                start, first_line, lines, digest = offset + cut + 1, first_line + records, 0, hashlib.sha256()
                i = cut + 1
            digest.update(block[i:])
            lines += block.count(b"\n", i)
            offset += len(block)
            last_byte = block[-1:]
    if offset > start:
        slices.append((start, offset, first_line, first_line + lines - (last_byte == b"\n"), digest.hexdigest()))
    return slices


def plan_shards(
    paths: Iterable[str | Path], options: ReadOptions, variant: str, records: int = SHARD_RECORDS
) -> tuple[list[Shard], list[IngestError], int]:
    """(shards, errors, files): JSON Lines files are cut every `records` lines, Parquet files at the first
    row-group end past every `records` rows; every other file, and one no longer than that, is one shard.
    Nothing here depends on the cluster: every run over the same files plans the same shards."""
    shards: list[Shard] = []
    errors: list[IngestError] = []
    files = 0
    for file in input_files(paths):
        files += 1
        path = file.path
        if not path.exists():
            errors.append(IngestError(str(path), None, NO_SUCH_FILE))
            continue
        if not path.is_file():  # planning reads the file: a link to /dev/zero would never end
            errors.append(IngestError(str(path), None, NOT_REGULAR))
            continue
        whole = Shard(str(path), file.name, str(path.absolute()), None)
        fmt = options.format or detect_format(path)
        try:
            if fmt == "jsonl" and not _starts_utf16(path):
                shards += _jsonl_shards(whole, variant, records)
            elif fmt == "parquet":
                shards += _parquet_shards(whole, variant, records)
            else:
                shards.append(replace(whole, key=shard_key(variant, file.name, "", file_sha256(path))))
        except OSError:  # unreadable here: the worker reports why, and the shard is never marked done
            shards.append(whole)
    return shards, errors, files


def _starts_utf16(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) in (b"\xff\xfe", b"\xfe\xff")


def _jsonl_shards(whole: Shard, variant: str, records: int) -> list[Shard]:
    slices = jsonl_slices(Path(whole.path), records)
    if len(slices) <= 1:  # the slice's hash is the whole file's
        return [
            replace(
                whole, key=shard_key(variant, whole.name, "", slices[0][4] if slices else hashlib.sha256().hexdigest())
            )
        ]
    shards = []
    for start, end, first, last, digest in slices:
        span = f"lines {first}-{last}"
        shards.append(
            replace(whole, key=shard_key(variant, whole.name, span, digest), span=span, lines=(start, end, first))
        )
    return shards


def _parquet_shards(whole: Shard, variant: str, records: int) -> list[Shard]:
    """Row groups are the file's own, so the cut is too. A Parquet file is written once, never appended
    to: its content hash stands for each slice's."""
    path = Path(whole.path)
    content = file_sha256(path)
    try:
        counts = row_groups(path)
    except Exception:  # noqa: BLE001 - not Parquet, or no pyarrow: one shard, and the worker says why
        counts = []
    runs: list[list[int]] = []  # row groups cut after the first group end past every `records` rows
    run: list[int] = []
    for index in range(len(counts)):
        run.append(index)
        if sum(counts[i] for i in run) >= records:
            runs, run = runs + [run], []
    runs += [run] if run else []
    if len(runs) <= 1:
        return [replace(whole, key=shard_key(variant, whole.name, "", content))]
    shards, first = [], 1
    for run in runs:
        last = first + sum(counts[i] for i in run) - 1
        span = f"rows {first}-{last}"
        shards.append(
            replace(
                whole, key=shard_key(variant, whole.name, span, content), span=span, groups=tuple(run), first_row=first
            )
        )
        first = last + 1
    return shards


def options_variant(scorecard: str | None, mask: bool, models: bool, options: ReadOptions) -> str:
    """What, besides the input bytes, decides a shard's results: part of its done mark."""
    from zuoxi.rules.scorecard import builtin_names, load_spec

    names = [scorecard] if scorecard else builtin_names()  # auto: any built-in may be chosen
    specs = hashlib.sha256(
        "\n".join(load_spec(n)[0].model_dump_json(warnings=False) for n in names).encode()
    ).hexdigest()
    return "\0".join(
        [
            f"zuoxi analyze {__version__}",
            f"scorecard {scorecard or 'auto'} {specs}",
            f"mask {mask}",
            f"models {models}",
            f"format {options.format}",
            f"columns {sorted(options.columns.items())}",
            f"agent {options.agent_speaker}",
        ]
    )


# --- on the client: the run ----------------------------------------------------------------------
@dataclass
class DaskBatch:
    """One analysis run over some files on a Dask cluster. Iterate `run()`; read `summary` afterwards.

    `collect` makes `run()` yield every (conversation, result) in input order, as the local engine
    does — those of shards an earlier run did too, read back; without it and without a store, results
    stay on the workers (in the Parquet parts)."""

    paths: Iterable[str | Path]
    options: ReadOptions | None = None
    store: Store | None = None
    scorecard: str | None = None
    models: bool = True
    mask: bool = True
    resume: bool = True  # skip shards an earlier run finished
    parquet: str | Path | None = None  # write result parts here
    collect: bool = True
    scheduler: str | None = None  # an existing cluster; None: a LocalCluster on 127.0.0.1
    client: object | None = None  # or an open distributed.Client (tests, benches)
    workers: int | None = None  # LocalCluster size (default: the cores)
    shard_records: int = SHARD_RECORDS  # lines / rows per shard of a big file (another size is another plan)
    retries: int = 2  # a shard whose task raises is tried this many more times
    on_error: Callable[[IngestError], None] | None = None
    on_progress: Callable[[int, int, int], None] | None = None  # (shards done, shards to do, conversations read)
    on_cluster: Callable[[str], None] | None = None  # one line about the cluster used
    summary: DaskSummary = field(default_factory=DaskSummary)
    _duplicates: Duplicates | None = None

    def run(self) -> Iterator[Analyzed]:
        self._duplicates = Duplicates(self.store, self.mask) if self.store is not None else None
        options = self.options or ReadOptions()
        scorecard = self.scorecard
        if scorecard and not _is_builtin(scorecard):
            from zuoxi.rules.scorecard import locate

            scorecard = str(locate(scorecard).resolve())  # workers elsewhere find the file by its absolute path
        if self.parquet:
            try:
                pyarrow_modules()
            except ParquetUnavailable as error:
                raise DaskEngineError(f"--parquet: {error}") from None
        shards, done = self._plan(options)
        job = Job(
            scorecard=scorecard,
            mask=self.mask,
            models=self.models,
            options=options,
            parquet=str(Path(self.parquet).resolve()) if self.parquet else None,
            send_items=self.collect or self.store is not None,
            deleted=self._duplicates.deleted.keys if self._duplicates is not None else {},
        )
        yield from self._execute(shards, done, job)

    def _plan(self, options: ReadOptions) -> tuple[list[Shard], list[bool]]:
        """Every shard of the inputs and whether an earlier run did it (errors for missing files reported);
        with --parquet, the parts of an older plan moved aside."""
        variant = options_variant(self.scorecard, self.mask, self.models, options)
        shards, errors, files = plan_shards(self.paths, options, variant, self.shard_records)
        self.summary.files, self.summary.shards = files, len(shards)
        for error in errors:
            self._error(error)
        if self.parquet and shards:  # nothing planned (a mistyped folder, say) moves nothing
            from zuoxi.report.parquet import supersede_parts

            self.summary.parts_superseded = supersede_parts(self.parquet, {part_name(s.key) for s in shards if s.key})
        done = [self._done(shard) for shard in shards]
        self.summary.shards_skipped = sum(done)
        return shards, done

    def _execute(self, shards: list[Shard], done: list[bool], job: Job) -> Iterator[Analyzed]:
        """Compute the shards not done, at most a window of them in flight (or finished out of order),
        and hand on every result in input order: a done shard's read back when its turn comes. The
        cluster is opened at the first shard to compute, so a re-run with everything done starts none."""
        from distributed import as_completed

        summary = self.summary
        todo = [index for index, is_done in enumerate(done) if not is_done][::-1]  # popped from the end, in order
        in_flight: dict = {}
        finished: dict[int, ShardOutcome | None] = {}  # completed, not yet handed on
        completed: Any = None  # made once the client is: as_completed needs one (distributed 2026.8)
        cluster = ExitStack()
        client, window, computed, next_out = None, 0, 0, 0

        def submit(index: int) -> None:
            nonlocal client, window, completed
            if client is None:
                client = cluster.enter_context(self._cluster())
                completed = as_completed()
                window = max(
                    4, 3 * (sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()) or 1)
                )
            future = client.submit(analyze_shard, shards[index], job, pure=False, retries=self.retries)
            in_flight[future] = index
            completed.add(future)

        with cluster:
            try:
                while next_out < len(shards):
                    while todo and (client is None or len(in_flight) + len(finished) < window):
                        submit(todo.pop())
                    if next_out in finished:
                        yield from self._hand_on(shards[next_out], finished.pop(next_out))
                        next_out += 1
                    elif done[next_out]:
                        outcome = self._read_back(shards[next_out], job) if self.collect else None
                        if self.collect and outcome is None:  # not all there: compute it again
                            done[next_out] = False
                            submit(next_out)
                            continue
                        yield from self._hand_on(shards[next_out], outcome)
                        next_out += 1
                    else:  # it is in flight: take whatever finishes next
                        future = next(completed)
                        index = in_flight.pop(future)
                        finished[index] = self._finish(shards[index], future)
                        computed += 1
                        if self.on_progress:
                            self.on_progress(computed, computed + len(in_flight) + len(todo), summary.read)
            finally:
                # Ctrl-C or the consumer stopped: finished shards are stored, the rest runs again next time
                if in_flight and client is not None:  # only a client puts shards in flight
                    client.cancel(list(in_flight))

    def _finish(self, shard: Shard, future) -> ShardOutcome | None:
        """A computed shard's outcome, stored and marked done; None when it failed as a whole."""
        try:
            outcome = future.result()
        except Exception as error:  # noqa: BLE001 - KilledWorker, or the task raised on every try
            self.summary.shards_failed += 1
            self._error(
                IngestError(shard.label, None, f"分片处理失败（{type(error).__name__}: {error}）；再运行一次即可重试")
            )
            return None
        finally:
            future.release()
        self._keep(shard, outcome)
        return outcome if self.collect else None

    def _hand_on(self, shard: Shard, outcome: ShardOutcome | None) -> Iterator[Analyzed]:
        if self.collect and outcome is not None and outcome.items is not None:
            for conversation, result, key in outcome.items:
                yield Analyzed(conversation, result, key if self.store is not None else None, self._named(shard))

    def _read_back(self, shard: Shard, job: Job) -> ShardOutcome | None:
        """The results of a shard an earlier run did, from its part, else from the database (its
        conversations read and masked again, to find their keys); None when some cannot be had."""
        from zuoxi.report.parquet import read_part
        from zuoxi.rules.engine import get_scorecard

        key, store = shard.key, self.store
        if key is None:
            return None  # an unreadable shard is never marked done (`_done`)
        deleted = Deleted(job.deleted, job.mask)
        if self.parquet:
            try:
                items = read_part(Path(self.parquet) / part_name(key))
            except (OSError, ValueError) as error:  # gone or damaged since planning
                logger.warning("%s: 此前运行写下的 Parquet 分块读不出来（%s），重新分析这个分片", shard.label, error)
                return None
            if any(deleted.keys.get(item_key) for _, _, item_key in items):
                return None  # one of them deleted since: computed again, its part written without it
        elif store is not None:
            records = [record for record in _records(shard, job.options) if isinstance(record, Conversation)]
            conversations, keys, notes = [], [], []  # the notes said only if the shard is read back (else computed)
            for record in records:
                conversation = mask_conversation(record) if job.mask else record
                key = content_key(conversation)
                if (deleted_as := deleted.kept_out(record, key)) is None:
                    conversations.append(conversation)
                    keys.append(key)
                    continue
                notes.append(kept_out_note(shard.path, record, deleted_as))
            stored = store.results_of(keys)
            results = [
                stored.get((key, get_scorecard(choose_scorecard(conversation, job.scorecard)).spec.id))
                for conversation, key in zip(conversations, keys)
            ]
            found = [result for result in results if result is not None]
            missing = len(results) - len(found)
            if missing:
                logger.warning(
                    "%s: 此前运行的 %d 个结果不在数据库中，重新分析这个分片",
                    shard.label,
                    missing,
                )
                return None
            items = list(zip(conversations, found, keys))
            self.summary.kept_out += len(notes)
            for note in notes:
                self._error(note)
        else:
            return None  # neither a part nor a store to read from: never marked done (`_done`)
        self.summary.read_back += len(items)
        return ShardOutcome(read=0, analyzed=0, errors=[], items=items)

    def _keep(self, shard: Shard, outcome: ShardOutcome) -> None:
        """Store a finished shard's conversations and results (in chunks), then mark it done."""
        summary = self.summary
        summary.read += outcome.read
        summary.analyzed += outcome.analyzed
        summary.kept_out += outcome.kept_out
        for error in outcome.errors:
            self._error(error)
        if self.store is None:
            return
        source = self._named(shard)
        given = outcome.items or []
        items = [Analyzed(conversation, result, key, source) for conversation, result, key in given]
        if self._duplicates is not None and given:  # an id another conversation has: noted as the local engine does
            read = [conversation for conversation, _, _ in given]  # (masked on the workers: ids compared as stored,
            # and shards come back in the order they finish, so which of two gets the note may differ from run to run)
            kept = self._duplicates.kept(read, iter(read), Path(shard.path), source, self._error)
            for item, (_, key, known) in zip(items, kept, strict=True):
                if known:
                    item.key, item.known = key, True
        for begin in range(0, len(items), CHUNK):
            store_analyzed(self.store, items[begin : begin + CHUNK], summary, self._error)
        if shard.key:
            self.store.mark_file(
                shard.key, f"{source}#{shard.span}" if shard.span else source, outcome.read, errors_only(outcome.errors)
            )

    def _named(self, shard: Shard) -> str:
        """The file a shard's conversations came from, as stored: masked as the local engine stores it (exports are
        often named by a customer's number)."""
        return masked_name(shard.path) if self.mask else shard.path

    def _done(self, shard: Shard) -> bool:
        if not self.resume or shard.key is None or (self.store is None and not self.parquet):
            return False
        if self.parquet and not (Path(self.parquet) / part_name(shard.key)).exists():
            return False
        return self.store is None or self.store.file_done(shard.key)

    def _error(self, error: IngestError) -> None:
        self.summary.errors.append(error)
        if self.on_error:
            self.on_error(error)

    @contextmanager
    def _cluster(self):
        if self.client is not None:
            yield self.client
            return
        from distributed import Client

        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as error:
                raise DaskEngineError(
                    f"无法连接 Dask 调度器 {self.scheduler}（{type(error).__name__}: {error}）"
                ) from None
            try:
                _check_workers(client)
                self._tell(client, f"调度器 {self.scheduler}")
                yield client
            finally:
                client.close()
            return
        cluster = local_cluster(self.workers)
        try:
            with Client(cluster) as client:
                self._tell(client, "本机集群 LocalCluster")
                yield client
        finally:
            cluster.close()

    def _tell(self, client, what: str) -> None:
        if self.on_cluster:
            workers = client.scheduler_info()["workers"]
            threads = sum(w.get("nthreads", 1) for w in workers.values())
            self.on_cluster(
                f"dask：{what}，地址 {client.scheduler.address}，{len(workers)} 个 worker，{threads} 个线程"
            )


def _is_builtin(scorecard: str) -> bool:
    from zuoxi.rules.scorecard import builtin_names

    return scorecard in builtin_names()


def _check_workers(client) -> None:
    try:
        versions = client.run(worker_version)
    except Exception as error:  # noqa: BLE001 - typically ModuleNotFoundError on the workers
        raise DaskEngineError(
            f"worker 无法运行 zuoxi（{type(error).__name__}: {error}）：请在每个 worker 上安装 zuoxi {__version__}"
        ) from None
    wrong = {address: version for address, version in versions.items() if version != __version__}
    if wrong:
        raise DaskEngineError(f"worker 上的 zuoxi 与本机的（{__version__}）版本不同：{wrong}")
