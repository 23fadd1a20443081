"""Batch throughput on this machine's cores: local engine in 1 process, local engine in one process per
core, and the Dask engine on a LocalCluster (one worker process per core), over the same conversations.

The corpus (default 100,000 conversations: the samples replicated with fresh ids) is written as JSON
Lines shards of 2,000 conversations to a temporary folder. Every run does the full analysis — masking,
models, rules, the same `analyze_conversation` — and times wall-clock seconds:
- local, 1 process: `engines.local.Batch` over all shards, in this process;
- local, P processes: a `ProcessPoolExecutor` of P processes, each running `engines.local.Batch` on
  whole shards (process start and model loading included);
- Dask: `engines.dask.DaskBatch` on a `LocalCluster` of P worker processes × 1 thread, once keeping
  nothing (as the local runs), once writing the results as Parquet parts (workers write; nothing goes
  back to the client). Planning (hashing the shards) is included, cluster start is not (printed
  apart); every worker is warmed on 50 conversations first.
Then the client's database write speed (SQLite), the ceiling of a run that stores through the client,
and what a cluster of N nodes would do from the measured per-core figure. CPU seconds (all processes
of a run) show how much of a gap between the runs is overhead and how much other load on the machine.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _corpus import replicated, write_jsonl

from zuoxi.engines.dask import DaskBatch, default_workers, local_cluster
from zuoxi.engines.local import Batch
from zuoxi.store import Store

SHARD = 2_000


def local_count(paths: list[Path], models: bool) -> int:
    return sum(1 for _ in Batch(paths, analyze=True, models=models).run())


def _warm(models: bool) -> None:
    from zuoxi.analyze.models import load_models

    if models:
        load_models()


def warm_worker(path: str, models: bool) -> None:
    from itertools import islice

    from zuoxi.ingest import read_file
    from zuoxi.pipeline import analyze_conversation

    for conversation in islice(read_file(Path(path)), 50):
        analyze_conversation(conversation, models=models)


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (pool processes)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run_local(paths: list[Path], models: bool) -> tuple[float, float, int]:
    started, cpu = time.perf_counter(), cpu_seconds()
    count = local_count(paths, models)
    return time.perf_counter() - started, cpu_seconds() - cpu, count


def run_pool(paths: list[Path], processes: int, models: bool) -> tuple[float, float, int]:
    started, cpu = time.perf_counter(), cpu_seconds()
    with ProcessPoolExecutor(processes, initializer=_warm, initargs=(models,)) as pool:
        count = sum(pool.map(local_count, [[p] for p in paths], [models] * len(paths)))
    return time.perf_counter() - started, cpu_seconds() - cpu, count


def run_dask(
    paths: list[Path], workers: int, models: bool, parquet: Path | None
) -> tuple[float, float, int, float, float]:
    """(seconds, CPU seconds of the workers and of this process, conversations, cluster start, CPU seconds
    of this process alone: scheduler, nannies, client)."""
    from distributed import Client

    started = time.perf_counter()
    cluster = local_cluster(workers)
    try:
        with Client(cluster) as client:
            startup = time.perf_counter() - started
            client.run(warm_worker, str(paths[0]), models)  # every worker: imports, models, scorecards
            before = client.run(time.process_time)
            started, cpu = time.perf_counter(), cpu_seconds()
            batch = DaskBatch(paths, client=client, models=models, collect=False, parquet=parquet)
            list(batch.run())
            seconds, here = time.perf_counter() - started, cpu_seconds() - cpu
            after = client.run(time.process_time)
            cpu = here + sum(after[w] - before[w] for w in before)
    finally:
        cluster.close()
    if batch.summary.errors:
        raise SystemExit(f"dask run had errors: {batch.summary.errors[:3]}")
    return seconds, cpu, batch.summary.analyzed, startup, here


def store_rate(conversations, models: bool, folder: Path) -> float:
    """Conversations per second the client stores (conversation + result) into SQLite, in chunks of 500."""
    from zuoxi.pipeline import analyze_conversation
    from zuoxi.privacy import mask_conversation
    from zuoxi.store import content_key

    masked = [mask_conversation(c) for c in conversations]
    items = [(c, analyze_conversation(c, mask=False, models=models)) for c in masked]
    store = Store(f"sqlite:///{folder / 'store.db'}")
    started = time.perf_counter()
    for begin in range(0, len(items), 500):
        chunk = items[begin : begin + 500]
        keys = [content_key(c) for c, _ in chunk]
        store.count_new(keys)
        store.add_conversations((c, "bench") for c, _ in chunk)
        store.save_results(zip(keys, (r for _, r in chunk)))
    seconds = time.perf_counter() - started
    store.close()
    return len(items) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100_000, help="conversations (default 100,000)")
    parser.add_argument(
        "--workers", type=int, default=default_workers(), help="processes / Dask workers (default: the cores)"
    )
    parser.add_argument("--no-models", action="store_true", help="lexicon emotion only, as analyze --no-models")
    parser.add_argument("--nodes", type=int, default=10, help="nodes in the cluster estimate")
    parser.add_argument("--cores", type=int, default=16, help="cores per node in the cluster estimate")
    args = parser.parse_args()
    models = not args.no_models
    folder = Path(tempfile.mkdtemp(prefix="zuoxi-scale-"))
    try:
        conversations = replicated(args.n)
        turns = sum(len(c.turns) for c in conversations) / len(conversations)
        paths = []
        for index, begin in enumerate(range(0, args.n, SHARD)):
            paths.append(folder / "in" / f"shard-{index:05d}.jsonl")
            paths[-1].parent.mkdir(exist_ok=True)
            write_jsonl(conversations[begin : begin + SHARD], paths[-1])
        size = sum(p.stat().st_size for p in paths)
        for_store = conversations[:5_000]
        del conversations  # 100,000 objects held here would slow this process's garbage collector, not the engines
        _warm(models)
        local_count([paths[0]], models)  # warm caches (scorecards, OpenCC, models) in this process
        print(
            f"{args.n:,} conversations ({turns:.1f} turns each, {size / 1e6:.0f} MB) in {len(paths)} JSON Lines shards; "
            f"masking on, models {'on' if models else 'off'}; {default_workers()} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}"
        )
        rows = [("local engine, 1 process", *run_local(paths, models))]
        rows.append(
            (f"local engine, {args.workers} processes (ProcessPoolExecutor)", *run_pool(paths, args.workers, models))
        )
        *dask, startup, here = run_dask(paths, args.workers, models, None)
        rows.append((f"dask, LocalCluster {args.workers} workers × 1 thread", *dask))
        *dask, _, here_parquet = run_dask(paths, args.workers, models, folder / "results")
        rows.append((f"dask, LocalCluster {args.workers} workers × 1 thread, Parquet out", *dask))
        rates = [count / seconds for _, seconds, _, count in rows]
        width = max(len(r[0]) for r in rows)
        print(
            f"{'engine':<{width}}  {'seconds':>8}  {'conv/s':>7}  {'× 1 process':>11}  {'CPU s':>7}  {'conv per CPU s':>14}"
        )
        for (name, seconds, cpu, count), rate in zip(rows, rates):
            assert count == args.n, (name, count)
            print(
                f"{name:<{width}}  {seconds:>8.1f}  {rate:>7,.0f}  {rate / rates[0]:>10.2f}×  {cpu:>7.1f}  {count / cpu:>14,.0f}"
            )
        per_core = rates[3] / args.workers
        print(
            f"dask LocalCluster start: {startup:.1f} s (not counted above); dask CPU s include this process "
            f"(scheduler, nannies, client): {here:.1f} s and {here_parquet:.1f} s"
        )
        print(
            f"scaling: {args.workers} processes give {rates[1] / rates[0]:.2f}× (local), {rates[2] / rates[0]:.2f}× (dask) and "
            f"{rates[3] / rates[0]:.2f}× (dask, Parquet out) the 1-process rate; dask with Parquet out per core: {per_core:,.0f} conversations/s"
        )
        cores = args.nodes * args.cores
        print(
            f"a cluster of {args.nodes} nodes × {args.cores} cores ≈ {cores} × {per_core:,.0f} = {cores * per_core:,.0f} conversations/s "
            f"({1_000_000 / (cores * per_core) / 60:.1f} min per million), Parquet out (workers write)"
        )
        db = store_rate(for_store, models, folder)
        print(
            f"client database write (SQLite, conversation + result, chunks of 500): {db:,.0f} conversations/s — "
            f"the ceiling of a run that stores through the client; beyond it use --parquet --no-store, or PostgreSQL"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
