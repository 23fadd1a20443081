"""Storage on SQLite and PostgreSQL: conversations, results, statistics, file marks, resume."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from zuoxi.engines import local as local_engine
from zuoxi.engines.local import Batch
from zuoxi.ingest import read_file
from zuoxi.model import Conversation, Finding, Result
from zuoxi.privacy import mask_conversation
from zuoxi.store import Store, content_key, database_url, file_sha256


def conversation(
    ident: str, text: str = "您好", *, channel: str = "chat", agent: str | None = "8", **extra
) -> Conversation:
    return Conversation.model_validate(
        {"id": ident, "channel": channel, "agent_id": agent, "turns": [{"role": "agent", "text": text}], **extra}
    )


def result(conv: Conversation, scorecard: str, score: float, veto: bool = False) -> Result:
    return Result(
        conversation_id=conv.id,
        scorecard=scorecard,
        score=score,
        max_score=100.0,
        veto=veto,
        findings=[
            Finding(
                rule="CS-07",
                name="opening",
                status="fail" if score < 100 else "pass",
                severity="minor",
                points=score - 100,
            )
        ],
    )


def write_jsonl(path: Path, count: int, prefix: str = "c") -> Path:
    lines = [
        json.dumps(
            {"id": f"{prefix}{i}", "turns": [{"role": "customer", "text": f"第{i}个问题，电话13812345678"}]},
            ensure_ascii=False,
        )
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- conversations -------------------------------------------------------------------------------


def test_add_and_find_round_trip(store):
    rich = Conversation.model_validate(
        {
            "id": "tw-1",
            "channel": "call",
            "agent_id": "16",
            "team": "售後一組",
            "started_at": "2026-11-02T11:30:00+08:00",
            "duration": 12.5,
            "meta": {"scorecard": "complaint", "tags": ["a", "b"]},
            "turns": [
                {"role": "agent", "text": "您好，這裡是投訴專席", "start": 0.4, "end": 3.0},
                {"role": "customer", "text": "我要投訴", "start": 3.5, "end": 4.0},
            ],
        }
    )
    keys = store.add_conversations([(rich, "samples/x.jsonl"), (conversation("a"), None)])
    stored = rich.model_copy(update={"team": "售后一组"})  # teams are kept in one (Simplified) form
    assert len(keys) == 2 and all(len(k) == 64 for k in keys) and keys[0] == content_key(stored)
    ((key, found),) = store.find("tw-1")
    assert key == keys[0] and found == stored
    assert found.started_at == datetime(2026, 11, 2, 11, 30, tzinfo=timezone(timedelta(hours=8)))
    assert store.find(keys[0][:12]) == [(keys[0], stored)]  # the start of the content key
    assert store.find(keys[0][:5]) == []  # too short to be a key prefix
    assert store.find("nope") == []
    assert [c.id for _, c in store.find("a")] == ["a"]


def test_same_id_different_content_are_two_rows(store):
    store.add_conversations([(conversation("dup", "第一次"), None), (conversation("dup", "第二次"), None)])
    assert sorted(c.turns[0].text for _, c in store.find("dup")) == ["第一次", "第二次"]


def test_re_import_is_idempotent(store, samples):
    conversations = [c for c in read_file(samples / "complaint_desk.jsonl") if isinstance(c, Conversation)]
    first = store.add_conversations((c, "complaint_desk.jsonl") for c in conversations)
    assert store.count_new(first) == 0
    again = [c for c in read_file(samples / "complaint_desk.jsonl") if isinstance(c, Conversation)]
    second = store.add_conversations((c, "elsewhere.jsonl") for c in again)
    assert second == first  # same content → same key
    assert store.stats()["conversations"] == 7
    store.add_conversations([(conversations[0], None), (conversations[0], None)])  # duplicates in one call
    assert store.stats()["conversations"] == 7
    changed = conversations[0].model_copy(update={"team": "另一组"})
    assert content_key(changed) != first[0] and store.count_new([content_key(changed), first[1]]) == 1


# --- results -------------------------------------------------------------------------------------


def test_results_are_saved_and_replaced(store):
    conv = conversation("r1")
    (key,) = store.add_conversations([(conv, None)])
    store.save_results([(key, result(conv, "core", 70.0))])
    store.save_results([(key, result(conv, "ecommerce", 60.0))])  # another scorecard: kept beside
    store.save_results([(key, result(conv, "core", 85.0, veto=True))])  # same scorecard: replaced
    saved = {r.scorecard: r for r in store.results_for(key)}
    assert set(saved) == {"core", "ecommerce"}
    assert saved["core"] == result(conv, "core", 85.0, veto=True)
    assert saved["ecommerce"].score == 60.0 and saved["ecommerce"].findings[0].rule == "CS-07"
    assert store.results_for("0" * 64) == []
    store.save_results([])  # nothing to do


def test_statistics(store):
    a1, a2, b1 = (
        conversation("a1", agent="8"),
        conversation("a2", "再见", agent="8"),
        conversation("b1", channel="call", agent="35"),
    )
    nobody = conversation("n1", "喂", agent=None)
    keys = store.add_conversations([(a1, None), (a2, None), (b1, None), (nobody, None)])
    store.save_results(
        [
            (keys[0], result(a1, "core", 90.0)),
            (keys[1], result(a2, "core", 61.0, veto=True)),
            (keys[2], result(b1, "core", 40.0)),
            (keys[2], result(b1, "outbound", 55.5)),
        ]
    )
    store.mark_file("f" * 64, "x.jsonl", 4, 0)
    figures = store.stats()
    assert figures["conversations"] == 4 and figures["files"] == 1
    assert figures["by_channel"] == {"chat": 3, "call": 1}
    assert sorted(figures["scorecards"], key=lambda s: s["scorecard"]) == [
        {"scorecard": "core", "results": 3, "average": 63.7, "vetoes": 1},
        {"scorecard": "outbound", "results": 1, "average": 55.5, "vetoes": 0},
    ]
    assert figures["agents"] == [
        {"agent_id": "35", "results": 2, "average": 47.8},  # lowest average first
        {"agent_id": "8", "results": 2, "average": 75.5},
    ]
    json.dumps(figures)  # what `zuoxi stats --format json` prints


def test_empty_database_statistics(store):
    assert store.stats() == {"conversations": 0, "files": 0, "by_channel": {}, "scorecards": [], "agents": []}


# --- file marks and resume -------------------------------------------------------------------------


def test_file_marks(store, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", 2)
    sha = file_sha256(path)
    assert not store.file_done(sha)
    store.mark_file(sha, str(path), 2, 1)
    assert not store.file_done(sha)  # it gave an error: read again, to say it again
    store.mark_file(sha, str(path), 2, 0)  # marking again replaces the mark
    assert store.file_done(sha) and store.stats()["files"] == 1
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert not store.file_done(file_sha256(path))  # changed content is a new file


def clean_run_keys(path: Path, tmp_path: Path) -> set[str]:
    reference = Store(f"sqlite:///{tmp_path / 'clean.db'}")
    keys = {item.key for item in Batch([path], store=reference).run()}
    assert reference.stats()["conversations"] == len(keys)
    reference.close()
    return keys


@pytest.mark.parametrize("chunk", [500, 5])
def test_interrupted_import_keeps_what_was_read_and_resumes(store, tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(local_engine, "CHUNK", chunk)
    path = write_jsonl(tmp_path / "many.jsonl", 30)
    batch = Batch([path], store=store)
    with pytest.raises(KeyboardInterrupt):
        for n, _ in enumerate(batch.run(), start=1):  # as the CLI drives it
            if n == 12:
                raise KeyboardInterrupt
    assert store.stats()["conversations"] == 12 and batch.summary.imported == 12
    assert not store.file_done(file_sha256(path))  # not finished: not marked

    again = Batch([path], store=store)
    assert len(list(again.run())) == 30
    assert (again.summary.imported, again.summary.duplicates, again.summary.files_skipped) == (18, 12, 0)
    assert store.stats()["conversations"] == 30
    assert store.count_new(sorted(clean_run_keys(path, tmp_path))) == 0  # the same rows as a clean run

    third = Batch([path], store=store)
    assert list(third.run()) == []
    assert (third.summary.files_skipped, third.summary.read, third.summary.nothing_read) == (1, 0, False)


def test_closing_the_generator_also_keeps_what_was_read(store, tmp_path):
    first, second = write_jsonl(tmp_path / "a.jsonl", 4, "a"), write_jsonl(tmp_path / "b.jsonl", 6, "b")
    batch = Batch([first, second], store=store)
    with closing(batch.run()) as items:
        for n, _ in enumerate(items, start=1):
            if n == 7:  # three conversations into the second file
                break
    assert store.stats()["conversations"] == 7
    assert store.file_done(file_sha256(first)) and not store.file_done(file_sha256(second))
    again = Batch([first, second], store=store)
    list(again.run())
    assert (again.summary.files_skipped, again.summary.read, again.summary.imported, again.summary.duplicates) == (
        1,
        6,
        3,
        3,
    )
    assert store.stats()["conversations"] == 10 and store.stats()["files"] == 2


def test_a_changed_file_is_read_again_and_only_new_conversations_stored(store, tmp_path):
    path = write_jsonl(tmp_path / "grow.jsonl", 3)
    list(Batch([path], store=store).run())
    write_jsonl(path, 5)
    grown = Batch([path], store=store)
    list(grown.run())
    assert (grown.summary.read, grown.summary.imported, grown.summary.duplicates) == (5, 2, 3)
    forced = Batch([path], store=store, resume=False)  # `zuoxi import --again`
    list(forced.run())
    assert (forced.summary.files_skipped, forced.summary.read, forced.summary.imported) == (0, 5, 0)


def test_a_file_that_gave_errors_is_read_again_and_its_errors_said_again(store, tmp_path):
    """A file of nothing but errors was marked imported: the next run skipped it as 此前已导入 and its errors were
    never shown again (walk_cli L9). One that gave an error beside conversations is read again too; what of it was
    stored is counted as already there."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "b1"\n{"id": "b2", "turns": []}\n', encoding="utf-8")
    mixed = write_jsonl(tmp_path / "mixed.jsonl", 2)
    mixed.write_text(mixed.read_text(encoding="utf-8") + "{oops\n", encoding="utf-8")
    clean = write_jsonl(tmp_path / "clean.jsonl", 1, "k")
    first = Batch([bad, mixed, clean], store=store)
    list(first.run())
    assert (len(first.summary.errors), first.summary.imported) == (3, 3)
    again = Batch([bad, mixed, clean], store=store)
    list(again.run())
    assert [str(e) for e in again.summary.errors] == [str(e) for e in first.summary.errors]
    assert (again.summary.files_skipped, again.summary.read, again.summary.duplicates) == (1, 2, 2)
    assert store.stats()["conversations"] == 3


