"""Live assist latency on loopback: `zuoxi serve` (uvicorn, one process, models on) and 100 concurrent
WebSocket sessions, each playing a 200-turn conversation (the samples' turns, cycled) one turn at a
time; a session sends its next turn a think time after the answer to the last one. Prints p50/p95/p99
latency per turn (send → update received), the turn rate and how the latency moves from the first
to the last 50 turns of the conversations (it must not grow with length). Exits non-zero on errors.

    .venv/bin/python bench/live.py [--sessions 100] [--turns 200] [--think 1.0] [--no-models]

The think time stands for the other side reading and typing or speaking: a real chat or call
takes a turn every 3–10 s, so 1 s (±50 %) makes 100 sessions here the load of several hundred.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets

from zuoxi.ingest import read_file
from zuoxi.model import Conversation
from zuoxi.store import Store
from zuoxi.store.users import add_user

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the server harness the tests use
from live_server import running_app

USER, PASSWORD = "bench", "bench-password"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def sample_turns() -> list[dict]:
    turns = []
    for name in ("complaint_desk.jsonl", "ecommerce_chats.jsonl"):
        for conversation in read_file(SAMPLES / name):
            if isinstance(conversation, Conversation):
                turns += [{"role": t.role, "text": t.text} for t in conversation.turns]
    return turns


def sign_in(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/login",
        data=json.dumps({"username": USER, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return response.headers["set-cookie"].split(";", 1)[0]


async def session(
    base: str,
    cookie: str,
    number: int,
    turns: list[dict],
    think: float,
    latencies: list[list[float]],
    errors: list[str],
) -> None:
    url = base.replace("http://", "ws://") + f"/api/live/bench-{number}"
    rng = random.Random(number)
    await asyncio.sleep(rng.uniform(0, think))  # sessions start spread out, as calls do
    async with websockets.connect(url, additional_headers={"Cookie": cookie}, max_size=2**22) as ws:
        json.loads(await ws.recv())  # state
        for seq, turn in enumerate(turns):
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "turn", "seq": seq, **turn}))
            answer = json.loads(await ws.recv())
            latencies[seq].append((time.perf_counter() - started) * 1000)
            if answer.get("type") != "update":
                errors.append(str(answer))
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
        await ws.send(json.dumps({"type": "end"}))
        await ws.recv()


async def run(base: str, sessions: int, n_turns: int, think: float) -> tuple[list[list[float]], list[str], float]:
    cookie = sign_in(base)
    pool = sample_turns()
    latencies: list[list[float]] = [[] for _ in range(n_turns)]
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(
            session(base, cookie, i, [pool[(i * 7 + k) % len(pool)] for k in range(n_turns)], think, latencies, errors)
            for i in range(sessions)
        )
    )
    return latencies, errors, time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--think", type=float, default=1.0, help="seconds between an answer and the next turn (±50%%)")
    parser.add_argument("--no-models", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "live.db")
        store = Store(db)
        add_user(store.engine, USER, PASSWORD, "agent", None, "07")
        store.close()
        with running_app(db, *(["--no-models"] if args.no_models else [])) as base:
            latencies, errors, elapsed = asyncio.run(run(base, args.sessions, args.turns, args.think))
    every = [v for per_turn in latencies for v in per_turn]
    window = max(1, min(50, args.turns // 2))  # the first and the last turns of a session, never overlapping
    head = [v for per_turn in latencies[:window] for v in per_turn]
    tail = [v for per_turn in latencies[-window:] for v in per_turn]
    print(
        f"live assist, loopback: {args.sessions} sessions × {args.turns} turns, think {args.think} s, "
        f"models {'off' if args.no_models else 'on'}"
    )
    print(f"  turns answered: {len(every)} in {elapsed:.0f} s ({len(every) / elapsed:.0f} turns/s)")
    print(
        f"  latency per turn: p50 {percentile(every, 50):.1f} ms · p95 {percentile(every, 95):.1f} ms · "
        f"p99 {percentile(every, 99):.1f} ms · max {max(every):.1f} ms  (target p99 < 50 ms)"
    )
    print(
        f"  turns 1–{window}: p50 {statistics.median(head):.1f} ms, p99 {percentile(head, 99):.1f} ms · "
        f"turns {args.turns - window + 1}–{args.turns}: p50 {statistics.median(tail):.1f} ms, "
        f"p99 {percentile(tail, 99):.1f} ms"
    )
    print(f"  errors: {len(errors)}")
    if errors:
        print("\n".join(errors[:5]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
