"""eval/realqa.py's counting: per rule, overall and per data source."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.label_tools import rules_for
from eval.realqa import intervals, pr, score, targets


def _gold(cid: str, violations: set[str]) -> dict:
    return {rule: {"v": "violation" if rule in violations else "ok", "turn": 3} for rule in rules_for(cid)}


def test_figures_are_counted_per_rule_overall_and_per_source():
    gold = {"jddc_uss_valid_001": _gold("jddc_uss_valid_001", {"CS-06", "EC-06"}), "stc3_1": _gold("stc3_1", {"EM-02"})}
    failures = {"jddc_uss_valid_001": {"CS-06": [3], "SA-04": [9]}, "stc3_1": {"EM-02": [1]}}
    figures = score(gold, failures, {"jddc_uss_valid_001": "jddc_uss", "stc3_1": "stc3_dch"})
    assert figures["sources"]["jddc_uss"] == {
        "tp": 1,
        "fp": 1,
        "fn": 1,
        "n": len(rules_for("jddc_uss_valid_001")),
        "turn": 1,
    }
    weibo = figures["sources"]["stc3_dch"]
    assert (weibo["tp"], weibo["fp"], weibo["fn"], weibo.get("turn", 0)) == (1, 0, 0, 0)  # evidence on turn 1, not 3
    assert {k: figures["total"][k] for k in ("tp", "fp", "fn")} == {"tp": 2, "fp": 1, "fn": 1}
    assert figures["rules"]["SA-04"]["fp"] == 1 and figures["rules"]["EC-06"]["fn"] == 1
    assert score(gold, failures)["sources"] == {}  # no sources given: none


def test_the_intervals_hold_the_figures_and_narrow_with_more_conversations():
    def part(n: int) -> tuple[dict, dict]:
        """n conversations: every fourth has a violation zuoxi misses, every third a false alarm, the rest a right failure."""
        gold, failures = {}, {}
        for k in range(n):
            cid = f"stc3_{k}"
            gold[cid] = _gold(cid, {"CS-06"})
            failures[cid] = {} if k % 4 == 0 else {"CS-06": [3]}
            if k % 3 == 0:
                failures[cid]["SA-04"] = [5]
        return gold, failures

    small, large = intervals(*part(40)), intervals(*part(400))
    assert small == intervals(*part(40))  # the same draw each run
    p, r = pr(score(*part(400))["total"])
    assert large["precision"][0] < p < large["precision"][1] and large["recall"][0] < r < large["recall"][1]
    width = lambda ci, key: ci[key][1] - ci[key][0]  # noqa: E731
    assert (
        width(large, "precision") < width(small, "precision") / 2
        and width(large, "recall") < width(small, "recall") / 2
    )
    assert intervals({}, {}) == {"precision": None, "recall": None, "resamples": 0}


def test_the_targets_name_the_rules_that_fail_often_and_wrongly():
    rules = {
        "CS-04": {"tp": 2, "fp": 5, "fn": 1},  # 7 failures, precision 0.29: under the floor
        "CS-06": {"tp": 8, "fp": 2, "fn": 1},  # 0.80: over it
        "SA-01": {"tp": 0, "fp": 4, "fn": 0},  # 4 failures: too few to judge
        "SA-04": {"tp": 3, "fp": 2, "fn": 0},  # 0.60 of 5
    }
    total = {k: sum(c[k] for c in rules.values()) for k in ("tp", "fp", "fn")}
    goal = targets({"rules": rules, "total": total})
    assert [w["rule"] for w in goal["rules_under_floor"]] == ["CS-04", "SA-04"]
    assert goal["rules_under_floor"][0] == {"rule": "CS-04", "precision": 0.286, "failures": 7}
    assert not goal["precision_met"] and goal["recall_met"]  # 13 of 26 failures right; 13 of 15 violations found


def test_a_labelled_set_without_a_split_or_second_readings_is_measured_whole(tmp_path, capsys, monkeypatch):
    """A hidden set labelled the same way may hold only verdicts.jsonl: every conversation in it is measured, a
    rule a reader left out is not counted, and an id the data does not hold is named and left out."""
    import json

    from eval import realqa
    from eval.realdata import DEFAULT_DATA

    if not (DEFAULT_DATA / "jddc_uss").is_dir():
        import pytest

        pytest.skip(f"real data not found at {DEFAULT_DATA}")
    cid = "jddc_uss_valid_001"
    verdicts = _gold(cid, {"CS-06"})
    del verdicts["SA-01"]
    rows = [{"id": cid, "verdicts": verdicts}, {"id": "stc3_0", "verdicts": _gold("stc3_0", set())}]
    (tmp_path / "verdicts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["realqa.py", "--labels", str(tmp_path), "--no-models", "--json"])
    assert realqa.main() == 0
    out = capsys.readouterr()
    figures = json.loads(out.out)
    assert figures["conversations"] == 1
    assert figures["total"]["n"] == len(rules_for(cid)) - 1  # SA-01 was not judged
    assert "SA-01" not in figures["rules"]
    assert "stc3_0" in out.err and "split.json" in out.err


def test_a_held_out_split_named_otherwise_is_read_from_a_data_folder_of_one_set(tmp_path, capsys, monkeypatch):
    """The held-out portions are kept apart, perhaps under another file name and with one data set only: every
    `*.jsonl.gz` of `stc3_dch/` (or `jddc_uss/`) is read, and a folder without `jddc_uss/` is still data."""
    import gzip
    import json

    from eval import realqa

    thread = {
        "id": "42",
        "turns": [
            {"sender": "customer", "utterances": ["宽带断了三天了，到现在还没人来修"]},
            {"sender": "helpdesk", "utterances": ["请提供一下您的宽带账号"]},
        ],
    }
    (tmp_path / "data" / "stc3_dch").mkdir(parents=True)
    with gzip.open(tmp_path / "data" / "stc3_dch" / "test_cn.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(thread, ensure_ascii=False) + "\n")
    labels = tmp_path / "labels"
    labels.mkdir()
    verdicts = {"id": "stc3_42", "verdicts": _gold("stc3_42", {"CS-06"})}
    (labels / "verdicts.jsonl").write_text(json.dumps(verdicts) + "\n", encoding="utf-8")
    argv = ["realqa.py", "--labels", str(labels), "--data", str(tmp_path / "data"), "--no-models", "--json"]
    monkeypatch.setattr(sys, "argv", argv)
    english = {**thread, "turns": [{"sender": "customer", "utterances": ["the line is down"]}, thread["turns"][1]]}
    with gzip.open(tmp_path / "data" / "stc3_dch" / "test_en.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(english) + "\n")  # the translation under the same id is not read
    assert realqa.main() == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["conversations"] == 1
    cs06 = figures["rules"]["CS-06"]
    assert (cs06["tp"], cs06["fp"], cs06["fn"]) == (1, 0, 0)  # the failure report, no apology after it


def test_an_id_in_two_data_files_is_an_error_and_an_unknown_part_is_named(tmp_path, monkeypatch):
    import gzip
    import json

    import pytest

    from eval import realqa
    from eval.realdata import conversations

    chat = {"id": "7", "turns": [{"role": "customer", "text": "还没到"}, {"role": "agent", "text": "抱歉"}]}
    (tmp_path / "jddc_uss").mkdir()
    for name in ("a.jsonl.gz", "b.jsonl.gz"):
        with gzip.open(tmp_path / "jddc_uss" / name, "wt", encoding="utf-8") as fh:
            fh.write(json.dumps(chat, ensure_ascii=False) + "\n")
    with pytest.raises(ValueError, match="conversation 7 is in two data files"):
        conversations(tmp_path)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "split.json").write_text(json.dumps({"dev": ["7"], "test": []}), encoding="utf-8")
    (labels / "verdicts.jsonl").write_text(json.dumps({"id": "7", "verdicts": {}}) + "\n", encoding="utf-8")
    argv = ["realqa.py", "--labels", str(labels), "--data", str(tmp_path), "--part", "dev2", "--no-models"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit, match="no part 'dev2'"):
        realqa.main()


def test_the_readers_acts_can_stand_in_for_some_acts_only():
    """`--readers-acts-for failure,request`: those acts are the readers' (every request type for `request`), the
    others stay what the models read, with their own bars."""
    from types import SimpleNamespace

    import numpy as np

    from eval.realqa import readers_acts

    names = ["failure", "anger", "request_refund"]

    class Models:
        def _predict(self, conversations, preps, ids_rows):
            acts = SimpleNamespace(
                names=names,
                index={n: k for k, n in enumerate(names)},
                probs=np.full((2, 3), 0.7),
                thresholds=np.array([0.6, 0.8, 0.9]),
                trained=np.array([False, True, True]),
            )
            return [SimpleNamespace(acts=acts) for _ in conversations]

    models = Models()
    readers_acts(models, {"c1": [["failure"], ["request:refund", "anger"]]}, only=frozenset({"failure", "request"}))
    acts = models._predict([SimpleNamespace(id="c1")], None, None)[0].acts
    assert acts.probs.tolist() == [[1.0, 0.7, 0.0], [0.0, 0.7, 1.0]]
    assert acts.thresholds.tolist() == [0.5, 0.8, 0.5]
    assert acts.trained.tolist() == [True, True, True]
