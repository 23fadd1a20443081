"""How right the QA rules are on real conversations, against verdicts written by careful reading.

    python eval/realqa.py                      # the test part: per rule and overall, readers' agreement, act F1
    python eval/realqa.py --part dev --errors  # the dev part, with every false alarm and miss listed
    python eval/realqa.py --part tuning --acts DIR  # dev + dev2 + dev3, act models trained without them
    python eval/realqa.py --labels DIR --data DIR   # another labelled set, e.g. a hidden one: verdicts.jsonl is
                                               # enough (no split.json: all of it is measured); DIR/jddc_uss and
                                               # DIR/stc3_dch are read whole (every *.jsonl.gz, either may be absent)

A rule's failure is right when the readers found a violation of that rule in that conversation
(precision = right failures ÷ failures; recall = right failures ÷ violations). The readers' own
agreement (Cohen's kappa on violation / no violation, between two independent readings of a fifth
of the conversations) stands beside it: no tool is expected to agree with a reader better than
readers agree with each other. docs/labelling.md says how the labels were made.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.label_tools import AGENT_ACTS, CUSTOMER_ACTS, rules_for
from eval.realdata import DEFAULT_DATA, LABELS, conversations, read_jsonl
from zuoxi.analyze.models.acts import ACT_NAMES
from zuoxi.pipeline import analyze_conversations


def kappa(a: list[bool], b: list[bool]) -> float | None:
    n = len(a)
    if not n:
        return None
    agree = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    return None if chance == 1 else (agree - chance) / (1 - chance)


def readers_acts(models, labels: dict[str, list[list[str]]], only: frozenset[str] | None = None) -> None:
    """Make `models` hand the rules the readers' own acts (probability 1 where labelled) instead of the
    turn models': how right the rules would be with acts read as well as people read them. With `only`, just
    those acts are the readers' and the rest the models' (`request` stands for every request type): which
    act's reading costs the rules most."""
    import numpy as np

    predict = type(models)._predict

    def with_labels(self, conversations, preps, ids_rows):
        out = predict(self, conversations, preps, ids_rows)
        for conversation, prediction in zip(conversations, out):
            acts, labelled = prediction.acts, labels.get(conversation.id)
            if acts is None or labelled is None:
                continue
            keys = [
                k for k in acts.names if only is None or k in only or (k.startswith("request_") and "request" in only)
            ]
            columns = [acts.index[k] for k in keys]
            probs = acts.probs.copy()
            probs[:, columns] = 0.0
            for turn, names in enumerate(labelled):
                for name in names:
                    act, _, arg = name.partition(":")
                    for key in (act, f"request_{arg}" if act == "request" else None):
                        if key in keys:
                            probs[turn, acts.index[key]] = 1.0
            thresholds = np.array(acts.thresholds, dtype=float)
            trained = np.array(acts.trained, dtype=bool)
            thresholds[columns], trained[columns] = 0.5, True
            acts.probs, acts.thresholds, acts.trained = probs, thresholds, trained
        return out

    models._predict = with_labels.__get__(models)


def tool_failures(ids: list[str], convs, models: bool = True) -> dict[str, dict[str, list[int]]]:
    """conversation → rule → evidence turns of each failed rule."""
    results = analyze_conversations([convs[i] for i in ids], models=models)
    return {
        i: {f.rule: sorted({e.turn for e in f.evidence}) for f in r.findings if f.status == "fail"}
        for i, r in zip(ids, results)
    }


