"""The trained models inside `analyze` and behind `zuoxi predict`: fusion with the cue lexicon,
the emotion operator (EM-02/ES-02), the dialogue estimates on results, and the CLI."""

from __future__ import annotations

import json
from contextlib import closing

import pytest
from typer.testing import CliRunner

from zuoxi.analyze.emotion import MODEL_CONFIDENT, CustomerEmotion, fuse, lexicon_emotion
from zuoxi.analyze.models import EMOTIONS, PREDICT_CHUNK, QUALITY_LABELS, SATISFACTION
from zuoxi.cli import app
from zuoxi.engines.local import Batch
from zuoxi.ingest import read_paths
from zuoxi.model import Conversation
from zuoxi.normalize import normalize_text
from zuoxi.pipeline import analyze_conversation, analyze_conversations

# Upset without a single word of the cue lexicon: only the model can hear it.
UPSET = "我只是想换其中一个汉堡，其他东西还是要的，干嘛拒收啊？你帮我查查送出去没有，真送出了也无所谓。"
PLAIN_REPLY = "这个需要您拒收就可以了。"


def conversation(*turns: tuple[str, str], cid: str = "m1") -> Conversation:
    return Conversation(id=cid, turns=[{"role": r, "text": t} for r, t in turns])


def finding(result, rule):
    return next(f for f in result.findings if f.rule == rule)


def probs(**values: float) -> dict[str, float]:
    rest = (1.0 - sum(values.values())) / (len(EMOTIONS) - len(values))
    return {k: values.get(k, rest) for k in EMOTIONS}


# --- fusion --------------------------------------------------------------------------------------


def test_a_cue_word_decides_and_is_the_evidence():
    text = "等了三天还没到，气死我了"
    cue = lexicon_emotion(normalize_text(text))
    assert cue.label == "angry" and text[cue.cue[0] : cue.cue[1]] == "气死"
    fused = fuse(cue, probs(neutral=0.9))
    assert fused.label == "angry" and fused.cue == cue.cue
    assert fused.score == cue.score  # the model's low negativity does not lower the cue's
    assert fuse(cue, probs(angry=0.95)).score > cue.score


def test_the_model_alone_needs_confidence():
    plain = lexicon_emotion(normalize_text("请问什么时候发货"))
    assert plain == CustomerEmotion("neutral", 0.0)
    below = fuse(plain, probs(angry=MODEL_CONFIDENT - 0.15, neutral=0.3))
    assert below.label == "neutral" and below.score == pytest.approx(
        MODEL_CONFIDENT - 0.15 + below.probs["anxious"] + below.probs["sad"], abs=1e-3
    )
    above = fuse(plain, probs(angry=0.6, sad=0.2, neutral=0.1))
    assert above.label == "angry" and above.cue is None and above.score >= MODEL_CONFIDENT


def test_negated_cue_is_not_a_cue():
    assert lexicon_emotion(normalize_text("我不生气，就是问问")).label == "neutral"


# --- the pipeline --------------------------------------------------------------------------------

# Anger in the customer's own words that no cue word names: the turn models must hear it.
FED_UP = "你们到底会不会做生意？三天了连个回复都没有，太让人寒心了！"


def test_the_model_hears_anger_the_lexicon_misses():
    """EM-02 stands on the customer's anger as the turn models read it (acts), with the cue words as evidence:
    a turn whose anger no cue word names is still heard, and read as angry by the emotion fusion too."""
    conv = conversation(("agent", "您好，请问有什么可以帮您？"), ("customer", FED_UP), ("agent", PLAIN_REPLY))
    with_models = analyze_conversation(conv)
    without = analyze_conversation(conv, models=False)
    assert finding(without, "EM-02").status == "n/a"
    em02 = finding(with_models, "EM-02")
    assert em02.status == "fail"
    assert [e.turn for e in em02.evidence] == [1, 2] and em02.evidence[0].text in FED_UP  # the clause the model read
    assert em02.evidence[1].text == PLAIN_REPLY  # … and the agent's reply that did not soothe
    emotion = with_models.customer_emotion[0]
    assert emotion.turn == 1 and emotion.label == "angry" and emotion.cue is None
    assert set(emotion.probs) == set(EMOTIONS) and emotion.satisfaction in SATISFACTION


