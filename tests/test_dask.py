"""The Dask batch engine (docs/scale.md): same results as the local engine, shards of big files with
true line numbers, loopback only, bad input, resume, a worker killed mid-run; the Parquet reader."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

import cloudpickle
import psutil
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.analyze.models import PREDICT_CHUNK
from zuoxi.cli import app
from zuoxi.engines import dask as dask_engine
from zuoxi.engines.dask import DaskBatch, analyze_shard, local_cluster, options_variant, part_name, plan_shards
from zuoxi.engines.local import Batch
from zuoxi.ingest import ReadOptions, read_file
from zuoxi.ingest.parquet import write_conversations
from zuoxi.model import Conversation, Result
from zuoxi.report.parquet import read_part, read_results
from zuoxi.store import Store
from zuoxi.store.tables import ConversationRow, ImportedFile, ResultRow

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
distributed = pytest.importorskip("distributed")

# Worker plugins and functions defined here travel by value: the workers cannot import this module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SMALL_SHARDS = 4  # lines: cuts the sample JSON Lines files into several shards
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


@pytest.fixture(scope="module")
def client():
    cluster = local_cluster(2)
    with distributed.Client(cluster) as opened:
        yield opened
    cluster.close()


@pytest.fixture(scope="module")
def local_results(samples) -> list[dict]:
    return [item.result.model_dump() for item in Batch([samples], analyze=True).run()]


def dumps(items) -> list[dict]:
    return [item.result.model_dump() for item in items]


def cli_json(result: Result) -> str:
    """A result as `analyze --format json` writes it."""
    return result.model_dump_json(exclude={"sections", "audio"} if result.audio is None else {"sections"})


def as_json(items) -> list[str]:
    return [cli_json(item.result) for item in items]


def local_json(local_results: list[dict]) -> list[str]:
    return [cli_json(Result.model_validate(r)) for r in local_results]


def part_json(folder: Path) -> list[str]:
    """Every result in a parts folder as a reader of the folder sees it (pyarrow skips _superseded/), sorted."""
    return sorted(
        cli_json(Result.model_validate_json(text)) for text in pq.read_table(str(folder)).column("result").to_pylist()
    )


def stored(url: str) -> tuple[set, set]:
    """(conversations, results) of a database, comparable across runs."""
    store = Store(url)
    with Session(store.engine) as session:
        conversations = {
            (r.key, r.source, json.dumps(r.data, sort_keys=True)) for r in session.scalars(select(ConversationRow))
        }
        results = {
            (r.conversation_key, r.scorecard, json.dumps(r.data, sort_keys=True))
            for r in session.scalars(select(ResultRow))
        }
    store.close()
    return conversations, results


def sample_conversations(samples: Path) -> list[Conversation]:
    return [r for r in read_file(samples / "ecommerce_chats.jsonl") if isinstance(r, Conversation)]


# --- Parquet shards ------------------------------------------------------------------------------
def test_parquet_shards_read_like_json_lines(tmp_path, samples):
    conversations = sample_conversations(samples) + [
        r for r in read_file(samples / "callbacks.json") if isinstance(r, Conversation)
    ]
    write_conversations(conversations, tmp_path / "shard.parquet", row_group_size=4)
    back = list(read_file(tmp_path / "shard.parquet"))
    assert [c.model_dump() for c in back] == [c.model_dump() for c in conversations]

    # turns and meta as JSON text also work; a bad row is reported by its row number, the rest read
    rows = [
        {
            "id": "p1",
            "turns": json.dumps([{"role": "customer", "text": "在吗"}], ensure_ascii=False),
            "meta": '{"scorecard": "ecommerce"}',
        },
        {"id": "p2", "turns": None},
        {"id": "p3", "turns": "[{not json"},
        {"id": "p4", "channel": "call", "turns": '[{"role": "agent", "text": "您好", "start": 0, "end": 1}]'},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "text.parquet")
    records = list(read_file(tmp_path / "text.parquet"))
    assert [r.id for r in records if isinstance(r, Conversation)] == ["p1", "p4"]
    assert records[0].meta == {"scorecard": "ecommerce"} and records[3].turns[0].end == 1
    errors = [str(r) for r in records if not isinstance(r, Conversation)]
    assert errors[0].startswith(f"{tmp_path / 'text.parquet'}:2: turns：") and ":3: turns：JSON 格式错误" in errors[1]

    (tmp_path / "junk.parquet").write_text("not parquet at all")
    (error,) = read_file(tmp_path / "junk.parquet")
    assert "不是能读的 Parquet 文件" in str(error)


def test_parquet_without_pyarrow_is_one_clear_error(tmp_path, samples, monkeypatch):
    write_conversations(sample_conversations(samples)[:2], tmp_path / "a.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (error,) = read_file(tmp_path / "a.parquet")
    assert "pip install 'zuoxi[parquet]'" in str(error)


def test_big_files_are_cut_into_shards_that_keep_true_line_and_row_numbers(tmp_path, samples):
    lines = (samples / "ecommerce_chats.jsonl").read_text(encoding="utf-8").splitlines()
    lines.insert(9, '{"id": "broken", "turns": [')  # line 10
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_conversations(sample_conversations(samples), tmp_path / "big.parquet", row_group_size=2)
    table = pq.read_table(tmp_path / "big.parquet").to_pylist()
    table[12]["turns"] = []  # row 13: no turns
    pq.write_table(
        pa.Table.from_pylist(table, schema=pq.read_schema(tmp_path / "big.parquet")),
        tmp_path / "big.parquet",
        row_group_size=2,
    )

    options = ReadOptions()
    shards, errors, files = plan_shards([tmp_path], options, options_variant(None, True, False, options), 4)
    assert files == 2 and not errors
    by_file = {name: [s for s in shards if s.path.endswith(name)] for name in ("big.jsonl", "big.parquet")}
    assert len(by_file["big.jsonl"]) > 3 and len(by_file["big.parquet"]) > 1
    for name, unit, last in (
        ("big.jsonl", "lines", len(lines)),
        ("big.parquet", "rows", 15),
    ):  # A-B, B+1-C, … cover the file
        ranges = [tuple(map(int, s.label.rpartition(f"#{unit} ")[2].split("-"))) for s in by_file[name]]
        assert (
            ranges[0][0] == 1
            and ranges[-1][1] == last
            and all(b + 1 == c for (_, b), (c, _) in itertools.pairwise(ranges))
        )
    assert len({s.key for s in shards}) == len(shards)

    job = dask_engine.Job(scorecard=None, models=False)
    outcomes = [analyze_shard(shard, job) for shard in shards]
    assert sum(o.read for o in outcomes) == 15 + 14
    found = [str(e) for o in outcomes for e in o.errors]
    assert found == [
        f"{tmp_path / 'big.jsonl'}:10: JSON 格式错误：这里缺少值，或值的写法不对（第 28 列）",
        f"{tmp_path / 'big.parquet'}:13: turns：不能为空",
    ]
    # the shards hold the files' conversations, each once, in order
    expected = [c.id for c in sample_conversations(samples)]
    for name, wanted in (("big.jsonl", expected), ("big.parquet", expected[:12] + expected[13:])):
        assert [
            c.id for shard, o in zip(shards, outcomes) if shard.path.endswith(name) for c, _, _ in o.items
        ] == wanted


def test_a_bad_byte_costs_its_line_not_the_shard(tmp_path, samples):
    """A UTF-8 file with one line cut mid-character, and one whose text holds U+2028 and U+0085 (raw in valid
    JSON): the shard reports that one line and reads every other, as the local engine does."""
    lines = (samples / "ecommerce_chats.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[3])
    record["turns"][0]["text"] += "\u2028第二行\x85"
    data = [line.encode() for line in lines]
    data[3] = json.dumps(record, ensure_ascii=False).encode()
    data[6] = data[6][:-3] + "订".encode()[:2] + b'"}]}'  # a character cut in two: line 7
    (tmp_path / "mixed.jsonl").write_bytes(b"\n".join(data) + b"\n")
    options = ReadOptions()
    shards, _, _ = plan_shards([tmp_path], options, options_variant(None, True, False, options), 4)
    outcomes = [analyze_shard(shard, dask_engine.Job(scorecard=None, models=False)) for shard in shards]
    assert len(shards) > 1 and sum(o.read for o in outcomes) == len(lines) - 1
    assert [f"{e.path}:{e.line}" for o in outcomes for e in o.errors] == [f"{tmp_path / 'mixed.jsonl'}:7"]
    local = [r for r in read_file(tmp_path / "mixed.jsonl", options)]
    assert [str(e) for o in outcomes for e in o.errors] == [str(r) for r in local if not isinstance(r, Conversation)]
    texts = [c.turns[0].text for o in outcomes for c, _, _ in o.items]
    assert record["turns"][0]["text"].strip() in texts  # U+0085 is white space at the end of a text


def test_a_conversation_whose_analysis_fails_costs_only_itself(tmp_path, samples, monkeypatch, caplog):
    import zuoxi.pipeline

    base = sample_conversations(samples)
    rows = [base[i % len(base)].model_copy(update={"id": f"c{i}"}) for i in range(PREDICT_CHUNK + 10)]
    path = tmp_path / "many.jsonl"
    path.write_text(
        "".join(json.dumps(c.model_dump(mode="json", exclude_none=True), ensure_ascii=False) + "\n" for c in rows),
        encoding="utf-8",
    )
    score = zuoxi.pipeline._score

    def failing(conversation, *args):
        if conversation.id == "c5":
            raise ValueError("broken on purpose")
        return score(conversation, *args)

    monkeypatch.setattr(zuoxi.pipeline, "_score", failing)
    options = ReadOptions()
    (shard,), _, _ = plan_shards([path], options, options_variant(None, True, False, options), 10**9)
    with caplog.at_level("WARNING", logger="zuoxi.engines.dask"):
        outcome = analyze_shard(shard, dask_engine.Job(scorecard=None))
    assert [str(e) for e in outcome.errors] == [f"{path}: 会话 c5：分析失败（ValueError: broken on purpose）"]
    assert [r.getMessage() for r in caplog.records] == [  # the first chunk failed, then went one by one
        f"{path}: {PREDICT_CHUNK} 个会话一起分析失败（ValueError: broken on purpose），改为逐个分析"
    ]
    assert outcome.read == len(rows) and outcome.analyzed == len(rows) - 1
    assert [c.id for c, _, _ in outcome.items] == [c.id for c in rows if c.id != "c5"]


# --- the engine on a cluster ---------------------------------------------------------------------
def test_dask_engine_results_equal_the_local_engine(client, samples, tmp_path, local_results):
    local_db, dask_db = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'dask.db'}"
    list(Batch([samples], store=Store(local_db), analyze=True).run())
    batch = DaskBatch(
        [samples], store=Store(dask_db), parquet=tmp_path / "parts", client=client, shard_records=SMALL_SHARDS
    )
    assert dumps(batch.run()) == local_results  # same results, same order
    summary = batch.summary
    assert summary.files == 12 and summary.shards > summary.files and summary.read == summary.analyzed == 50
    assert not summary.errors and summary.imported == 50
    assert stored(dask_db) == stored(local_db)
    parts = sorted((tmp_path / "parts").glob("part-*.parquet"))
    assert len(parts) == summary.shards and not list((tmp_path / "parts").glob(".*"))
    assert sorted(r.model_dump_json() for r in read_results(tmp_path / "parts")) == sorted(
        Result.model_validate(r).model_dump_json() for r in local_results
    )


def test_cli_output_is_the_local_engines_whatever_the_workers_folder_and_on_every_rerun(client, samples, tmp_path):
    """Workers running in another folder, given a relative input path, print what the local engine
    prints (recordings named from the input root); a re-run that skips everything writes every result
    to --out again, read back from the database, or from the parts."""
    runner = CliRunner()
    given = os.path.relpath(samples)  # relative to this process's folder, not the workers'
    local = runner.invoke(app, ["analyze", given, "--format", "json", "--no-store"])
    assert local.exit_code == 0 and len(local.stdout.splitlines()) == 50 and '"file":"audio/cb-001.ogg"' in local.stdout
    folders = client.run(os.getcwd)
    client.run(os.chdir, str(tmp_path))
    try:

        def dask(out: str, *args: str):
            outcome = runner.invoke(
                app,
                [
                    "analyze",
                    given,
                    "--format",
                    "json",
                    "--out",
                    str(tmp_path / out),
                    "--engine",
                    "dask",
                    "--scheduler",
                    client.scheduler.address,
                    *args,
                ],
            )
            assert outcome.exit_code == 0, (outcome.stderr, outcome.exception)
            return outcome.stderr, (tmp_path / out).read_text(encoding="utf-8")

        db, parts = ["--db", str(tmp_path / "d.db")], ["--parquet", str(tmp_path / "parts")]
        stderr, written = dask("first.jsonl", *db, *parts)
        assert (
            written == local.stdout and f"dask：调度器 {client.scheduler.address}，" in stderr and "分片 12" in stderr
        )
        assert set(client.run(os.getcwd).values()) == {str(tmp_path)}
        for out, args, where in (
            ("from-db.jsonl", db, "数据库"),
            ("from-parts.jsonl", ["--no-store", *parts], str(tmp_path / "parts")),
        ):
            stderr, written = dask(out, *args)
            assert written == local.stdout, where
            assert f"12 个分片此前已完成（结果在{where}，从中读回 50 个）" in stderr
            assert "dask：调度器" not in stderr  # nothing to compute: no cluster used
    finally:
        for address, folder in folders.items():
            client.run(os.chdir, folder, workers=[address])


def test_the_command_runs_the_dask_engine_in_a_process_with_no_client_open(samples, tmp_path):
    """`as_completed` was made before any client existed, which distributed 2026.8 refuses ("No clients found"):
    `zuoxi analyze --engine dask` failed on any input. The tests above open a client for the module, which hid it:
    this one runs the command in a process of its own."""
    import subprocess

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(samples / "ecommerce_chats.jsonl", folder)
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "zuoxi.cli",
            "analyze",
            str(folder),
            "--engine",
            "dask",
            "--workers",
            "1",
            "--no-models",
            "--no-store",
            "--format",
            "json",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert len([line for line in ran.stdout.splitlines() if line.startswith("{")]) == 15


def test_cli_refuses_dask_options_without_the_dask_engine(samples, tmp_path, monkeypatch):
    runner = CliRunner()
    for args in (
        ["--parquet", str(tmp_path)],
        ["--workers", "2"],
        ["--engine", "spark"],
        ["--engine", "dask", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"],
    ):
        outcome = runner.invoke(app, ["analyze", str(samples), "--no-store", *args])
        assert outcome.exit_code == 2, args
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", 1)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = runner.invoke(
        app, ["analyze", str(samples), "--no-store", "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"]
    )
    assert outcome.exit_code == 2 and f"无法连接 Dask 调度器 tcp://127.0.0.1:{port}（" in outcome.stderr


def _guard_connections():
    """Make every non-loopback connect in this process fail, and remember it."""
    import socket as sockets

    if getattr(sockets.socket, "_zuoxi_guard", False):
        return
    original_connect, original_connect_ex = sockets.socket.connect, sockets.socket.connect_ex
    sockets._zuoxi_refused = []

    def check(sock, address):
        if sock.family in (sockets.AF_INET, sockets.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            sockets._zuoxi_refused.append(address)
            raise OSError(f"test: non-loopback connection to {address} refused")

    def connect(sock, address):
        check(sock, address)
        return original_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return original_connect_ex(sock, address)

    sockets.socket.connect, sockets.socket.connect_ex, sockets.socket._zuoxi_guard = connect, connect_ex, True


def _refused():
    import socket as sockets

    return list(getattr(sockets, "_zuoxi_refused", []))


def test_the_local_cluster_listens_and_connects_on_loopback_only(client, samples, monkeypatch, local_results):
    info = client.scheduler_info()
    addresses = [client.scheduler.address] + list(info["workers"]) + [w["nanny"] for w in info["workers"].values()]
    assert len(addresses) == 5 and all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
    assert all(w["host"] == "127.0.0.1" for w in info["workers"].values())
    # every socket of the worker processes, and those of the scheduler (its TCP and HTTP ports) and the
    # nannies, which run in this process beside whatever other tests left open, are on loopback
    workers = [c for pid in client.run(os.getpid).values() for c in psutil.Process(pid).net_connections(kind="inet")]
    ports = {int(a.rsplit(":", 1)[1]) for a in addresses} | set(info.get("services", {}).values())
    here = [
        c
        for c in psutil.Process().net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port in ports
    ]
    assert len(here) == 1 + 2 + len(info.get("services", {})) and any(c.status == psutil.CONN_LISTEN for c in workers)
    assert all(c.laddr.ip in LOOPBACK for c in workers + here)
    assert all(c.raddr.ip in LOOPBACK for c in workers if c.raddr)

    client.run(_guard_connections)  # in the workers
    original_connect = socket.socket.connect
    attempts = []

    def connect(sock, address):  # and here, in the client
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address[0])
        return original_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    assert dumps(DaskBatch([samples], client=client).run()) == local_results
    assert set(attempts) <= {"127.0.0.1"}
    assert client.run(_refused) == {address: [] for address in info["workers"]}


def test_bad_input_is_reported_the_rest_finishes_and_a_rerun_skips_done_shards(client, samples, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good.jsonl").write_bytes((samples / "ecommerce_chats.jsonl").read_bytes())
    (tmp_path / "in" / "broken.jsonl").write_text('{"id": 1\nnot json\n', encoding="utf-8")
    (tmp_path / "in" / "junk.parquet").write_text("PAR1 but not really", encoding="utf-8")
    paths = [tmp_path / "in", tmp_path / "missing.jsonl"]
    url = f"sqlite:///{tmp_path / 'z.db'}"

    first = DaskBatch(paths, store=Store(url), parquet=tmp_path / "parts", client=client, collect=False)
    assert list(first.run()) == []  # not collected: results went to the database and the parts
    errors = [str(e) for e in first.summary.errors]
    assert f"{tmp_path / 'missing.jsonl'}: 没有这个文件或文件夹" in errors
    assert f"{tmp_path / 'in' / 'broken.jsonl'}:1: JSON 格式错误：缺少逗号（第 9 列）" in errors
    assert f"{tmp_path / 'in' / 'broken.jsonl'}:2: JSON 格式错误：这里缺少值，或值的写法不对（第 1 列）" in errors
    assert any(e.startswith(f"{tmp_path / 'in' / 'junk.parquet'}: 不是能读的 Parquet 文件") for e in errors)
    assert first.summary.read == 15 and first.summary.shards == 3 and first.summary.shards_failed == 0
    conversations, results = stored(url)
    assert len(conversations) == len(results) == 15 and len(list((tmp_path / "parts").glob("part-*"))) == 3

    rerun = DaskBatch(paths, store=Store(url), parquet=tmp_path / "parts", client=client)
    assert len(list(rerun.run())) == 15 and rerun.summary.read_back == 15  # handed on again, from the parts
    assert rerun.summary.shards_skipped == 1 and rerun.summary.read == 0 and rerun.summary.parts_superseded == 0
    assert sorted(str(e) for e in rerun.summary.errors) == sorted(errors)  # shards that gave errors: done again
    assert stored(url) == (conversations, results)

    good_part = (
        tmp_path
        / "parts"
        / part_name(
            plan_shards(
                [tmp_path / "in" / "good.jsonl"], ReadOptions(), options_variant(None, True, True, ReadOptions())
            )[0][0].key
        )
    )
    good_part.unlink()
    partial = DaskBatch(paths, store=Store(url), parquet=tmp_path / "parts", client=client)
    assert len(list(partial.run())) == 15 and partial.summary.shards_skipped == 0  # its part was lost: redone
    assert partial.summary.read == 15 and partial.summary.read_back == 0

    good_part.write_bytes(b"PAR1 damaged after the run")
    damaged = DaskBatch(paths, store=Store(url), parquet=tmp_path / "parts", client=client)
    assert len(list(damaged.run())) == 15 and damaged.summary.shards_skipped == 1  # planned as done, but unreadable:
    assert damaged.summary.read == 15 and damaged.summary.read_back == 0 and len(read_part(good_part)) == 15  # redone
    assert partial.summary.duplicates == 15 and stored(url) == (conversations, results)

    again = DaskBatch(paths, store=Store(url), client=client, resume=False)
    assert len(list(again.run())) == 15 and again.summary.shards_skipped == 0 and again.summary.imported == 0


def test_a_file_named_by_a_phone_is_stored_masked(client, samples, tmp_path):
    """The source and the done mark of a shard are stored with the file's name masked, as the local engine stores
    them (exports are often named by a customer's number)."""
    path = tmp_path / "13912345678_calls.jsonl"
    path.write_bytes((samples / "ecommerce_chats.jsonl").read_bytes())
    url = f"sqlite:///{tmp_path / 'z.db'}"
    run = DaskBatch([path], store=Store(url), client=client, collect=False, shard_records=5)
    assert list(run.run()) == [] and run.summary.read == 15 and run.summary.shards == 3
    with Session(Store(url).engine) as session:
        sources = set(session.scalars(select(ConversationRow.source)))
        marks = set(session.scalars(select(ImportedFile.path)))
    assert sources == {str(tmp_path / "*******5678_calls.jsonl")}
    assert marks == {f"{tmp_path / '*******5678_calls.jsonl'}#lines {a}-{b}" for a, b in ((1, 5), (6, 10), (11, 15))}


def test_an_interrupted_run_keeps_finished_shards_and_the_next_run_does_the_rest(client, samples, tmp_path):
    url, local_url = f"sqlite:///{tmp_path / 'z.db'}", f"sqlite:///{tmp_path / 'local.db'}"
    local_json = as_json(Batch([samples], store=Store(local_url), analyze=True).run())
    first = DaskBatch([samples], store=Store(url), client=client, shard_records=SMALL_SHARDS)
    run = first.run()
    next(run)  # the first shard is in: stop there, as Ctrl-C or a crash of the client would
    run.close()
    done_before = len(stored(url)[1])
    assert 0 < done_before < 50
    second = DaskBatch([samples], store=Store(url), client=client, shard_records=SMALL_SHARDS)
    assert as_json(second.run()) == local_json  # finished shards read back from the database
    assert second.summary.read == 50 - done_before == 50 - second.summary.read_back
    assert second.summary.shards_skipped >= 1
    assert stored(url) == stored(local_url)

    store = Store(url)  # a result deleted from the database since: its shard is analyzed again
    with Session(store.engine) as session, session.begin():
        session.delete(
            session.scalars(
                select(ResultRow)
                .join(ConversationRow, ConversationRow.key == ResultRow.conversation_key)
                .where(ConversationRow.id == "ec-002")
            ).one()
        )
    third = DaskBatch([samples], store=store, client=client, shard_records=SMALL_SHARDS)
    assert as_json(third.run()) == local_json and third.summary.read == SMALL_SHARDS  # ecommerce_chats.jsonl#lines 1-4
    assert stored(url) == stored(local_url)


def test_the_plan_depends_on_the_files_and_options_only(samples, tmp_path, monkeypatch):
    """No worker count in it: the same files plan the same keys wherever they lie and however they are
    given; adding a file or appending lines leaves the other shards' keys (but a grown last slice's)."""
    options = ReadOptions()
    variant = options_variant(None, True, True, options)

    def plan(*paths):
        shards, errors, _ = plan_shards(paths, options, variant, SMALL_SHARDS)
        assert not errors
        return {shard.key: shard for shard in shards}

    shutil.copytree(samples, tmp_path / "in")
    before = plan(tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    assert plan("in").keys() == before.keys() == plan(samples).keys()  # named from the input root
    assert {s.part_label for s in before.values()} >= {"ecommerce_chats.jsonl#lines 13-15", "exports/chat_export.csv"}

    chats = tmp_path / "in" / "ecommerce_chats.jsonl"
    chats.write_text(
        chats.read_text(encoding="utf-8") + chats.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8"
    )
    (tmp_path / "in" / "more.jsonl").write_bytes((samples / "complaint_desk.jsonl").read_bytes())
    after = plan(tmp_path / "in")
    assert {before[k].part_label for k in before.keys() - after.keys()} == {"ecommerce_chats.jsonl#lines 13-15"}
    assert sorted(after[k].part_label for k in after.keys() - before.keys()) == [
        "ecommerce_chats.jsonl#lines 13-16",
        "more.jsonl#lines 1-4",
        "more.jsonl#lines 5-7",
    ]
    assert (
        plan_shards([tmp_path / "in"], options, options_variant(None, True, False, options), SMALL_SHARDS)[0][0].key
        not in after
    )


def test_reruns_with_another_worker_count_or_a_new_file_hand_on_each_conversation_once(
    client, samples, tmp_path, local_results
):
    shutil.copytree(samples, tmp_path / "in")
    added = tmp_path / "in" / "complaint_desk.jsonl"
    held = added.read_bytes()
    added.unlink()
    url, parts = f"sqlite:///{tmp_path / 'z.db'}", tmp_path / "parts"
    expected = local_json([r for r in local_results if not r["conversation_id"].startswith("cp-")])

    def batch(**cluster) -> DaskBatch:
        return DaskBatch([tmp_path / "in"], store=Store(url), parquet=parts, shard_records=SMALL_SHARDS, **cluster)

    first = batch(client=client)  # two workers, stopped once the first shard is in
    run = first.run()
    next(run)
    run.close()
    second = batch(workers=1)  # a cluster of one worker of its own finishes the run, redoing nothing
    assert as_json(second.run()) == expected
    assert second.summary.shards_skipped >= 1 and second.summary.read_back > 0
    assert (
        second.summary.read + second.summary.read_back == len(expected)
        and second.summary.imported == second.summary.read
    )
    assert part_json(parts) == sorted(expected)

    added.write_bytes(held)  # a new file: only its shards are analyzed
    third = batch(client=client)
    assert as_json(third.run()) == local_json(local_results)
    assert (
        third.summary.shards_skipped == second.summary.shards
        and third.summary.read == 7
        and third.summary.parts_superseded == 0
    )
    assert (
        part_json(parts) == sorted(local_json(local_results))
        and len(list(parts.glob("part-*"))) == third.summary.shards
    )
    conversations, results = stored(url)
    assert len(conversations) == len(results) == 50


def test_a_changed_file_or_shard_size_replaces_parts_and_never_adds_to_them(client, samples, tmp_path):
    (tmp_path / "in").mkdir()
    chats, parts = tmp_path / "in" / "chats.jsonl", tmp_path / "parts"
    lines = (samples / "ecommerce_chats.jsonl").read_text(encoding="utf-8").splitlines()
    chats.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run(records: int):
        batch = DaskBatch(
            [tmp_path / "in"], parquet=parts, client=client, models=False, collect=False, shard_records=records
        )
        assert list(batch.run()) == []
        return batch.summary

    assert run(4).shards == 4 and len(list(parts.glob("part-*"))) == 4
    (parts / ".part-0123.parquet.abcd1234.tmp").write_bytes(b"half a part: its writer was killed")
    edited = json.loads(lines[5])
    edited["id"] = "ec-edited"
    lines[5] = json.dumps(edited, ensure_ascii=False)
    chats.write_text("\n".join(lines) + "\n", encoding="utf-8")
    changed = run(4)  # lines 5-8 changed: that shard is analyzed again, its old part moved aside
    assert (changed.shards_skipped, changed.read, changed.parts_superseded) == (3, 4, 1)
    resized = run(8)  # another shard size is another plan
    assert (resized.shards, resized.shards_skipped, resized.read, resized.parts_superseded) == (2, 0, 15, 4)
    ids = [json.loads(line)["id"] for line in lines]
    assert sorted(pq.read_table(str(parts)).column("conversation_id").to_pylist()) == sorted(ids) and "ec-edited" in ids
    assert len(list(parts.glob("part-*"))) == 2 and len(list((parts / "_superseded").glob("part-*"))) == 5
    assert not list(parts.glob(".*"))


class KillOnce(distributed.WorkerPlugin):
    """In every worker (restarted ones too): log each analysis with the process id; the first worker to
    reach conversation `victim` while `marker` exists takes the marker and kills itself (SIGKILL)."""

    def __init__(self, victim: str, marker: str, log: str):
        self.victim, self.marker, self.log = victim, marker, log

    def setup(self, worker):
        import zuoxi.engines.dask as engine

        original, victim, marker, log = engine.analyze_conversations, self.victim, self.marker, self.log

        def analyze(conversations, *args, **kwargs):
            with open(log, "a", encoding="utf-8") as handle:
                handle.writelines(f"{os.getpid()} {conversation.id}\n" for conversation in conversations)
            if any(conversation.id == victim for conversation in conversations):
                try:
                    os.rename(marker, marker + ".taken")
                except FileNotFoundError:
                    pass
                else:
                    os.kill(os.getpid(), signal.SIGKILL)
            return original(conversations, *args, **kwargs)

        engine.analyze_conversations = analyze


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(samples, tmp_path, local_results):
    marker, log = tmp_path / "kill-marker", tmp_path / "analyses.log"
    marker.write_text("")
    url, local_url = f"sqlite:///{tmp_path / 'z.db'}", f"sqlite:///{tmp_path / 'local.db'}"
    list(Batch([samples], store=Store(local_url), analyze=True).run())
    cluster = local_cluster(2)
    try:
        with distributed.Client(cluster) as client:
            client.register_plugin(KillOnce("cp-004", str(marker), str(log)))
            before = set(client.run(os.getpid).values())
            batch = DaskBatch(
                [samples], store=Store(url), parquet=tmp_path / "parts", client=client, shard_records=SMALL_SHARDS
            )
            results = as_json(batch.run())
            client.wait_for_workers(2, timeout=30)
            after = set(client.run(os.getpid).values())
    finally:
        cluster.close()

    assert not marker.exists() and Path(str(marker) + ".taken").exists()  # the kill happened
    assert len(before - after) == 1  # one worker process died and was replaced
    (killed,) = before - after
    # nothing lost, nothing doubled: the results, the database and the parts are the local engine's
    assert results == local_json(local_results) and part_json(tmp_path / "parts") == sorted(results)
    assert not batch.summary.errors and batch.summary.shards_failed == 0
    assert stored(url) == stored(local_url)
    assert len(list((tmp_path / "parts").glob("part-*.parquet"))) == batch.summary.shards
    assert sorted(r.conversation_id for r in read_results(tmp_path / "parts")) == sorted(
        r["conversation_id"] for r in local_results
    )
    store = Store(url)
    with Session(store.engine) as session:
        assert session.query(ImportedFile).count() == batch.summary.shards
    store.close()
    rerun = DaskBatch([samples], store=Store(url), parquet=tmp_path / "parts", workers=1, shard_records=SMALL_SHARDS)
    assert as_json(rerun.run()) == results and rerun.summary.read == 0  # all read back, no cluster started
    # only work of the killed process was done again
    seen: dict[str, list[int]] = {}
    for line in log.read_text().splitlines():
        pid, ident = line.split()
        seen.setdefault(ident, []).append(int(pid))
    assert len(seen) == 50 and killed in seen["cp-004"] and len(seen["cp-004"]) == 2
    assert all(pids[0] == killed for pids in seen.values() if len(pids) > 1)


def test_a_second_conversation_of_an_id_is_stored_with_a_note_on_the_cluster_too(client, tmp_path):
    """The local engine notes an id another conversation has; the Dask engine stored both without a word."""
    for name, text in (("a.jsonl", "马上查"), ("b.jsonl", "稍等我看一下")):
        record = {"id": "dx-1", "turns": [{"role": "customer", "text": "快递没到"}, {"role": "agent", "text": text}]}
        (tmp_path / name).write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'z.db'}"
    batch = DaskBatch([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], store=Store(url), client=client, collect=False)
    list(batch.run())
    assert len(Store(url).find("dx-1")) == 2
    [note] = batch.summary.errors
    assert note.note and "会话 'dx-1'" in str(note) and "内容不同" in str(note)
    again = DaskBatch([tmp_path / "b.jsonl"], store=Store(url), client=client, collect=False, resume=False)
    list(again.run())  # the same content again: already there, no note
    assert again.summary.errors == [] and len(Store(url).find("dx-1")) == 2


def test_a_deleted_conversation_is_kept_out_on_the_cluster_too(client, tmp_path):
    """The local engine keeps a deleted conversation out when it is read again (zuoxi.store.deletion); so does Dask:
    computed again, read back from the database, and read back from a part that holds it (computed again, its part
    written without it); the note names its line in the file, not in its slice."""
    from zuoxi.report.parquet import read_results
    from zuoxi.store.deletion import delete_conversations

    records = [
        {"id": f"dx-{n}", "turns": [{"role": "customer", "text": "快递没到"}, {"role": "agent", "text": f"马上查{n}"}]}
        for n in (1, 2, 3, 4)
    ]
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    url, parts = f"sqlite:///{tmp_path / 'z.db'}", tmp_path / "parts"

    def run(**options) -> tuple[DaskBatch, list[str]]:
        batch = DaskBatch([path], store=Store(url), client=client, shard_records=2, **options)
        return batch, [item.conversation.id for item in batch.run()]

    run(parquet=parts)
    [(key, _)] = Store(url).find("dx-3")
    delete_conversations(Store(url).engine, [key])
    for options in ({"parquet": parts}, {}, {"resume": False}):  # the part that held it, the database, computed
        again, handed_on = run(**options)
        assert handed_on == ["dx-1", "dx-2", "dx-4"], options
        [note] = again.summary.errors
        assert note.note and note.line == 3 and "会话 'dx-3' 此前已用 zuoxi conversation delete 删除" in str(note)
        assert again.summary.kept_out == 1 and Store(url).find("dx-3") == []
    assert sorted(r.conversation_id for r in read_results(parts)) == ["dx-1", "dx-2", "dx-4"]
    again, handed_on = run(parquet=parts)  # the part written without it: read back as it is
    assert handed_on == ["dx-1", "dx-2", "dx-4"] and again.summary.errors == [] and again.summary.read_back == 3