def score(
    gold: dict[str, dict], failures: dict[str, dict[str, list[int]]], sources: dict[str, str] | None = None
) -> dict:
    """Counts per rule, overall, and per data source (a JD chat reads differently from a Weibo thread)."""
    per_rule: dict[str, Counter] = defaultdict(Counter)
    per_source: dict[str, Counter] = defaultdict(Counter)
    for cid, verdicts in gold.items():
        for rule in rules_for(cid):
            if rule not in verdicts:  # not judged by the readers: not counted
                continue
            g = verdicts[rule]["v"] == "violation"
            p = rule in failures[cid]
            for c in (per_rule[rule], per_source[(sources or {}).get(cid, "")]):
                c["tp"] += g and p
                c["fp"] += p and not g
                c["fn"] += g and not p
                c["n"] += 1
                if g and p and verdicts[rule].get("turn") in failures[cid][rule]:
                    c["turn"] += 1
    total = sum(per_rule.values(), Counter())
    return {
        "rules": {r: dict(c) for r, c in sorted(per_rule.items())},
        "total": dict(total),
        "sources": {src: dict(c) for src, c in sorted(per_source.items()) if src},
    }


def intervals(
    gold: dict[str, dict], failures: dict[str, dict[str, list[int]]], resamples: int = 2000, seed: int = 0
) -> dict:
    """95 % bootstrap intervals of overall precision and recall, conversations drawn with replacement: a
    test part of a hundred-odd conversations moves by several points with the draw, and a change smaller
    than that is not shown to be better by these figures alone. Deterministic for a given seed."""
    import numpy as np

    counts = np.array(
        [
            [
                sum(c[k] for c in score({cid: verdicts}, {cid: failures[cid]})["rules"].values())
                for k in ("tp", "fp", "fn")
            ]
            for cid, verdicts in gold.items()
        ],
        dtype=float,
    ).reshape(-1, 3)
    if not len(counts):
        return {"precision": None, "recall": None, "resamples": 0}
    draws = np.random.default_rng(seed).integers(0, len(counts), size=(resamples, len(counts)))
    tp, fp, fn = counts[draws].sum(axis=1).T
    out: dict = {"resamples": resamples}
    for name, denominator in (("precision", tp + fp), ("recall", tp + fn)):
        ok = denominator > 0
        ratio = tp[ok] / denominator[ok]
        out[name] = [round(float(q), 3) for q in np.percentile(ratio, [2.5, 97.5])] if ok.any() else None
    return out


def pr(c: dict) -> tuple[float | None, float | None]:
    tp, fp, fn = c.get("tp", 0), c.get("fp", 0), c.get("fn", 0)
    return (tp / (tp + fp) if tp + fp else None), (tp / (tp + fn) if tp + fn else None)


# The targets (docs/accuracy.md): overall precision and recall, and a floor for every rule that fails often.
TARGET_PRECISION, TARGET_RECALL = 0.85, 0.70
RULE_PRECISION, RULE_MIN_FAILURES = 0.75, 5


def targets(figures: dict) -> dict:
    """Which targets the figures meet: overall precision and recall, and the rules that fail at least
    RULE_MIN_FAILURES times with precision under RULE_PRECISION (worst first)."""
    p, r = pr(figures["total"])
    weak = []
    for rule, c in figures["rules"].items():
        failures = c.get("tp", 0) + c.get("fp", 0)
        rp = pr(c)[0]
        if failures >= RULE_MIN_FAILURES and rp is not None and rp < RULE_PRECISION:
            weak.append({"rule": rule, "precision": round(rp, 3), "failures": failures})
    return {
        "precision_met": p is not None and p >= TARGET_PRECISION,
        "recall_met": r is not None and r >= TARGET_RECALL,
        "rules_under_floor": sorted(weak, key=lambda w: (w["precision"], w["rule"])),
    }


def agreement(first: dict[str, dict], second: dict[str, dict]) -> dict:
    per_rule: dict[str, tuple[list[bool], list[bool]]] = defaultdict(lambda: ([], []))
    for cid, verdicts in second.items():
        if cid not in first:
            continue
        for rule in rules_for(cid):
            if rule not in first[cid] or rule not in verdicts:
                continue
            a, b = per_rule[rule]
            a.append(first[cid][rule]["v"] == "violation")
            b.append(verdicts[rule]["v"] == "violation")
    every_a = [x for a, _ in per_rule.values() for x in a]
    every_b = [x for _, b in per_rule.values() for x in b]
    return {
        "conversations": len(set(first) & set(second)),
        "kappa": kappa(every_a, every_b),
        "agreement": sum(x == y for x, y in zip(every_a, every_b)) / len(every_a) if every_a else None,
        "rules": {r: kappa(a, b) for r, (a, b) in sorted(per_rule.items())},
    }


