"""Import speed: the sample set replicated to 20,000 conversations as JSONL, on one core.

Prints conversations/second for reading + validating + PII masking + content hashing (without the
database write; target ≥ 2,000/s) and for the full import into a fresh SQLite database.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _corpus import replicated, write_jsonl

from zuoxi.engines.local import Batch
from zuoxi.ingest import read_file
from zuoxi.model import Conversation
from zuoxi.privacy import mask_conversation
from zuoxi.store import Store, content_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        write_jsonl(replicated(args.n), path)
        size_mb = path.stat().st_size / 1e6

        started = time.process_time()
        count = 0
        for record in read_file(path):
            if isinstance(record, Conversation):
                content_key(mask_conversation(record))
                count += 1
        read_seconds = time.process_time() - started

        store = Store(f"sqlite:///{tmp}/bench.db")
        started = time.process_time()
        batch = Batch([path], store=store)
        for _ in batch.run():
            pass
        write_seconds = time.process_time() - started
        assert batch.summary.imported == args.n, batch.summary

    print(f"corpus: {count} conversations, {size_mb:.1f} MB JSONL (bundled samples replicated)")
    print(f"read + validate + mask + hash (no database): {count / read_seconds:,.0f} conversations/s  [target ≥ 2,000]")
    print(f"full import into SQLite:                     {args.n / write_seconds:,.0f} conversations/s")


if __name__ == "__main__":
    main()
