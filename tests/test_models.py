"""Emotion, satisfaction and dialogue-quality models (zuoxi.analyze.models, docs/models.md)."""

from __future__ import annotations

import hashlib
import json
import math
import re
import socket
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training_models import data as D
from zuoxi.analyze.models import (
    EMOTIONS,
    QUALITY_LABELS,
    SATISFACTION,
    ConversationPrediction,
    load_models,
    prediction_records,
    runtime,
)
from zuoxi.analyze.models import features as F
from zuoxi.analyze.models import text as T
from zuoxi.analyze.models.linear import Vocab
from zuoxi.ingest import read_paths
from zuoxi.model import Conversation

ANGRY = "你们这什么破服务!气死我了,我要投诉!"
THANKS = "太好了,谢谢你,问题解决了"


def conv(*turns: tuple[str, str], cid: str = "t1") -> Conversation:
    return Conversation(id=cid, turns=[{"role": r, "text": t} for r, t in turns])


TINY = conv(
    ("customer", "你好,我的快递怎么还没到?"),
    ("agent", "您好,请提供一下订单号,我帮您查询"),
    ("system", "客户已发送订单号"),
    ("customer", "123456789"),
    ("agent", "已为您查询,明天送达"),
    ("customer", THANKS),
)


@pytest.fixture(scope="module")
def models():
    return load_models()


def _check_probs(probs: dict, labels) -> None:
    assert list(probs) == list(labels)
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert math.isclose(sum(probs.values()), 1.0, abs_tol=2e-3)


def test_load_is_cached_and_described(models):
    assert load_models() is models
    assert models.meta["format"] == runtime.FORMAT
    assert set(models.heads) == {
        "valence",
        "emotion",
        "turn_sat",
        "dialogue_sat",
        "quality_A",
        "quality_S",
        "quality_E",
    }
    assert models.meta["training"]["limit"] is None, "committed artefacts must come from a full run"


def test_artefacts_are_small_and_pickle_free():
    npz = runtime.ARTEFACTS / "models.npz"
    total = sum(p.stat().st_size for p in runtime.ARTEFACTS.iterdir() if p.is_file())
    assert total < 30e6
    with np.load(npz, allow_pickle=False) as z:  # raises if any array needed pickle
        assert all(z[k].dtype != object for k in z.files)
    json.loads((runtime.ARTEFACTS / "models.json").read_text(encoding="utf-8"))


def test_prediction_covers_every_customer_turn(models):
    p = models.predict(TINY)
    assert isinstance(p, ConversationPrediction)
    assert p.conversation_id == "t1"
    customer_turns = [i for i, t in enumerate(TINY.turns) if t.role == "customer"]
    assert [e.turn for e in p.emotion] == customer_turns
    assert [s.turn for s in p.satisfaction] == customer_turns
    for e in p.emotion:
        assert e.label in EMOTIONS
        _check_probs(e.probs, EMOTIONS)
        assert e.label == max(e.probs, key=e.probs.get)
    for s in p.satisfaction:
        assert s.label in SATISFACTION
        _check_probs(s.probs, SATISFACTION)
    d = p.dialogue.model_dump()
    assert set(d) == {"satisfaction", "complaint_risk", "quality"}
    assert d["satisfaction"]["label"] in SATISFACTION
    _check_probs(d["satisfaction"]["probs"], SATISFACTION)
    assert 0.0 <= d["complaint_risk"] <= 1.0
    assert set(d["quality"]) == {"A", "S", "E"}
    for dist in d["quality"].values():
        _check_probs(dist, QUALITY_LABELS)


def test_obvious_anger_is_angry_and_dissatisfied(models):
    p = models.predict(conv(("customer", ANGRY)))
    assert p.emotion[0].label == "angry"
    assert p.satisfaction[0].label == "dissatisfied"
    assert p.dialogue.complaint_risk > 0.8  # explicit complaint threat


def test_obvious_thanks_is_positive_and_satisfied(models):
    p = models.predict(conv(("agent", "已经为您办理好了"), ("customer", THANKS)))
    assert p.emotion[0].label == "positive"
    assert p.satisfaction[0].label == "satisfied"
    assert p.dialogue.complaint_risk < 0.5