def imported_ids(store: Store, *paths: Path, **options) -> tuple[list[str], list[str], Batch]:
    """(ids handed on, errors as printed, the batch) of a run over `paths`."""
    batch = Batch(list(paths), store=store, **options)
    ids = [item.conversation.id for item in batch.run()]
    return ids, [str(e) for e in batch.summary.errors], batch


def test_a_second_conversation_of_one_id_is_stored_with_a_note_in_a_run_and_across_runs(store, tmp_path):
    """dx-1 exported twice with other words (a chat that went on, a corrected export) was stored twice without a
    word, and both copies were scored and counted in exports and agents' averages (walk_cli M7). Refusing the second
    lost every conversation of exports that number theirs 1, 2, 3… afresh each day, and stored or refused the same
    file by how the files were batched: both are stored now, each second one with a note naming the first and
    `zuoxi conversation delete` — the same whether the files came in one run or two. A note is no error: the file
    is done."""
    header = "会话ID,角色,内容,时间\n"
    first = tmp_path / "dupA.csv"
    first.write_text(header + "dx-1,客户,快递没到,2026-11-03 14:00:10\ndx-1,客服,马上查,2026-11-03 14:00:11\n")
    second = tmp_path / "dupB.csv"
    second.write_text(header + "dx-1,客户,快递没到,2026-11-03 14:00:10\ndx-1,客服,稍等我看一下,2026-11-03 14:00:11\n")
    lines = tmp_path / "twice.jsonl"
    lines.write_text(
        "".join(
            json.dumps({"id": ident, "turns": [{"role": "agent", "text": text}]}, ensure_ascii=False) + "\n"
            for ident, text in (("j-1", "您好"), ("j-2", "在的"), ("j-1", "您好，请讲"), ("j-2", "在的"))
        ),
        encoding="utf-8",
    )
    ids, said, batch = imported_ids(store, first, second, lines)
    assert ids == ["dx-1", "dx-1", "j-1", "j-2", "j-1", "j-2"]  # the same conversation again (j-2): stored once
    assert said == [
        f"{second}:2: 会话 'dx-1' 与 {first}:2 的会话同一ID、内容不同：两个都已导入。若只应保留一个，导入后用 "
        "zuoxi conversation delete 删去另一个",
        f"{lines}:3: 会话 'j-1' 与 {lines}:1 的会话同一ID、内容不同：两个都已导入。若只应保留一个，导入后用 "
        "zuoxi conversation delete 删去另一个",
    ]
    assert all(e.note for e in batch.summary.errors)
    assert (batch.summary.imported, batch.summary.duplicates) == (5, 1)
    assert sorted(c.turns[1].text for _, c in store.find("dx-1")) == ["稍等我看一下", "马上查"]
    assert all(store.file_done(file_sha256(path)) for path in (first, second, lines))  # notes are no errors

    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    imported_ids(other, first)  # the same files in two runs: the same conversations stored, the stored one named
    ids, said, _ = imported_ids(other, second)
    [(key, _)] = other.find("dx-1")[:1]
    assert ids == ["dx-1"] and said == [
        f"{second}:2: 数据库中已有会话 'dx-1'，内容不同（内容键 {key[:12]}，来自 {first}）：这一个也已导入。"
        f"若这是它更正过或更完整的导出，用 zuoxi conversation delete {key[:12]} 删去库中旧的那个"
        f"（zuoxi show {key[:12]} 可先查看）；若这是另一个会话（导出每次从 1 编号），可不理会"
    ]
    assert len(other.find("dx-1")) == 2
    ids, said, again = imported_ids(store, first, resume=False)  # the same content: already there, as before
    assert (ids, said, again.summary.duplicates) == (["dx-1"], [], 1)
    assert store.stats()["conversations"] == 5