def test_cue_evidence_points_at_the_word():
    text = "你们到底还发不发货，气死我了"
    result = analyze_conversation(conversation(("customer", text), ("agent", "亲，已经在安排了。")))
    em02 = finding(result, "EM-02")
    assert em02.status == "fail"
    customer = [e for e in em02.evidence if e.turn == 0]
    assert customer and {e.text for e in customer} <= {"气死", "到底"}  # the words, not the whole turn
    assert [(e.turn, e.text) for e in em02.evidence if e.turn != 0] == [
        (1, "亲，已经在安排了。")
    ]  # the reply lacking it


def test_anger_rising_over_a_conversation():
    conv = conversation(
        ("customer", "你好，我想问一下订单什么时候发货"),
        ("agent", "您稍等，这边查一下。"),
        ("customer", UPSET),
        ("agent", PLAIN_REPLY),
        ("customer", "你们就是敷衍，我要去曝光你们！"),
    )
    result = analyze_conversation(conv)
    assert finding(result, "ES-02").status == "fail"
    assert finding(result, "ES-02").evidence[0].turn == 4
    calm = conversation(
        ("customer", UPSET), ("agent", "非常抱歉给您添麻烦了，我马上帮您查。"), ("customer", "好的，谢谢你")
    )
    assert finding(analyze_conversation(calm), "ES-02").status == "pass"


def test_results_carry_the_dialogue_estimates():
    result = analyze_conversation(
        conversation(("customer", UPSET), ("agent", PLAIN_REPLY), ("customer", "行，我要投诉你们！"))
    )
    assert set(result.satisfaction.probs) == set(SATISFACTION)
    assert result.satisfaction.label == max(result.satisfaction.probs, key=result.satisfaction.probs.get)
    assert result.satisfaction.score == result.satisfaction.probs[result.satisfaction.label]
    assert result.complaint_risk >= 0.8  # an explicit threat
    assert set(result.quality) == {"A", "S", "E"}
    for dist in result.quality.values():
        assert set(dist) == set(QUALITY_LABELS) and sum(dist.values()) == pytest.approx(1.0, abs=1e-3)
    happy = analyze_conversation(
        conversation(
            ("customer", "退款收到了吗？"), ("agent", "已经为您退款了，请查收。"), ("customer", "收到了，太感谢了！")
        )
    )
    assert happy.complaint_risk < result.complaint_risk


def test_without_models_the_cues_decide():
    result = analyze_conversation(
        conversation(("customer", "你好"), ("agent", "您好"), ("customer", "好的，谢谢")), models=False
    )
    assert result.complaint_risk is None and result.quality is None
    assert result.satisfaction.label == "satisfied" and result.satisfaction.probs is None
    assert all(e.probs is None for e in result.customer_emotion)


# --- batches -------------------------------------------------------------------------------------


def sample_conversations(samples) -> list[Conversation]:
    return [c for _, c in read_paths([samples]) if isinstance(c, Conversation)]


def many_file(samples, path, count: int, bad_at: tuple[int, ...] = ()) -> list[Conversation]:
    """Write `count` conversations (sample copies c0, c1, …) as JSON lines to `path`, with broken
    lines inserted so that they become the given line numbers; return the conversations."""
    base = sample_conversations(samples)
    rows = [base[i % len(base)].model_copy(update={"id": f"c{i}"}) for i in range(count)]
    lines = [json.dumps(c.model_dump(mode="json", exclude_none=True), ensure_ascii=False) for c in rows]
    for line in sorted(bad_at):
        lines.insert(line - 1, "{broken")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows


def reading_fails_at(monkeypatch, n: int, error: BaseException) -> None:
    """The batch engine's reader raises `error` where it would hand on record `n`."""
    import zuoxi.engines.local

    read = zuoxi.engines.local.read_file

    def reader(*args, **kwargs):
        for i, record in enumerate(read(*args, **kwargs)):
            if i == n:
                raise error
            yield record

    monkeypatch.setattr(zuoxi.engines.local, "read_file", reader)


@pytest.mark.parametrize("models", [True, False])
def test_a_batch_is_analyzed_as_one_by_one(samples, models):
    conversations = sample_conversations(samples)
    together = analyze_conversations(conversations, models=models)
    alone = [analyze_conversation(c, models=models) for c in conversations]
    assert [r.model_dump() for r in together] == [r.model_dump() for r in alone]
    assert {r.scorecard for r in together} == {"core", "ecommerce", "complaint", "outbound"}  # each its own card


def test_the_batch_engine_analyzes_in_chunks_without_losing_order_or_bad_lines(samples, tmp_path):
    path = tmp_path / "many.jsonl"
    rows = many_file(samples, path, 2 * PREDICT_CHUNK + 5, bad_at=(PREDICT_CHUNK + 4,))
    errors = []
    batch = Batch([path], analyze=True, on_error=errors.append)
    items = list(batch.run())
    assert [str(e) for e in errors] == [
        f"{path}:{PREDICT_CHUNK + 4}: JSON 格式错误：这里应是带双引号的字段名，或多了逗号（第 2 列）"
    ]
    assert [i.conversation.id for i in items] == [c.id for c in rows]
    assert batch.summary.read == batch.summary.analyzed == len(rows)
    # the batch names recordings from the input root, here the file's own folder
    alone = [analyze_conversation(c, audio_dir=tmp_path, audio_name_dir=".").model_dump() for c in rows]
    assert [i.result.model_dump() for i in items] == alone


def test_an_analyzing_batch_interrupted_mid_chunk_keeps_what_it_handed_on(samples, tmp_path, monkeypatch, store):
    import zuoxi.pipeline

    path = tmp_path / "many.jsonl"
    many_file(samples, path, PREDICT_CHUNK + 36)
    score = zuoxi.pipeline._score

    def interrupted(conversation, *args):
        if conversation.id == "c40":
            raise KeyboardInterrupt
        return score(conversation, *args)

    monkeypatch.setattr(zuoxi.pipeline, "_score", interrupted)
    batch = Batch([path], store=store, analyze=True)
    handed = []
    with pytest.raises(KeyboardInterrupt):
        for item in batch.run():
            handed.append(item.conversation.id)
    assert handed == [f"c{i}" for i in range(40)]  # as one at a time: only the conversation in hand is lost
    assert store.stats()["conversations"] == 40 and (batch.summary.read, batch.summary.analyzed) == (41, 40)


def test_when_the_reader_fails_what_it_read_is_still_analyzed_and_kept(samples, tmp_path, monkeypatch, store):
    path = tmp_path / "many.jsonl"
    many_file(samples, path, 30)
    reading_fails_at(monkeypatch, 20, OSError("disk gone"))
    batch = Batch([path], store=store, analyze=True)
    handed = []
    with pytest.raises(OSError, match="disk gone"):
        for item in batch.run():
            handed.append(item.conversation.id)
    assert handed == [f"c{i}" for i in range(20)]
    assert store.stats()["conversations"] == 20 and batch.summary.analyzed == 20


def test_results_and_bad_lines_come_in_file_order_and_stop_where_the_reader_stops(samples, tmp_path):
    path = tmp_path / "many.jsonl"
    many_file(samples, path, 30, bad_at=(11, 25))
    events = []
    batch = Batch([path], analyze=True, on_error=lambda e: events.append(f"line {e.line}"))
    for item in batch.run():
        events.append(item.conversation.id)
    assert events == [f"c{i}" for i in range(10)] + ["line 11"] + [f"c{i}" for i in range(10, 23)] + ["line 25"] + [
        f"c{i}" for i in range(23, 30)
    ]

    events.clear()
    early = Batch([path], analyze=True, on_error=lambda e: events.append(f"line {e.line}"))
    with closing(early.run()) as items:
        for item in items:
            events.append(item.conversation.id)
            if item.conversation.id == "c11":
                break
    assert events == [f"c{i}" for i in range(10)] + ["line 11", "c10", "c11"]
    assert (early.summary.read, early.summary.analyzed, len(early.summary.errors)) == (12, 12, 1)