def test_traditional_text_reads_like_simplified(models):
    simp = models.predict(conv(("customer", ANGRY)))
    trad = models.predict(conv(("customer", "你們這什麼破服務!氣死我了,我要投訴!")))
    assert trad.emotion[0].probs == simp.emotion[0].probs
    assert trad.satisfaction[0].probs == simp.satisfaction[0].probs


def test_plain_question_is_neutral(models):
    p = models.predict(conv(("customer", "请问这个订单什么时候发货")))
    assert p.emotion[0].label == "neutral"


def test_no_customer_words(models):
    p = models.predict(conv(("agent", "您好,很高兴为您服务"), ("system", "会话结束")))
    assert p.emotion == [] and p.satisfaction == []
    _check_probs(p.dialogue.satisfaction.probs, SATISFACTION)
    p = models.predict(conv(("agent", "您好"), ("customer", "")))
    assert [e.turn for e in p.emotion] == [1]


MIXED = [
    TINY,
    conv(("customer", ANGRY), ("agent", "非常抱歉"), ("customer", THANKS), cid="t2"),
    conv(("agent", "您好"), ("system", "会话结束"), cid="no-customer"),
    conv(("agent", "您好"), ("customer", ""), cid="empty-turn"),
    conv(("customer", "你們這什麼破服務!氣死我了"), ("agent", "&lt;已處理&gt;"), cid="traditional"),
    conv(("customer", "好\ue000的 @张三 http://x.cn 啊啊啊啊啊"), cid="joint-char"),  # U+E000: read text by text
]


def test_predicting_many_at_once_equals_one_by_one(models):
    for batch in (MIXED[:-1] + MIXED[-2::-1], MIXED):  # texts joined for one pass; read one by one
        together = models.predict_many(batch)
        assert [p.model_dump() for p in together] == [models.predict(c).model_dump() for c in batch]
    assert models.predict_many([]) == []


GOLDEN = Path(__file__).resolve().parent / "golden" / "sample_predictions.jsonl"


def test_every_prediction_path_gives_the_recorded_predictions(models, samples):
    """The bundled samples' predictions as the committed models made them before batching existed
    (tests/golden/make_sample_predictions.py): one at a time, all at once, and with the live cache."""
    header, *lines = GOLDEN.read_text(encoding="utf-8").splitlines()
    digest = hashlib.sha256((runtime.ARTEFACTS / "models.npz").read_bytes()).hexdigest()
    assert json.loads(header)["models_npz_sha256"] == digest, (
        "the committed models changed: if they were retrained on purpose, run "
        "`python tests/golden/make_sample_predictions.py` after checking the eval figures"
    )
    conversations = [c for _, c in read_paths([samples]) if isinstance(c, Conversation)]
    recorded = [json.loads(line) for line in lines]
    assert len(recorded) == len(conversations) == 50
    assert [p.model_dump() for p in models.predict_many(conversations)] == recorded
    assert [models.predict(c).model_dump() for c in conversations] == recorded
    cache: dict = {}
    assert [models.predict(c, cache=cache).model_dump() for c in conversations] == recorded


def test_a_batch_matrix_holds_each_conversations_own_rows(models):
    """Rows checked against TF-IDF vectors made directly from each side's n-grams."""
    preps = [F.dialogue_features([t.role for t in c.turns], [t.text for t in c.turns]) for c in MIXED]
    batch = models.text_matrix(preps)
    n_cust = sum(len(p.cust) for p in preps)
    assert batch.n == n_cust + 2 * len(preps)

    def direct(norms: list[str]):  # all the texts' n-grams as one text
        ids, _ = models.vocab.text_ids(norms)
        return models.vocab.vectorize(ids, np.zeros(len(ids), np.int64), 1)

    first = 0
    for k, prep in enumerate(preps):
        customer = [prep.norms[i] for i in prep.cust]
        expected = [
            (models.vocab.vectorize_texts(customer), batch.rows(first, first + len(customer))),
            (direct(customer), batch.rows(n_cust + k, n_cust + k + 1)),
            (
                direct([prep.norms[i] for i in prep.agent]),
                batch.rows(n_cust + len(preps) + k, n_cust + len(preps) + k + 1),
            ),
        ]
        for mine, theirs in expected:
            assert np.array_equal(mine.ids, theirs.ids) and np.array_equal(mine.vals, theirs.vals)
            assert np.array_equal(mine.starts, theirs.starts)
        first += len(customer)