def test_a_conversation_stored_as_an_older_version_masked_it_is_already_there(store, tmp_path):
    """A file read again (it gave an error, or with --again) after the masker learnt a form of phone number: its
    conversation masked today has another key than the one stored, masked as the older version masked it. It is the
    same conversation — already there, not stored again, no note (review: 'identical conversations refused after
    masking changes')."""
    path = tmp_path / "calls.jsonl"
    path.write_text(
        json.dumps({"id": "m-1", "turns": [{"role": "customer", "text": "我的号码是 1 3 8 0 0 1 3 8 0 0 0"}]}) + "\n",
        encoding="utf-8",
    )
    older = Conversation.model_validate(
        {"id": "m-1", "turns": [{"role": "customer", "text": "我的号码是 1 3 8 0 0 1 3 8 0 0 0"}]}
    )
    [stored_key] = store.add_conversations([(older, str(path))])  # as a version that did not mask spaced digits did
    ids, said, batch = imported_ids(store, path, resume=False)
    assert (ids, said) == (["m-1"], [])
    assert (batch.summary.read, batch.summary.imported, batch.summary.duplicates) == (1, 0, 1)
    assert [key for key, _ in store.find("m-1")] == [stored_key]
    analyzed = Batch([path], store=store, analyze=True, models=False)  # analyzed: in the output, its result stored
    assert [(item.conversation.id, item.key) for item in analyzed.run()] == [("m-1", stored_key)]
    assert [r.conversation_id for r in store.results_for(stored_key)] == ["m-1"]
    assert [key for key, _ in store.find("m-1")] == [stored_key] and analyzed.summary.errors == []


