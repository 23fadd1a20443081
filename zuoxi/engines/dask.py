"""The Dask batch engine: the local engine's analysis, shard by shard, on a Dask distributed cluster.

A shard is one input file, or a slice of a big one: a range of lines of a JSON Lines file, a run of
row groups of a Parquet file. A worker reads its shard, masks and analyzes its conversations in chunks
with `zuoxi.pipeline.analyze_conversations` exactly as `engines.local` does (so results are identical),
optionally writes the shard's results as one Parquet part, and hands back what it found. The client
stores the results in the database in batches as shards complete, then marks the shard done.

By default the cluster is a `LocalCluster` of worker processes (one per core, one thread each) bound
to 127.0.0.1 with the dashboard off, so nothing listens on or connects to another address. Given a
scheduler address, any existing cluster is used (Kubernetes, YARN, SSH, HPC via dask-jobqueue):
its workers need the same zuoxi installed and the input files at the same absolute paths.

Failure handling:
- bad input is reported `file:line: reason` (Parquet: `file:row`) and the rest goes on; so is a
  conversation whose analysis fails (`conversation …: analysis failed`); a shard that
  fails as a whole (its task raised three times, or killed three workers) is reported and skipped;
- a killed worker loses only the shard it was running: the scheduler runs it again elsewhere;
- finished shards are stored as they complete and recorded by content hash — in the database
  (`Store.mark_file`) and by their Parquet part's existence — so a re-run of the same command skips
  them. The hash covers the shard's bytes and what changes results (scorecard, masking, models, read
  options, the zuoxi version).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from zuoxi import __version__
from zuoxi.analyze.models import PREDICT_CHUNK
from zuoxi.engines.local import CHUNK, Analyzed, BatchSummary, in_order_chunks, store_analyzed
from zuoxi.ingest import IngestError, ReadOptions, detect_format, iter_files, read_file
from zuoxi.ingest.canonical import read_jsonl
from zuoxi.ingest.encoding import UnknownEncoding, decode_bytes
from zuoxi.ingest.parquet import ParquetUnavailable, pyarrow_modules, read_parquet, row_groups
from zuoxi.model import Conversation, Result
from zuoxi.pipeline import analyze_conversation, analyze_conversations
from zuoxi.privacy import mask_conversation
from zuoxi.store import Store, content_key, file_sha256

logger = logging.getLogger(__name__)

MIN_SHARD_BYTES = 256 << 10  # about 170 conversations: well above the per-task overhead
MAX_SHARD_BYTES = 16 << 20
CONNECT_TIMEOUT = 30  # seconds to reach a given scheduler
BLOCK = 1 << 20  # bytes read at a time while hashing and cutting files


class DaskEngineError(RuntimeError):
    """The cluster cannot be used (scheduler unreachable, workers without the same zuoxi)."""


@dataclass(frozen=True)
class Shard:
    path: str  # as given: the `source` stored, the name in messages, the audio folder (as the local engine)
    location: str  # absolute: what a worker opens
    label: str  # path, or path#lines A-B / path#rows A-B
    key: str | None  # content hash with the run's options: the "done" mark (None: unreadable, never marked)
    lines: tuple[int, int, int] | None = None  # JSON Lines slice: byte start, byte end, number of its first line
    groups: tuple[int, ...] | None = None  # Parquet slice: row groups
    first_row: int = 1


@dataclass(frozen=True)
class Job:
    """What every shard of a run shares."""

    scorecard: str | None
    cwd: str  # the client's folder: a worker in the same folder opens paths as given, like the local engine
    mask: bool = True
    models: bool = True
    options: ReadOptions = field(default_factory=ReadOptions)
    parquet: str | None = None  # folder of result parts
    send_items: bool = True  # return conversations and results to the client (database, output)


@dataclass
class ShardOutcome:
    read: int
    analyzed: int
    errors: list[IngestError]
    items: list[tuple[Conversation, Result, str]] | None  # (masked conversation, result, content key)


@dataclass
class DaskSummary(BatchSummary):
    shards: int = 0
    shards_skipped: int = 0  # done by an earlier run
    shards_failed: int = 0

    @property
    def nothing_read(self) -> bool:
        return self.read == 0 and self.shards_skipped == 0


def part_name(key: str) -> str:
    return f"part-{key[:32]}.parquet"


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def local_cluster(workers: int | None = None):
    """Worker processes on this machine, one thread each, listening on 127.0.0.1 only, no dashboard."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR,
                        # the scheduler's HTTP server (health, metrics) still runs: on a free loopback port
                        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})


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
            text, _ = decode_bytes(data)
        except (OSError, UnknownEncoding) as error:
            yield IngestError(shard.label, None, f"cannot read: {getattr(error, 'strerror', None) or error}")
            return
        for record in read_jsonl(text, shard.path):
            yield replace(record, line=record.line + first_line - 1) if isinstance(record, IngestError) and record.line else record
    elif shard.groups is not None:
        yield from read_parquet(shard.location, shard.path, shard.groups, shard.first_row)
    elif not Path(shard.location).exists():
        yield IngestError(shard.path, None, "no such file or folder")
    else:
        for record in read_file(Path(shard.location), options):
            yield replace(record, path=shard.path) if isinstance(record, IngestError) and record.path == shard.location else record