def act_f1(ids: list[str], convs, labels: dict[str, list[list[str]]]) -> dict[str, dict]:
    """Per act: F1 of the turn models' acts against the readers' on the turns of `ids`."""
    from zuoxi.analyze.models import load_models

    counts: dict[str, Counter] = defaultdict(Counter)
    predictions = load_models().predict_many([convs[i] for i in ids])
    for cid, prediction in zip(ids, predictions):
        acts = getattr(prediction, "acts", None)
        if acts is None:  # models without the turn acts
            return {}
        for turn, gold in enumerate(labels[cid]):
            gold_names = {g.split(":")[0] for g in gold}
            predicted = set(acts.names_of(turn))
            names = AGENT_ACTS if convs[cid].turns[turn].role == "agent" else CUSTOMER_ACTS
            for name in names:
                c = counts[name]
                c["tp"] += name in gold_names and name in predicted
                c["fp"] += name in predicted and name not in gold_names
                c["fn"] += name in gold_names and name not in predicted
    out = {}
    for name, c in sorted(counts.items()):
        p, r = pr(c)
        f1 = 2 * p * r / (p + r) if p and r else 0.0
        out[name] = {"f1": f1, "precision": p, "recall": r, "support": c["tp"] + c["fn"]}
    return out


def act_agreement(first: dict[str, list[list[str]]], second: dict[str, list[list[str]]], convs) -> dict[str, dict]:
    """Per act: Cohen's kappa and F1 between two independent readers' acts on the same turns."""
    pairs: dict[str, tuple[list[bool], list[bool]]] = defaultdict(lambda: ([], []))
    for cid, acts in second.items():
        if cid not in first:
            continue
        for turn, (a, b) in enumerate(zip(first[cid], acts)):
            names = AGENT_ACTS if convs[cid].turns[turn].role == "agent" else CUSTOMER_ACTS
            sa, sb = {x.split(":")[0] for x in a}, {x.split(":")[0] for x in b}
            for name in names:
                pairs[name][0].append(name in sa)
                pairs[name][1].append(name in sb)
    out = {}
    for name, (a, b) in sorted(pairs.items()):
        both = sum(x and y for x, y in zip(a, b))
        f1 = 2 * both / (sum(a) + sum(b)) if sum(a) + sum(b) else None
        out[name] = {"kappa": kappa(a, b), "f1": f1, "turns": len(a)}
    return out


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--part",
        choices=["dev", "dev2", "dev3", "tuning", "test", "all"],
        default="test",
        help="test (reported), dev, dev2 or dev3 (tuned on), tuning (the three), all (dev and test)",
    )
    ap.add_argument("--labels", type=Path, default=LABELS, help="folder with split.json, verdicts*.jsonl, acts.jsonl")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="../shared/data")
    ap.add_argument("--no-models", action="store_true", help="rules without the trained models")
    ap.add_argument("--acts", type=Path, help="act models from this folder (e.g. trained without the dev part)")
    ap.add_argument(
        "--readers-acts",
        action="store_true",
        help="the rules on the readers' own acts instead of the turn models' (what better act models would give)",
    )
    ap.add_argument(
        "--readers-acts-for",
        metavar="ACT,ACT",
        help="the readers' own acts for these acts only (e.g. failure,anger; request = every request type), the "
        "models' for the rest (with --acts, that folder's): what reading one act as well as people would give",
    )
    ap.add_argument(
        "--errors",
        action="store_true",
        help="list every false alarm and miss, and right failures whose evidence is not on the readers' turn (dev work)",
    )
    ap.add_argument("--json", action="store_true", help="the figures as one JSON object")
    return ap.parse_args()