@pytest.mark.parametrize("ident", ["stc3_4111111111111111", "13812345678"])
def test_a_conversation_whose_id_masking_now_changes_stored_raw_by_an_older_version_is_already_there(
    store, tmp_path, ident
):
    """An older version stored the id as read (a Weibo post id masking now reads as a card, a caller's number): read
    again, the conversation masked today has another id and key, and was stored a second time without a word, counted
    twice (probe of the upgrade path)."""
    path = tmp_path / "export.jsonl"
    turns = [{"role": "customer", "text": "你好"}, {"role": "agent", "text": "您好，请讲"}]
    path.write_text(json.dumps({"id": ident, "turns": turns}, ensure_ascii=False) + "\n", encoding="utf-8")
    [stored_key] = store.add_conversations([(Conversation.model_validate({"id": ident, "turns": turns}), str(path))])
    ids, said, batch = imported_ids(store, path, resume=False)
    assert ids != [ident] and said == []  # masked today, and already there
    assert (batch.summary.imported, batch.summary.duplicates) == (0, 1)
    assert store.stats()["conversations"] == 1 and [k for k, _ in store.find(ident)] == [stored_key]


def test_a_copy_in_another_folder_of_a_conversation_an_older_version_masked_is_already_there(store, tmp_path):
    """The same export read from another folder after masking changed: the stored conversation came from the first
    folder, so it was not masked again to compare, and the copy was stored beside it with a note 内容不同."""
    text = {"id": "m-2", "turns": [{"role": "customer", "text": "我的号码是 1 3 8 0 0 1 3 8 0 0 0"}]}
    first, second = tmp_path / "a" / "calls.jsonl", tmp_path / "b" / "calls.jsonl"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text(json.dumps(text, ensure_ascii=False) + "\n", encoding="utf-8")
    [stored_key] = store.add_conversations([(Conversation.model_validate(text), str(first))])
    ids, said, batch = imported_ids(store, second, resume=False)
    assert (ids, said) == (["m-2"], [])
    assert (batch.summary.imported, batch.summary.duplicates) == (0, 1)
    assert [key for key, _ in store.find("m-2")] == [stored_key]