def analyze_shard(shard: Shard, job: Job) -> ShardOutcome:
    """One task: read the shard, mask and analyze each conversation, write the Parquet part."""
    from zuoxi.report.parquet import result_row, write_part

    here = os.getcwd() == job.cwd
    audio_dir = Path(shard.path).parent if here else Path(shard.location).parent
    read, analyzed, errors, items, rows = 0, 0, [], [], []
    for part in in_order_chunks(_records(shard, job.options), PREDICT_CHUNK):
        if isinstance(part, IngestError):
            errors.append(part)
            continue
        read += len(part)
        conversations = [mask_conversation(record) for record in part] if job.mask else part
        for conversation, result in zip(conversations, _analyzed(conversations, job, audio_dir, shard.label, errors)):
            if result is None:
                continue
            analyzed += 1
            key = content_key(conversation)
            if job.send_items:
                items.append((conversation, result, key))
            if job.parquet:
                # A row is a few strings: keeping rows rather than thousands of Result objects spares the
                # garbage collector (a shard of 2,000 kept Results costs it 0.6 s more, 12% of the shard).
                rows.append(result_row(key, conversation, result, shard.path, shard.label))
    if job.parquet and shard.key:
        write_part(rows, Path(job.parquet) / part_name(shard.key))
    return ShardOutcome(read=read, analyzed=analyzed, errors=errors, items=items if job.send_items else None)


def _analyzed(conversations: list[Conversation], job: Job, audio_dir: Path, label: str,
              errors: list[IngestError]) -> list[Result | None]:
    """Results of a chunk analyzed together; when that fails, of each conversation alone, so one
    conversation must not cost the others (its failure becomes an error, its result None)."""
    try:
        return analyze_conversations(conversations, job.scorecard, mask=False, models=job.models, audio_dir=audio_dir)
    except Exception as error:  # noqa: BLE001 - find the culprit below
        logger.warning("%s: analysing %d conversations together failed (%s: %s); analysing them one by one",
                       label, len(conversations), type(error).__name__, error)
    results: list[Result | None] = []
    for conversation in conversations:
        try:
            results.append(analyze_conversation(conversation, job.scorecard, mask=False, models=job.models,
                                                audio_dir=audio_dir))
        except Exception as error:  # noqa: BLE001 - one conversation must not cost the shard
            errors.append(IngestError(label, None, f"conversation {conversation.id}: analysis failed ({type(error).__name__}: {error})"))
            results.append(None)
    return results


# --- on the client: planning ---------------------------------------------------------------------
def _digest(variant: str) -> hashlib._Hash:
    digest = hashlib.sha256(variant.encode())
    digest.update(b"\0")
    return digest


def jsonl_slices(path: Path, variant: str, target: int) -> list[tuple[int, int, int, int, str]]:
    """Cut a JSON Lines file after the first line end past every `target` bytes, in one pass:
    (byte start, byte end, first line, last line, content hash) per slice."""
    slices: list[tuple[int, int, int, int, str]] = []
    start = offset = 0
    first_line, lines, last_byte = 1, 0, b"\n"
    digest = _digest(variant)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            i = 0
            while i < len(block):
                cut = block.find(b"\n", max(i, start + target - 1 - offset))
                if cut < 0:
                    digest.update(block[i:])
                    lines += block.count(b"\n", i)
                    break
                digest.update(block[i:cut + 1])
                lines += block.count(b"\n", i, cut + 1)
                slices.append((start, offset + cut + 1, first_line, first_line + lines - 1, digest.hexdigest()))
                start, first_line, lines, digest = offset + cut + 1, first_line + lines, 0, _digest(variant)
                i = cut + 1
            offset += len(block)
            last_byte = block[-1:]
    if offset > start:
        slices.append((start, offset, first_line, first_line + lines - (last_byte == b"\n"), digest.hexdigest()))
    return slices