def _use_acts(a: argparse.Namespace, acts: dict) -> None:
    """Swap the act heads analysis reads: another folder's (`--acts`), or the readers' own (`--readers-acts`)."""
    from zuoxi.analyze.models import load_models
    from zuoxi.analyze.models.acts import ActModel

    models = load_models()
    if a.acts:
        models.acts = ActModel.load(a.acts, models.vocab)
    if a.readers_acts or a.readers_acts_for:
        only = frozenset(x.strip() for x in a.readers_acts_for.split(",") if x.strip()) if a.readers_acts_for else None
        unknown = sorted(only - ACT_NAMES - {"request"}) if only else []
        if unknown:
            raise SystemExit(f"--readers-acts-for: no act {unknown[0]!r}")
        readers_acts(models, acts, only)


def _part(labels: Path, part: str, labelled: set[str]) -> tuple[set[str], str]:
    """The ids of a part from `split.json`, and what to call them; every labelled conversation where a set
    has no split (a hidden set labelled the same way is all test)."""
    path = labels / "split.json"
    if not path.exists():
        print(f"{path} not found: every labelled conversation is measured", file=sys.stderr)
        return labelled, "every labelled conversation (no split.json)"
    split = json.loads(path.read_text(encoding="utf-8"))
    parts = {"all": ("dev", "test"), "tuning": ("dev", "dev2", "dev3")}.get(part, (part,))
    missing = [name for name in parts if name not in split]
    if missing:
        raise SystemExit(f"{path}: no part {missing[0]!r} (it has {', '.join(sorted(split))})")
    return {i for name in parts for i in split[name]}, f"{part} part"


def main() -> int:
    a = _arguments()
    if not any((a.data / name).is_dir() for name in ("jddc_uss", "stc3_dch")):
        print(f"real data not found at {a.data}", file=sys.stderr)
        return 2
    first = {r["id"]: r["verdicts"] for r in read_jsonl(a.labels / "verdicts.jsonl")}
    if not first:
        print(f"no verdicts in {a.labels / 'verdicts.jsonl'}", file=sys.stderr)
        return 2
    second = {r["id"]: r["verdicts"] for r in read_jsonl(a.labels / "verdicts_second.jsonl")}
    wanted, title = _part(a.labels, a.part, set(first))
    convs = conversations(a.data)
    unknown = sorted(i for i in first if i in wanted and i not in convs)
    if unknown:
        print(
            f"{len(unknown)} labelled conversations are not in {a.data} and were left out (e.g. {unknown[0]}): "
            "jddc_uss ids as in the data, stc3_dch ids prefixed stc3_",
            file=sys.stderr,
        )
    gold = {i: v for i, v in first.items() if i in wanted and i in convs}
    ids = sorted(gold)
    acts = {r["id"]: r["acts"] for r in read_jsonl(a.labels / "acts.jsonl")}
    if a.acts or a.readers_acts or a.readers_acts_for:
        _use_acts(a, acts)
    failures = tool_failures(ids, convs, models=not a.no_models)
    figures = score(gold, failures, {i: str(convs[i].meta.get("source", "")) for i in ids})
    figures["part"], figures["conversations"] = a.part, len(ids)
    figures["targets"] = targets(figures)
    figures["intervals"] = intervals(gold, failures)
    figures["readers"] = agreement(first, {i: v for i, v in second.items() if i in wanted})
    act_ids = [i for i in ids if i in acts]
    if not a.no_models and act_ids and not (a.readers_acts or a.readers_acts_for):
        figures["acts"] = act_f1(act_ids, convs, acts)
    figures["act_readers"] = act_agreement(
        acts, {r["id"]: r["acts"] for r in read_jsonl(a.labels / "acts_second.jsonl")}, convs
    )
    if a.json:
        print(json.dumps(figures, ensure_ascii=False, indent=1))
        return 0
    _print_rules(title, len(ids), figures)
    if "acts" in figures:
        _print_acts(figures, len(act_ids), len(read_jsonl(a.labels / "acts_second.jsonl")))
    if a.errors:
        _print_errors(ids, gold, failures)
    return 0