def test_ids_made_of_file_names_or_masked_are_not_taken_for_duplicates(store, tmp_path):
    """Two days' folders each holding call.srt are two calls, whose id is the file's name; callers' numbers used as
    ids are masked alike when they end alike, so a stored masked id may be another caller's."""
    for day in ("1103", "1104"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "call.srt").write_text(
            f"1\n00:00:01,000 --> 00:00:02,000\n[客服] 您好\n\n2\n00:00:03,000 --> 00:00:04,000\n[客户] {day}\n",
            encoding="utf-8",
        )
    phones = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for path, number in zip(phones, ("13812345678", "13912345678"), strict=True):
        path.write_text(json.dumps({"id": number, "turns": [{"role": "agent", "text": number[:3]}]}) + "\n")
    ids, errors, _ = imported_ids(store, tmp_path / "1103", tmp_path / "1104", phones[0])
    assert errors == [] and ids == ["call.srt", "call.srt", "*******5678"]
    ids, errors, _ = imported_ids(store, phones[1])
    assert errors == [] and ids == ["*******5678"] and len(store.find("*******5678")) == 2


def test_a_run_that_scores_without_storing_notes_a_second_conversation_of_an_id(tmp_path):
    path = tmp_path / "twice.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": "j-1", "turns": [{"role": "agent", "text": text}]}, ensure_ascii=False) + "\n"
            for text in ("您好", "您好，请讲")
        ),
        encoding="utf-8",
    )
    batch = Batch([path], analyze=True, models=False)
    assert [item.conversation.turns[0].text for item in batch.run()] == ["您好", "您好，请讲"]
    assert [(e.line, e.note) for e in batch.summary.errors] == [(2, True)]
    assert len(list(Batch([path]).run())) == 2  # only read (predict, live): nothing counted, nothing refused