def plan_shards(paths: Iterable[str | Path], options: ReadOptions, variant: str, target: int | None
                ) -> tuple[list[Shard], list[IngestError], int]:
    """(shards, errors, files): big JSON Lines and Parquet files are cut into slices of about `target`
    bytes (None: one shard per file); every other file is one shard."""
    shards: list[Shard] = []
    errors: list[IngestError] = []
    files = 0
    for path in iter_files(paths):
        files += 1
        if not path.exists():
            errors.append(IngestError(str(path), None, "no such file or folder"))
            continue
        given, location = str(path), str(path.resolve())
        fmt = options.format or detect_format(path)
        try:
            size = path.stat().st_size
            if target and size > target and fmt == "jsonl" and not _starts_utf16(path):
                for start, end, first, last, digest in jsonl_slices(path, variant, target):
                    shards.append(Shard(given, location, f"{given}#lines {first}-{last}", digest, lines=(start, end, first)))
                continue
            if target and size > target and fmt == "parquet":
                shards += _parquet_slices(path, given, location, variant, size, target)
                continue
            shards.append(Shard(given, location, given, file_sha256(path, variant)))
        except OSError:  # unreadable here: the worker reports why, and the shard is never marked done
            shards.append(Shard(given, location, given, None))
    return shards, errors, files


def _starts_utf16(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) in (b"\xff\xfe", b"\xfe\xff")


def _parquet_slices(path: Path, given: str, location: str, variant: str, size: int, target: int) -> list[Shard]:
    try:
        counts = row_groups(path)
    except Exception:  # noqa: BLE001 - not Parquet, or no pyarrow: one shard, and the worker says why
        return [Shard(given, location, given, file_sha256(path, variant))]
    file_digest = file_sha256(path, variant)
    rows_per_shard = max(1, int(target / (size / max(1, sum(counts)))))
    shards, group, first = [], [], 1
    for index, rows in enumerate(counts):
        group.append(index)
        if sum(counts[i] for i in group) >= rows_per_shard or index == len(counts) - 1:
            last = first + sum(counts[i] for i in group) - 1
            key = hashlib.sha256(f"{file_digest}\0groups {group[0]}-{group[-1]}".encode()).hexdigest()
            shards.append(Shard(given, location, f"{given}#rows {first}-{last}", key, groups=tuple(group), first_row=first))
            group, first = [], last + 1
    return shards


def options_variant(scorecard: str | None, mask: bool, models: bool, options: ReadOptions) -> str:
    """What, besides the input bytes, decides a shard's results: part of its done mark."""
    from zuoxi.rules.scorecard import builtin_names, load_spec

    names = [scorecard] if scorecard else builtin_names()  # auto: any built-in may be chosen
    specs = hashlib.sha256("\n".join(load_spec(n)[0].model_dump_json(warnings=False) for n in names).encode()).hexdigest()
    return "\0".join([f"zuoxi analyze {__version__}", f"scorecard {scorecard or 'auto'} {specs}", f"mask {mask}",
                      f"models {models}", f"format {options.format}", f"columns {sorted(options.columns.items())}",
                      f"agent {options.agent_speaker}"])


