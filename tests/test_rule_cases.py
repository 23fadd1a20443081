"""Specification tests of the built-in scorecards: tests/cases/*.jsonl against docs/rules.md.

Each line of a case file is one conversation with the statuses some rules must reach on it:

    {"case": "CS-01-fail-burger", "scorecard": "core",
     "expect": {"CS-01": {"status": "fail", "turn": 6}, "SA-01": {"status": "fail", "turn": 1}},
     "conversation": {...canonical conversation, DESIGN.md §2...}}

One test per (case, rule) pair, with ids like "CS-01-fail-burger::CS-01". A case asserts only the
rules in its `expect`; for `fail` the expected turn must be among the finding's evidence turns.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from zuoxi.model import Conversation

CASES_DIR = Path(__file__).parent / "cases"
CASE_FILES = {
    "core.jsonl": "core",
    "ecommerce.jsonl": "ecommerce",
    "complaint.jsonl": "complaint",
    "outbound.jsonl": "outbound",
}

# Every rule ID of DESIGN.md §4; each must have a fail, a pass and an n/a case.
RULE_IDS = [
    "EM-01", "EM-02", "EM-03",
    "SA-01", "SA-02", "SA-03", "SA-04", "SA-05",
    "CS-01", "CS-02", "CS-03", "CS-04", "CS-05", "CS-06", "CS-07", "CS-08",
    "ES-01", "ES-02",
    "EC-01", "EC-02", "EC-03", "EC-04", "EC-05", "EC-06", "EC-07", "EC-08", "EC-09",
    "CP-01", "CP-02", "CP-03", "CP-04", "CP-05", "CP-06",
    "OB-01", "OB-02", "OB-03", "OB-04", "OB-05", "OB-06", "OB-07", "OB-08",
]  # fmt: skip

# Which file holds the cases of which rule family.
FAMILY_FILE = {"EM": "core.jsonl", "SA": "core.jsonl", "CS": "core.jsonl", "ES": "core.jsonl",
               "EC": "ecommerce.jsonl", "CP": "complaint.jsonl", "OB": "outbound.jsonl"}  # fmt: skip

STATUSES = ("pass", "fail", "n/a")


def _load_cases() -> list[dict[str, Any]]:
    cases = []
    for file_name in CASE_FILES:
        path = CASES_DIR / file_name
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            case = json.loads(line)
            case["_where"] = f"{file_name}:{lineno}"
            case["_file"] = file_name
            cases.append(case)
    return cases


CASES = _load_cases()
CASES_BY_NAME = {case["case"]: case for case in CASES}
PAIRS = [pytest.param(case["case"], rule, id=f"{case['case']}::{rule}") for case in CASES for rule in case["expect"]]


@cache
def _analyze(case_name: str):
    """Each case is analysed once, however many of its rules are asserted."""
    from zuoxi.pipeline import analyze_conversation

    case = CASES_BY_NAME[case_name]
    conversation = Conversation.model_validate(case["conversation"])
    return analyze_conversation(conversation, scorecard=case["scorecard"])


@pytest.mark.parametrize(("case_name", "rule"), PAIRS)
def test_rule_case(case_name: str, rule: str) -> None:
    case = CASES_BY_NAME[case_name]
    expected = case["expect"][rule]
    result = _analyze(case_name)

    findings = [f for f in result.findings if f.rule == rule]
    assert len(findings) == 1, (
        f"{case['_where']}: expected exactly one {rule} finding on scorecard {case['scorecard']!r}, got {len(findings)}"
    )
    finding = findings[0]
    evidence_turns = [e.turn for e in finding.evidence]
    assert finding.status == expected["status"], (
        f"{case['_where']} {case_name}: {rule} is {finding.status!r}, expected {expected['status']!r} "
        f"(evidence turns {evidence_turns}, message {finding.message!r})"
    )
    if expected["status"] == "fail":
        assert expected["turn"] in evidence_turns, (
            f"{case['_where']} {case_name}: {rule} failed as expected, but its evidence turns "
            f"{evidence_turns} do not include turn {expected['turn']}"
        )


def test_every_rule_has_fail_pass_and_na_cases() -> None:
    seen: dict[str, set[str]] = {rule: set() for rule in RULE_IDS}
    for case in CASES:
        for rule, expected in case["expect"].items():
            assert rule in seen, f"{case['_where']}: unknown rule ID {rule}"
            seen[rule].add(expected["status"])
    missing = {rule: sorted(set(STATUSES) - statuses) for rule, statuses in seen.items() if set(STATUSES) - statuses}
    assert not missing, f"rules lacking a case for some status: {missing}"


@pytest.mark.parametrize("case_name", [case["case"] for case in CASES])
def test_case_is_a_valid_conversation(case_name: str) -> None:
    case = CASES_BY_NAME[case_name]
    conversation = Conversation.model_validate(case["conversation"])
    assert conversation.turns


def test_case_files_are_well_formed() -> None:
    names = [case["case"] for case in CASES]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"duplicate case names: {duplicates}"
    ids = [case["conversation"]["id"] for case in CASES]
    assert len(ids) == len(set(ids)), "duplicate conversation ids"

    for case in CASES:
        where = case["_where"]
        assert set(case) >= {"case", "scorecard", "expect", "conversation"}, where
        assert case["scorecard"] == CASE_FILES[case["_file"]], f"{where}: scorecard does not match its file"
        assert 1 <= len(case["expect"]) <= 4, f"{where}: a case asserts 1–4 rules"
        n_turns = len(case["conversation"]["turns"])
        for rule, expected in case["expect"].items():
            assert FAMILY_FILE[rule[:2]] == case["_file"], f"{where}: {rule} belongs in {FAMILY_FILE[rule[:2]]}"
            assert expected["status"] in STATUSES, f"{where}: {rule} has status {expected['status']!r}"
            if expected["status"] == "fail":
                assert isinstance(expected.get("turn"), int), f"{where}: {rule} fail needs an evidence turn"
                assert 0 <= expected["turn"] < n_turns, f"{where}: {rule} turn out of range"
            else:
                assert "turn" not in expected, f"{where}: {rule} {expected['status']} takes no turn"