def test_batch_masks_before_storing_unless_told_not_to(store, tmp_path):
    list(Batch([write_jsonl(tmp_path / "pii.jsonl", 1)], store=store).run())
    list(Batch([write_jsonl(tmp_path / "clear.jsonl", 1, "d")], store=store, mask=False).run())
    assert [c.turns[0].text for _, c in store.find("c0")] == ["第0个问题，电话*******5678"]
    assert [c.turns[0].text for _, c in store.find("d0")] == ["第0个问题，电话13812345678"]


def test_analysis_results_are_stored_once_per_scorecard(store, samples):
    path = samples / "complaint_desk.jsonl"
    first = Batch([path], store=store, analyze=True)
    items = list(first.run())
    assert first.summary.analyzed == 7 and all(item.result is not None for item in items)
    list(Batch([path], store=store, analyze=True).run())  # analyzing again replaces, not adds
    figures = store.stats()
    assert figures["conversations"] == 7
    assert sum(s["results"] for s in figures["scorecards"]) == 7
    by_id = {item.conversation.id: item for item in items}
    (stored,) = store.results_for(by_id["cp-001"].key)
    assert stored == by_id["cp-001"].result and stored.scorecard == "core"  # meta.scorecard of cp-001


# --- URLs ----------------------------------------------------------------------------------------


def test_database_url(monkeypatch, tmp_path):
    monkeypatch.delenv("ZUOXI_DB", raising=False)
    assert database_url() == "sqlite:///zuoxi.db"
    assert database_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("ZUOXI_DB", str(tmp_path / "env.db"))
    assert database_url() == f"sqlite:///{tmp_path / 'env.db'}"
    assert database_url("other.db") == "sqlite:///other.db"


def test_a_sqlite_file_in_a_folder_that_does_not_exist_yet(tmp_path):
    from zuoxi.store import Store

    store = Store(str(tmp_path / "build" / "nested" / "demo.db"))
    assert store.stats()["conversations"] == 0 and (tmp_path / "build" / "nested" / "demo.db").exists()


def test_teams_and_agent_ids_are_one_form_however_written(store):
    """Traditional/Simplified, full/half width and spaces: one team, one agent, one stored conversation."""
    from zuoxi.store.users import add_user, list_accounts

    variants = [
        conversation("t", agent=agent, team=team)
        for agent, team in (("07", "售后二组"), ("０７", "售後二組"), (" 07 ", " 售后二组"), ("07", "售后　二组"))
    ]
    keys = store.add_conversations((c, None) for c in variants)
    assert (
        len(set(keys[:3])) == 1 and keys[3] != keys[0]
    )  # the same conversation thrice; "售后 二组" differs by a space
    with store.engine.connect() as connection:
        from sqlalchemy import text

        rows = connection.execute(text("SELECT agent_id, team FROM conversations ORDER BY team")).all()
    assert [tuple(r) for r in rows] == [("07", "售后 二组"), ("07", "售后二组")]
    add_user(store.engine, "lead", "correct-horse", "team_lead", team="售後二組 ")
    assert list_accounts(store.engine)[0].team == "售后二组"


def test_a_users_agent_id_and_name_are_masked_as_conversations_are(store):
    """An agent id that is a phone number is stored masked in conversations: the agent's own is masked the same way
    (so the agent still sees them), and so is a name typed with a phone or e-mail in it."""
    from zuoxi.store.users import add_user, list_accounts

    store.add_conversations([(mask_conversation(conversation("p", agent="13812345678")), None)])
    add_user(store.engine, "a1", "correct-horse", "agent", agent_id="13812345678", display_name="王 a.b@example.com")
    (account,) = list_accounts(store.engine)
    assert (account.agent_id, account.display_name) == ("*******5678", "王 a***@example.com")
    with store.engine.connect() as connection:
        from sqlalchemy import text

        assert connection.execute(text("SELECT agent_id FROM conversations")).scalar() == account.agent_id


