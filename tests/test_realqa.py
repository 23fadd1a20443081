"""eval/realqa.py's counting: per rule, overall and per data source."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.label_tools import rules_for
from eval.realqa import score


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