def _print_rules(part: str, conversations: int, figures: dict) -> None:
    p, r = pr(figures["total"])
    t = figures["total"]
    print(
        f"{part}: {conversations} conversations, {t.get('n', 0)} rule verdicts, "
        f"{t.get('tp', 0) + t.get('fn', 0)} violations found by the readers, {t.get('tp', 0) + t.get('fp', 0)} failures by zuoxi"
    )
    print(
        f"overall: precision {_fmt(p)}  recall {_fmt(r)}  (right failures {t.get('tp', 0)}, false alarms "
        f"{t.get('fp', 0)}, misses {t.get('fn', 0)}; evidence on the readers' turn in {t.get('turn', 0)} of {t.get('tp', 0)})"
    )
    ci = figures.get("intervals") or {}
    if ci.get("precision") and ci.get("recall"):
        print(
            f"  95 % interval over {ci['resamples']} resamples of the conversations: precision "
            f"{_fmt(ci['precision'][0])}–{_fmt(ci['precision'][1])}, recall {_fmt(ci['recall'][0])}–{_fmt(ci['recall'][1])}"
        )
    for source, c in figures.get("sources", {}).items():
        sp, sr = pr(c)
        print(
            f"  {source}: precision {_fmt(sp)}  recall {_fmt(sr)}  (right failures {c.get('tp', 0)}, false alarms "
            f"{c.get('fp', 0)}, misses {c.get('fn', 0)})"
        )
    readers = figures["readers"]
    print(
        f"readers: {readers['conversations']} conversations read twice, kappa {_fmt(readers['kappa'])}, "
        f"agreement {_fmt(readers['agreement'])}"
    )
    goal = figures["targets"]
    under = ", ".join(f"{w['rule']} {w['precision']:.2f} of {w['failures']}" for w in goal["rules_under_floor"])
    print(
        f"targets: precision ≥ {TARGET_PRECISION} {'met' if goal['precision_met'] else 'not met'}, recall ≥ "
        f"{TARGET_RECALL} {'met' if goal['recall_met'] else 'not met'}; rules failing ≥ {RULE_MIN_FAILURES} times "
        f"under precision {RULE_PRECISION}: {under or 'none'}"
    )
    print("\n| rule | verdicts | violations | failures | precision | recall | readers' kappa |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for rule, c in figures["rules"].items():
        rp, rr = pr(c)
        print(
            f"| {rule} | {c['n']} | {c.get('tp', 0) + c.get('fn', 0)} | {c.get('tp', 0) + c.get('fp', 0)} | "
            f"{_fmt(rp)} | {_fmt(rr)} | {_fmt(readers['rules'].get(rule))} |"
        )


def _print_acts(figures: dict, conversations: int, readers_n: int) -> None:
    print(
        f"\nturn models against the readers' acts ({conversations} conversations of this part); beside them, two "
        f"readers' agreement on the acts of {readers_n} test conversations read twice\n"
    )
    print("| act | support | precision | recall | F1 | readers' F1 | readers' kappa |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, f in figures["acts"].items():
        r = figures["act_readers"].get(name, {})
        print(
            f"| {name} | {f['support']} | {_fmt(f['precision'])} | {_fmt(f['recall'])} | {_fmt(f['f1'])} | "
            f"{_fmt(r.get('f1'))} | {_fmt(r.get('kappa'))} |"
        )


def _print_errors(ids: list[str], gold: dict, failures: dict) -> None:
    print(
        "\nerrors (FP = zuoxi failed, readers did not; FN = readers found a violation zuoxi missed; "
        "TURN = a right failure whose evidence does not show the readers' turn)"
    )
    for cid in ids:
        for rule in rules_for(cid):
            g = gold[cid].get(rule)
            if g is None:
                continue
            fail = failures[cid].get(rule)
            if (g["v"] == "violation") != (fail is not None):
                kind = "FN" if fail is None else "FP"
            elif fail is not None and g.get("turn") not in fail:
                kind = "TURN"
            else:
                continue
            print(f"{kind} {rule} {cid} gold={g['v']} turn={g.get('turn')} tool={fail} {g.get('why', '')}")


if __name__ == "__main__":
    raise SystemExit(main())