def test_an_older_database_gets_canonical_teams(db_url):
    from sqlalchemy import text

    from zuoxi.store.users import add_user, list_accounts

    first = Store(db_url)
    first.add_conversations([(conversation("old", agent="A07"), None)])
    add_user(first.engine, "lead", "correct-horse", "team_lead", team="售后二组")
    with first.engine.begin() as connection:  # as an older zuoxi stored them
        connection.execute(text("UPDATE conversations SET team = '售後二組 ', agent_id = 'Ａ07'"))
        connection.execute(text("UPDATE users SET team = '售後二組'"))
    first.close()
    again = Store(db_url)
    with again.engine.connect() as connection:
        assert tuple(connection.execute(text("SELECT team, agent_id FROM conversations")).one()) == ("售后二组", "A07")
    assert list_accounts(again.engine)[0].team == "售后二组"
    again.close()


def test_a_nul_character_never_fails_a_write(db_url, tmp_path):
    """PostgreSQL's text holds no NUL: one in a turn, an id, an agent id or a recording name failed the insert of the
    whole batch (`PostgreSQL text fields cannot contain NUL`), and one typed into a form its request. Every string column
    drops it as it is written and compared, on every database — and a conversation holds none from the start (an id
    of NULs alone is an empty id, refused)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from zuoxi.store.tables import ConversationRow, User
    from zuoxi.store.users import add_user

    store = Store(db_url)
    inspector = add_user(store.engine, "qa\x00", "correct-horse", "inspector")
    broken = conversation("n\x00ul", "我要\x00投诉", agent="8\x00", audio="x\x00.wav")
    fine = conversation("fine")
    store.add_conversations([(broken, "list\x00.jsonl"), (fine, None)])
    key = store.add_conversations([(broken, None)])[0]
    store.save_results([(key, result(broken, "core", 80))])
    [(found_key, found)] = store.find("n\x00ul")
    assert found_key == key and found.turns[0].text == "我要投诉" and found.id == "nul" and store.find("fine")
    [stored] = store.results_for(key)
    assert stored.score == 80
    with Session(store.engine) as session:
        assert session.scalars(select(User.username)).one() == "qa" == inspector.username.replace("\x00", "")
        assert session.scalars(select(ConversationRow.agent_id).where(ConversationRow.key == key)).one() == "8"
    from zuoxi.store.users import UserError

    for fields in ({"username": "\x00"}, {"agent_id": "\x00"}, {"role": "team_lead", "team": "\x00\x00"}):
        with pytest.raises(UserError):  # blank once stored: refused as blank ones are
            add_user(store.engine, **{"username": "u1", "password": "correct-horse", "role": "agent", **fields})
    store.close()


def test_conversations_to_rescore_on_every_database(db_url):
    """Rescoring a scorecard chose its conversations with SELECT DISTINCT over the stored conversation, which
    PostgreSQL cannot compare (`could not identify an equality operator for type json`): every rescore was a 500."""
    from zuoxi.store.queries import ConversationFilter
    from zuoxi.store.scorecards import conversations_to_rescore
    from zuoxi.store.users import add_user

    store = Store(db_url)
    inspector = add_user(store.engine, "qa", "correct-horse", "inspector")
    convs = [conversation(f"r{i}", team="售后一组" if i < 3 else "售后二组") for i in range(4)]
    keys = store.add_conversations([(c, None) for c in convs])
    store.save_results([(k, result(c, s, 90)) for k, c in zip(keys, convs) for s in ("core", "ecommerce")])
    chosen = conversations_to_rescore(store.engine, inspector, ConversationFilter(team="售后一组"), limit=10)
    assert sorted(k for k, _ in chosen) == sorted(keys[:3]) and {d["id"] for _, d in chosen} == {"r0", "r1", "r2"}
    assert len(conversations_to_rescore(store.engine, inspector, ConversationFilter(), limit=2)) == 2
    store.close()


def test_a_result_another_process_stored_first_is_replaced_not_a_lost_batch(db_url, monkeypatch):
    """Two processes analysing the same conversation at once: both saw no result, both inserted one, and the second
    failed its whole batch on the unique (conversation, scorecard) key. The one that lost the race stores it again,
    as a replacement. The race is made certain here: the other process stores its result between this one's read
    of the earlier results and its insert."""
    import zuoxi.store as store_module

    first, other = Store(db_url), Store(db_url)
    conv = conversation("raced")
    [key] = first.add_conversations([(conv, None)])
    facts = store_module.result_facts
    raced = []

    def meanwhile(given):
        if not raced:
            raced.append(True)
            other.save_results([(key, result(conv, "core", 70))])
        return facts(given)

    monkeypatch.setattr(store_module, "result_facts", meanwhile)
    first.save_results([(key, result(conv, "core", 90)), (key, result(conv, "ecommerce", 90))])
    assert sorted((r.scorecard, r.score) for r in first.results_for(key)) == [("core", 90), ("ecommerce", 90)]
    first.close()
    other.close()


def test_start_times_are_stored_in_utc(store):
    aware = conversation("aware", started_at="2026-12-05T14:03:00+08:00")
    naive = conversation(
        "naive", started_at="2026-12-05T14:03:00"
    )  # no offset: the contact centre's time (Asia/Shanghai)
    store.add_conversations([(aware, None), (naive, None)])
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from zuoxi.store import as_utc
    from zuoxi.store.tables import ConversationRow

    with Session(store.engine) as session:
        times = {r.id: as_utc(r.started_at) for r in session.scalars(select(ConversationRow))}
    assert times["aware"] == times["naive"] == datetime(2026, 12, 5, 6, 3, tzinfo=UTC)


def test_a_file_named_by_a_number_is_stored_by_its_masked_name(store, tmp_path):
    """Exports are often named by the customer's number: the file a conversation came from is stored masked like the
    conversation, in the imported files and in the conversation's source; its folder keeps its name."""
    from sqlalchemy import text

    path = tmp_path / "13812345678.jsonl"
    path.write_text(json.dumps({"id": "n1", "turns": [{"role": "agent", "text": "您好"}]}) + "\n", encoding="utf-8")
    assert [item.source for item in Batch([path], store=store).run()] == [str(tmp_path / "*******5678.jsonl")]
    with store.engine.connect() as connection:
        stored = {*connection.execute(text("SELECT source FROM conversations")).scalars()}
        stored |= {*connection.execute(text("SELECT path FROM imported_files")).scalars()}
    assert stored == {str(tmp_path / "*******5678.jsonl")}


