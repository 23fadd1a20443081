"""Web app load test on loopback: `zuoxi serve` (uvicorn, one process) over a SQLite database of the
samples replicated to a few thousand analyzed conversations; 50 signed-in clients (each its own
session) request the conversation list and detail endpoints for 30 s. Prints requests/s and p50/p95
latency per endpoint and the error count, which must be 0 (the script exits non-zero otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _corpus import replicated, write_jsonl

from zuoxi.engines.local import Batch
from zuoxi.store import Store
from zuoxi.store.users import add_user
from zuoxi.web.live import running_app

USER, PASSWORD = "bench", "bench-password"
PER_PAGE = 50


def build_database(path: Path, n: int) -> str:
    corpus = path.parent / "corpus.jsonl"
    write_jsonl(replicated(n), corpus)
    store = Store(str(path))
    batch = Batch([corpus], store=store, analyze=True)
    for _ in batch.run():
        pass
    add_user(store.engine, USER, PASSWORD, "inspector")
    store.close()
    return str(path)


async def sign_in(base: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=30)
    response = await client.post("/api/login", json={"username": USER, "password": PASSWORD})
    response.raise_for_status()
    return client


async def all_keys(client: httpx.AsyncClient) -> list[str]:
    keys, page = [], 1
    while True:
        body = (await client.get("/api/conversations", params={"per_page": 500, "page": page})).raise_for_status().json()
        keys += [item["key"] for item in body["items"]]
        if len(body["items"]) < 500:
            return keys
        page += 1


async def load(base: str, clients: int, seconds: float) -> tuple[dict[str, list[float]], list[str], float, int]:
    sessions = [await sign_in(base) for _ in range(clients)]
    keys = await all_keys(sessions[0])
    pages = -(-len(keys) // PER_PAGE)
    latencies: dict[str, list[float]] = {"list": [], "detail": []}
    errors: list[str] = []

    async def client_loop(client: httpx.AsyncClient, seed: int, stop: float) -> None:
        pick = random.Random(seed)
        while time.perf_counter() < stop:
            if pick.random() < 0.5:
                name, url = "list", f"/api/conversations?per_page={PER_PAGE}&page={pick.randint(1, pages)}"
            else:
                name, url = "detail", f"/api/conversations/{pick.choice(keys)}"
            started = time.perf_counter()
            try:
                response = await client.get(url)
                ok = response.status_code == 200 and response.json()
            except httpx.HTTPError as error:
                ok, response = False, error
            latencies[name].append(time.perf_counter() - started)
            if not ok:
                errors.append(f"{url}: {getattr(response, 'status_code', response)}")

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(c, i, started + seconds) for i, c in enumerate(sessions)))
    elapsed = time.perf_counter() - started
    for client in sessions:
        await client.aclose()
    return latencies, errors, elapsed, len(keys)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=5_000, help="conversations in the database")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = build_database(Path(tmp) / "web.db", args.n)
        with running_app(db, "--no-models") as base:
            latencies, errors, elapsed, count = asyncio.run(load(base, args.clients, args.seconds))
    total = sum(len(v) for v in latencies.values())
    print(f"{count} conversations in SQLite, {args.clients} concurrent signed-in clients, {elapsed:.0f} s, "
          f"one uvicorn process on loopback")
    for name, endpoint in (("list", f"GET /api/conversations?per_page={PER_PAGE}&page=…"),
                           ("detail", "GET /api/conversations/{key}")):
        values = latencies[name]
        print(f"{endpoint:44} {len(values) / elapsed:7,.0f} requests/s   p50 {percentile(values, 50) * 1000:6.0f} ms"
              f"   p95 {percentile(values, 95) * 1000:6.0f} ms")
    print(f"all: {total / elapsed:,.0f} requests/s, {total:,} requests, errors: {len(errors)}")
    for error in errors[:10]:
        print("  ", error)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