def test_prediction_records_stream_in_chunks_and_keep_order(models):
    many = [conv(("customer", ANGRY if i % 2 else THANKS), cid=f"c{i}") for i in range(2 * runtime.PREDICT_CHUNK + 3)]
    records = list(prediction_records(iter(many), "satisfaction", models))
    assert [r["conversation_id"] for r in records] == [c.id for c in many]
    assert {r["turns"][0]["label"] for r in records[1::2]} == {"dissatisfied"}


@pytest.mark.parametrize("task", ["satisfaction", "emotion", "quality"])
def test_prediction_records(models, task):
    recs = list(prediction_records([TINY, conv(("customer", ANGRY), cid="t2")], task, models))
    assert [r["conversation_id"] for r in recs] == ["t1", "t2"]
    for r in recs:
        assert set(r) == {"conversation_id", "turns", "dialogue"}
        json.dumps(r, ensure_ascii=False)
        for t in r["turns"]:
            assert set(t) == {"turn", "label", "probs"}
    if task == "quality":
        assert recs[0]["turns"] == []
        assert set(recs[0]["dialogue"]) == {"A", "S", "E"}
    else:
        assert [t["turn"] for t in recs[0]["turns"]] == [0, 3, 5]
        labels = EMOTIONS if task == "emotion" else SATISFACTION
        assert all(t["label"] in labels for t in recs[0]["turns"])
        assert recs[0]["dialogue"]["label"] in labels
    if task == "satisfaction":
        assert 0 <= recs[1]["dialogue"]["complaint_risk"] <= 1


def test_unknown_task(models):
    with pytest.raises(ValueError):
        list(prediction_records([TINY], "sentiment", models))


def test_works_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    runtime._load_cached.cache_clear()
    try:
        m = load_models()
        assert m.predict(conv(("customer", ANGRY))).emotion[0].label == "angry"
    finally:
        runtime._load_cached.cache_clear()


TEXT_CHARS = "這個軟體谢谢您好怎么还没到ＡＢＣａｂｃ１２３0-9 \t\n!?！？…啊啊啊@#[]&;😀\x00\x02\x03\u0301Σ"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=TEXT_CHARS, max_size=30), max_size=8))
def test_gram_keys_are_the_ngrams_of_every_text(texts):
    """The numpy n-gram keys (the run-time path) are exactly the string n-grams, text by text."""
    norms = [T.normalize(t) for t in texts]
    keys, rows = T.gram_keys(norms)
    for i, norm in enumerate(norms):
        expected = Counter(T.gram_key(g) for g in T.ngrams(norm)) if norm else Counter()
        assert Counter(keys[rows == i].tolist()) == expected
        grams = T.ngrams(norm) if norm else []
        if grams:
            assert T.keys_of_lines("\n".join(grams)).tolist() == [T.gram_key(g) for g in grams]
        assert [T.gram_of_key(T.gram_key(g)) for g in grams] == grams


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=TEXT_CHARS + "\ue000", max_size=30), max_size=8))
def test_normalizing_a_conversation_at_once_equals_text_by_text(texts):
    assert T.normalize_all(texts) == [T.normalize(t) for t in texts]


def test_a_joint_made_by_an_html_entity_does_not_shift_texts():
    texts = ["&#57344;气死了", "您好", "", "", "", "好的"]
    assert T.normalize_all(texts) == [T.normalize(t) for t in texts]
    assert T.normalize_all(["@张三你好", "@李四 在吗"]) == [T.normalize("@张三你好"), T.normalize("@李四 在吗")]


CUE_TEXT = st.text(
    alphabet="".join(sorted(set("".join(T.CUES.values()) + "".join(T.AGENT_CUES.values())))) + "0123好的", max_size=40
)