def test_ids_numbered_afresh_each_day_are_stored_with_notes_and_no_stored_text_is_read(store, tmp_path, monkeypatch):
    """Exports that number their conversations 1, 2, 3… each day: day two's conversations are stored beside day
    one's, each with a note, and the check reads no stored conversation (only one this same file gave before is
    masked again to compare: reading every stored one of the id made each day's import slower than the last)."""
    days = []
    for day in ("1103", "1104"):
        path = tmp_path / f"export-{day}.jsonl"
        path.write_text(
            "".join(
                json.dumps({"id": str(n), "turns": [{"role": "agent", "text": f"{day} 第{n}个"}]}, ensure_ascii=False)
                + "\n"
                for n in range(1, 4)
            ),
            encoding="utf-8",
        )
        days.append(path)
    imported_ids(store, days[0])
    read: list[list[str]] = []
    real = Store.conversations
    monkeypatch.setattr(Store, "conversations", lambda self, keys: read.append(keys) or real(self, keys))
    ids, said, batch = imported_ids(store, days[1])
    assert ids == ["1", "2", "3"] and batch.summary.imported == 3 and len(said) == 3
    assert all(e.note and "数据库中已有会话" in str(e) for e in batch.summary.errors)
    assert read == [] and store.stats()["conversations"] == 6