# --- on the client: the run ----------------------------------------------------------------------
@dataclass
class DaskBatch:
    """One analysis run over some files on a Dask cluster. Iterate `run()`; read `summary` afterwards.

    `collect` makes `run()` yield every (conversation, result) in input order, as the local engine
    does; without it and without a store, results stay on the workers (in the Parquet parts)."""

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
    shard_bytes: int | None = None  # None: the inputs spread over 4 shards per worker thread, within 256 KiB–16 MiB
    retries: int = 2  # a shard whose task raises is tried this many more times
    on_error: Callable[[IngestError], None] | None = None
    on_progress: Callable[[int, int, int], None] | None = None  # (shards done, shards, conversations read)
    on_cluster: Callable[[str], None] | None = None  # one line about the cluster used
    summary: DaskSummary = field(default_factory=DaskSummary)

    def run(self) -> Iterator[Analyzed]:
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
        if self.client is None and not self.scheduler:  # a LocalCluster: plan first, start it only when there is work
            threads = self.workers or default_workers()
            todo, job = self._plan(options, scorecard, threads)
            if todo:
                with self._cluster() as client:
                    yield from self._execute(client, todo, job, window=max(4, 3 * threads))
            return
        with self._cluster() as client:
            threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()) or 1
            todo, job = self._plan(options, scorecard, threads)
            yield from self._execute(client, todo, job, window=max(4, 3 * threads))

    def _plan(self, options: ReadOptions, scorecard: str | None, threads: int) -> tuple[list[Shard], Job]:
        """The shards still to do (errors for missing files reported), and the job they share."""
        paths = list(iter_files(self.paths))
        target = self.shard_bytes or _auto_target(paths, threads)
        shards, errors, files = plan_shards(paths, options, options_variant(self.scorecard, self.mask, self.models, options), target)
        self.summary.files, self.summary.shards = files, len(shards)
        for error in errors:
            self._error(error)
        todo = [s for s in shards if not self._done(s)]
        self.summary.shards_skipped = len(shards) - len(todo)
        job = Job(scorecard=scorecard, cwd=os.getcwd(), mask=self.mask, models=self.models, options=options,
                  parquet=str(Path(self.parquet).resolve()) if self.parquet else None,
                  send_items=self.collect or self.store is not None)
        return todo, job

    def _execute(self, client, todo: list[Shard], job: Job, window: int) -> Iterator[Analyzed]:
        from distributed import as_completed

        summary = self.summary
        waiting = list(reversed(range(len(todo))))
        in_flight: dict = {}
        finished: dict[int, ShardOutcome | None] = {}  # completed, not yet yielded (input order)
        next_out = done = 0
        completed = as_completed()

        def submit() -> None:
            while waiting and len(in_flight) + len(finished) < window:
                index = waiting.pop()
                future = client.submit(analyze_shard, todo[index], job, pure=False, retries=self.retries)
                in_flight[future] = index
                completed.add(future)

        try:
            submit()
            for future in completed:
                index = in_flight.pop(future)
                shard = todo[index]
                try:
                    outcome = future.result()
                except Exception as error:  # noqa: BLE001 - KilledWorker, or the task raised on every try
                    summary.shards_failed += 1
                    self._error(IngestError(shard.label, None, f"shard failed ({type(error).__name__}: {error}); run again to retry it"))
                    outcome = None
                future.release()
                if outcome is not None:
                    self._keep(shard, outcome)
                finished[index] = outcome
                done += 1
                if self.on_progress:
                    self.on_progress(done, len(todo), summary.read)
                while next_out in finished:
                    outcome = finished.pop(next_out)
                    source = todo[next_out].path
                    next_out += 1
                    if self.collect and outcome is not None and outcome.items is not None:
                        for conversation, result, key in outcome.items:
                            yield Analyzed(conversation, result, key if self.store is not None else None, source)
                submit()
        finally:
            if in_flight:  # Ctrl-C or the consumer stopped: finished shards are stored, the rest runs again next time
                client.cancel(list(in_flight))

    def _keep(self, shard: Shard, outcome: ShardOutcome) -> None:
        """Store a finished shard's conversations and results (in chunks), then mark it done."""
        summary = self.summary
        summary.read += outcome.read
        summary.analyzed += outcome.analyzed
        for error in outcome.errors:
            self._error(error)
        if self.store is None:
            return
        items = [Analyzed(conversation, result, key, shard.path) for conversation, result, key in outcome.items or []]
        for begin in range(0, len(items), CHUNK):
            store_analyzed(self.store, items[begin:begin + CHUNK], summary)
        if shard.key:
            self.store.mark_file(shard.key, shard.label, outcome.read, len(outcome.errors))

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
                raise DaskEngineError(f"cannot reach the Dask scheduler at {self.scheduler} ({type(error).__name__}: {error})") from None
            try:
                _check_workers(client)
                self._tell(client, f"scheduler {self.scheduler}")
                yield client
            finally:
                client.close()
            return
        cluster = local_cluster(self.workers)
        try:
            with Client(cluster) as client:
                self._tell(client, "LocalCluster")
                yield client
        finally:
            cluster.close()

    def _tell(self, client, what: str) -> None:
        if self.on_cluster:
            workers = client.scheduler_info()["workers"]
            threads = sum(w.get("nthreads", 1) for w in workers.values())
            self.on_cluster(f"dask: {what} at {client.scheduler.address}, {len(workers)} workers, {threads} threads")


def _is_builtin(scorecard: str) -> bool:
    from zuoxi.rules.scorecard import builtin_names

    return scorecard in builtin_names()


def _auto_target(paths: list[Path], threads: int) -> int:
    total = sum(p.stat().st_size for p in paths if p.is_file())
    return int(min(MAX_SHARD_BYTES, max(MIN_SHARD_BYTES, total / (4 * threads))))


def _check_workers(client) -> None:
    try:
        versions = client.run(worker_version)
    except Exception as error:  # noqa: BLE001 - typically ModuleNotFoundError on the workers
        raise DaskEngineError(f"the workers cannot run zuoxi ({type(error).__name__}: {error}); "
                              f"install zuoxi {__version__} on every worker") from None
    wrong = {address: version for address, version in versions.items() if version != __version__}
    if wrong:
        raise DaskEngineError(f"workers run another zuoxi than this client ({__version__}): {wrong}")