@settings(max_examples=300, deadline=None)
@given(CUE_TEXT)
def test_cue_patterns_led_by_first_characters_match_like_the_plain_ones(text):
    for cues, fast in ((T.CUES, T._CUE_RE), (T.AGENT_CUES, T._AGENT_RE)):
        plain = re.compile("|".join(f"(?P<{name}>{pat})" for name, pat in cues.items()))
        assert fast.pattern != plain.pattern  # the look-ahead is there
        assert [(m.span(), m.lastgroup) for m in fast.finditer(text)] == [
            (m.span(), m.lastgroup) for m in plain.finditer(text)
        ]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=TEXT_CHARS + "ﾊﾟﾞ가\u1100\u1161\u11a8ㄱㅏ①㎡ﬁ", max_size=30))
def test_fast_nfkc_is_nfkc(text):
    assert T.nfkc(text) == unicodedata.normalize("NFKC", text)


def test_conversation_heads_as_a_group_equal_each_head(models):
    names = ["dialogue_sat", "quality_A", "quality_S", "quality_E"]
    for c in (TINY, conv(("customer", ANGRY), ("agent", "非常抱歉"), ("customer", THANKS)), conv(("agent", "您好"))):
        prep = F.dialogue_features([t.role for t in c.turns], [t.text for t in c.turns])
        x = models.text_matrix([prep])
        scores, dense = (
            models.dialogue_scores(1, len(prep.cust), x),
            F.dialogue_dense(prep, *models.customer_stage([prep], x)),
        )
        grouped = models.dialogue_heads.proba(scores, dense)
        for name, p in zip(names, grouped):
            assert np.allclose(p, models.heads[name].proba(scores, dense)[0], rtol=0, atol=1e-12)


def test_vocabulary_lookup_and_tfidf(models):
    vocab = Vocab(T.keys_of_lines("好\n谢谢\n谢\n\x02谢谢"), np.array([1.0, 2.0, 3.0, 4.0, 0.0], np.float32))
    keys = T.keys_of_lines("谢谢\n没有\n好\n\x02谢谢")
    assert vocab.lookup(keys).tolist() == [1, -1, 0, 3]
    x = vocab.vectorize_texts(["谢谢", "", "好好"])
    assert x.n == 3
    first = dict(zip(x.rows(0, 1).ids.tolist(), x.rows(0, 1).vals.tolist()))
    # 谢谢 once × idf 2, 谢 twice (1 + ln 2) × idf 3, ^谢谢 once × idf 4, sentinel 0; L2-normalised
    raw = np.array([2.0, (1 + math.log(2)) * 3.0, 4.0])
    expected = dict(zip([1, 2, 3], (raw / np.linalg.norm(raw)).tolist())) | {vocab.sentinel: 0.0}
    assert first.keys() == expected.keys()
    assert all(math.isclose(first[k], v, rel_tol=1e-5, abs_tol=1e-7) for k, v in expected.items())
    assert x.rows(1, 2).ids.tolist() == [vocab.sentinel]  # an empty text is the sentinel alone
    with pytest.raises(ValueError, match="twice"):
        Vocab(T.keys_of_lines("好\n好"), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="1 to 3 characters"):
        T.keys_of_lines("好\n\n谢谢")
    with pytest.raises(ValueError, match="1 to 3 characters"):
        T.keys_of_lines("谢谢你们")


def test_missing_artefacts_say_how_to_build(tmp_path):
    with pytest.raises(runtime.ArtefactError, match="make models"):
        runtime.Models.load(tmp_path)


@pytest.fixture(scope="module")
def data_root():
    try:
        return D.data_dir()
    except D.DataMissing as e:
        pytest.skip(f"training data absent ({e}); the shared data folder is needed to train")


def test_training_runs_end_to_end_on_a_slice(tmp_path, data_root):
    from training_models import models as train

    pytest.importorskip("sklearn", reason="training needs scikit-learn (pip install -e '.[train]')")
    assert train.main(["--data", str(data_root), "--limit", "40", "--out", str(tmp_path)]) == 0
    meta = json.loads((tmp_path / "models.json").read_text(encoding="utf-8"))
    assert meta["training"]["limit"] == 40
    m = runtime.Models.load(tmp_path)
    p = m.predict(TINY)
    assert len(p.emotion) == 3 and len(p.satisfaction) == 3


def test_training_without_data_says_so(tmp_path, capsys):
    from training_models import models as train

    assert train.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert "training data not found" in capsys.readouterr().err