# --- the command line ----------------------------------------------------------------------------


@pytest.fixture
def chats(tmp_path):
    path = tmp_path / "chats.jsonl"
    rows = [
        {
            "id": "a",
            "turns": [
                {"role": "agent", "text": "您好"},
                {"role": "customer", "text": UPSET},
                {"role": "agent", "text": PLAIN_REPLY},
                {"role": "customer", "text": "我要投诉你们"},
            ],
        },
        {"id": "b", "turns": [{"role": "customer", "text": "谢谢，问题解决了"}]},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{broken\n", encoding="utf-8")
    return path


def test_predict_interrupted_still_writes_what_it_read(samples, tmp_path, monkeypatch):
    path = tmp_path / "many.jsonl"
    many_file(samples, path, 5)
    reading_fails_at(monkeypatch, 3, KeyboardInterrupt())
    outcome = CliRunner().invoke(app, ["predict", str(path), "--task", "satisfaction"])
    assert outcome.exit_code == 130
    assert [json.loads(line)["conversation_id"] for line in outcome.stdout.splitlines()] == ["c0", "c1", "c2"]


def test_predict_interrupted_while_writing_writes_nothing_twice(samples, tmp_path, monkeypatch):
    import zuoxi.cli.conversations

    path = tmp_path / "many.jsonl"
    many_file(samples, path, PREDICT_CHUNK + 5)
    records, interrupted = zuoxi.cli.conversations.prediction_records, []

    def ctrl_c_after_three(*args, **kwargs):
        for n, record in enumerate(records(*args, **kwargs)):
            if n == 3 and not interrupted:
                interrupted.append(True)
                raise KeyboardInterrupt
            yield record

    monkeypatch.setattr(zuoxi.cli.conversations, "prediction_records", ctrl_c_after_three)
    outcome = CliRunner().invoke(app, ["predict", str(path), "--task", "emotion"])
    assert outcome.exit_code == 130 and interrupted
    written = [json.loads(line)["conversation_id"] for line in outcome.stdout.splitlines()]
    assert written == [f"c{i}" for i in range(PREDICT_CHUNK)]  # all that was read, each once


@pytest.mark.parametrize("task", ["satisfaction", "emotion", "quality"])
def test_predict_json_lines(chats, task):
    outcome = CliRunner().invoke(app, ["predict", str(chats), "--task", task, "--format", "json"])
    assert outcome.exit_code == 0, outcome.output
    records = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert [r["conversation_id"] for r in records] == ["a", "b"]
    assert f"{chats.name}:3:" in outcome.stderr  # the broken line is named; the rest still comes out
    labels = {"satisfaction": SATISFACTION, "emotion": EMOTIONS, "quality": ()}[task]
    for record, customer_turns in zip(records, ([1, 3], [0])):
        assert set(record) == {"conversation_id", "turns", "dialogue"}
        if task == "quality":
            assert record["turns"] == [] and set(record["dialogue"]) == {"A", "S", "E"}
            continue
        assert [t["turn"] for t in record["turns"]] == customer_turns
        for turn in record["turns"]:
            assert set(turn["probs"]) == set(labels) and turn["label"] == max(turn["probs"], key=turn["probs"].get)
    if task == "satisfaction":
        assert records[0]["dialogue"]["complaint_risk"] > records[1]["dialogue"]["complaint_risk"]


def test_predict_table_and_bad_task(chats):
    outcome = CliRunner().invoke(app, ["predict", str(chats), "--task", "emotion", "--format", "table"])
    assert outcome.exit_code == 0 and "1:angry" in outcome.stdout
    assert CliRunner().invoke(app, ["predict", str(chats), "--task", "mood"]).exit_code == 2
