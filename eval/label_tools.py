"""Tools of the labelling work behind eval/labels/ (docs/labelling.md).

    python eval/label_tools.py split                 # draw the evaluation set and the act set (fixed seed)
    python eval/label_tools.py packets OUT_DIR       # reading packets for labellers (texts: outside the repo)
    python eval/label_tools.py extend N              # draw tuning part devN (N = 2, 3; fixed seed)
    python eval/label_tools.py packets2 N OUT_DIR    # its reading packets (verdicts), and a fifth read twice
    python eval/label_tools.py check FILE…           # validate labellers' output files
    python eval/label_tools.py collect FILE…         # merge checked output into eval/labels/*.jsonl

Packet names say what they ask for: E… acts and verdicts, A… acts, B… acts of more stc3_dch threads
(half of them drawn among threads holding words of rarer acts: complaints, refusals, guarantees…), C… the
rest of stc3_dch,
D… a second reading of verdicts, X… a second reading of acts (independent readers, for agreement), F… the
verdicts of dev2 (a second tuning part drawn on 2026-12-06 among the act-labelled dialogues outside the
evaluation, because the first dev part held too few cases of some rules to tune them on), G… a second
reading of a fifth of dev2; H… and I… the same for dev3.

Packets hold the texts and so live outside the repository; what comes back (acts, verdicts, ids, turn
numbers, the labeller's own notes) is ours and is committed.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.realdata import LABELS, conversations, read_jsonl, split
from zuoxi.analyze.models.acts import AGENT_ACTS, CUSTOMER_ACTS, REQUEST_TYPES

SEED = 20261205
CORE_RULES = (
    "EM-01",
    "EM-02",
    "EM-03",
    "SA-01",
    "SA-02",
    "SA-03",
    "SA-04",
    "SA-05",
    "CS-01",
    "CS-03",
    "CS-04",
    "CS-05",
    "CS-06",
    "CS-08",
    "ES-01",
    "ES-02",
)
EC_RULES = ("EC-03", "EC-04", "EC-05", "EC-06", "EC-07", "EC-08", "EC-09")
VERDICTS = ("violation", "ok", "na")


def rules_for(conv_id: str) -> tuple[str, ...]:
    return CORE_RULES + (EC_RULES if conv_id.startswith("jddc") else ())


def _shuffled() -> tuple[list[str], list[str]]:
    """The jddc_uss and stc3_dch ids in the fixed order every part of the split is drawn from."""
    convs = conversations()
    jddc = sorted(i for i in convs if i.startswith("jddc"))
    stc = sorted(i for i in convs if i.startswith("stc3"))
    rng = random.Random(SEED)
    rng.shuffle(jddc)
    rng.shuffle(stc)
    return jddc, stc


def make_split() -> None:
    jddc, stc = _shuffled()
    ev_j, ev_s = jddc[:130], stc[:140]
    dev = sorted(ev_j[:65] + ev_s[:70])
    test = sorted(ev_j[65:] + ev_s[70:])
    # the second reading: a fifth and more of the evaluation set, half dev, half test, both sources
    second = sorted(ev_j[:14] + ev_j[65:79] + ev_s[:14] + ev_s[70:84])
    acts_only = sorted(jddc[130:] + stc[140:600])
    LABELS.mkdir(parents=True, exist_ok=True)
    (LABELS / "split.json").write_text(
        json.dumps(
            {"seed": SEED, "dev": dev, "test": test, "second": second, "acts_only": acts_only},
            ensure_ascii=False,
            indent=0,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"dev {len(dev)}, test {len(test)}, second {len(second)}, acts only {len(acts_only)}")


TUNING_PACKETS = {2: ("F", "G"), 3: ("H", "I")}  # dev2, dev3: packet letters of the first and the second reading


def extend(n: int) -> None:
    """Add dev{n} — 60 jddc_uss chats and 60 stc3_dch threads next in the split's shuffled order, all outside
    the evaluation's dev and test parts and the earlier tuning parts (their acts train the act models: tune on
    them with act models trained without them) — and second{n}, a fifth of it read twice."""
    jddc, stc = _shuffled()
    s = split()
    assert sorted(jddc[:65] + stc[:70]) == s["dev"], "the data's order changed: the part would not be drawn as it was"
    j, t = 130 + 60 * (n - 2), 140 + 60 * (n - 2)
    s[f"dev{n}"] = sorted(jddc[j : j + 60] + stc[t : t + 60])
    s[f"second{n}"] = sorted(jddc[j : j + 12] + stc[t : t + 12])
    (LABELS / "split.json").write_text(json.dumps(s, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"dev{n} {len(s[f'dev{n}'])}, second{n} {len(s[f'second{n}'])}")


def make_tuning_packets(n: int, out: Path) -> None:
    """dev{n}'s verdict packets (about 30 conversations each, the two sources mixed) and its second reading."""
    convs, s = conversations(), split()
    rng = random.Random(SEED + n)
    first, second = list(s[f"dev{n}"]), list(s[f"second{n}"])
    rng.shuffle(first)
    rng.shuffle(second)
    out.mkdir(parents=True, exist_ok=True)
    for prefix, ids, size in zip(TUNING_PACKETS[n], (first, second), (30, 24)):
        for k, begin in enumerate(range(0, len(ids), size), 1):
            text = "\n".join(_render(convs[i], "verdicts") for i in ids[begin : begin + size])
            (out / f"{prefix}{k:02d}.txt").write_text(text, encoding="utf-8")
        print(f"{prefix}: {(len(ids) + size - 1) // size} packets")


def _render(conv, kind: str) -> str:
    source = "京东客服聊天" if conv.id.startswith("jddc") else "微博客服"
    lines = [f"### {conv.id}  [{source}]  task: {kind}  turns: {len(conv.turns)}"]
    for i, t in enumerate(conv.turns):
        who = "客服" if t.role == "agent" else "客户"
        lines.append(f"t{i} [{who}] {t.text}")
    return "\n".join(lines) + "\n"


def make_packets(out: Path) -> None:
    """Packets of about 200–250 turns: eval dialogues (acts + verdicts) first, then acts only, then the
    second reading (verdicts only)."""
    convs, s = conversations(), split()
    evaluation = s["dev"] + s["test"]
    rng = random.Random(SEED + 1)
    rng.shuffle(evaluation)
    plan = [("E", "acts+verdicts", evaluation), ("A", "acts", s["acts_only"]), ("D", "verdicts", s["second"])]
    out.mkdir(parents=True, exist_ok=True)
    for prefix, kind, ids in plan:
        packet, turns, n = [], 0, 0
        for i, conv_id in enumerate(ids):
            packet.append(_render(convs[conv_id], kind))
            turns += len(convs[conv_id].turns)
            if turns >= 220 or i == len(ids) - 1:
                n += 1
                (out / f"{prefix}{n:02d}.txt").write_text("\n".join(packet), encoding="utf-8")
                packet, turns = [], 0
        print(f"{prefix}: {n} packets")


def check_record(rec: dict, convs, kind: str) -> list[str]:
    conv = convs.get(rec.get("id"))
    if conv is None:
        return [f"unknown id {rec.get('id')!r}"]
    problems = []
    if "acts" in kind:
        problems += _act_problems(rec, conv)
    if "verdicts" in kind:
        problems += _verdict_problems(rec, conv)
    return problems


def _act_problems(rec: dict, conv) -> list[str]:
    where, acts = rec["id"], rec.get("acts")
    if not isinstance(acts, list) or len(acts) != len(conv.turns):
        return [f"{where}: acts must be a list of {len(conv.turns)} lists (one per turn)"]
    problems = []
    for i, (turn, labels) in enumerate(zip(conv.turns, acts)):
        allowed = AGENT_ACTS if turn.role == "agent" else CUSTOMER_ACTS
        for label in labels:
            name, _, arg = str(label).partition(":")
            if name not in allowed:
                problems.append(f"{where} t{i}: {label!r} is not a {turn.role} act")
            elif name == "request" and arg not in REQUEST_TYPES:
                problems.append(f"{where} t{i}: request type {arg!r} not one of {REQUEST_TYPES}")
            elif name == "propose" and not arg:
                problems.append(f"{where} t{i}: propose needs a key (propose:到货拒签)")
    return problems


def _verdict_problems(rec: dict, conv) -> list[str]:
    where, verdicts = rec["id"], rec.get("verdicts") or {}
    problems = []
    for rule in rules_for(conv.id):
        v = verdicts.get(rule)
        if not isinstance(v, dict) or v.get("v") not in VERDICTS:
            problems.append(f"{where}: {rule} needs a verdict ({'/'.join(VERDICTS)})")
        elif v["v"] == "violation" and not (isinstance(v.get("turn"), int) and 0 <= v["turn"] < len(conv.turns)):
            problems.append(f"{where}: {rule} violation needs a valid turn (0–{len(conv.turns) - 1})")
    extra = set(verdicts) - set(rules_for(conv.id))
    if extra:
        problems.append(f"{where}: rules out of scope: {sorted(extra)}")
    return problems


def _kind(path: Path) -> str:
    return {
        "E": "acts+verdicts",
        "A": "acts",
        "B": "acts",
        "C": "acts",
        "D": "verdicts",
        "X": "second acts",
        "F": "first verdicts",
        "G": "verdicts",
        "H": "first verdicts",
        "I": "verdicts",
    }[path.name[0]]


def check(paths: list[Path]) -> int:
    convs = conversations()
    bad = 0
    for path in paths:
        records = read_jsonl(path)
        packet = Path(str(path).replace("/out/", "/packets/")).with_suffix(".txt")
        expected = (
            [line.split()[1] for line in packet.read_text(encoding="utf-8").splitlines() if line.startswith("### ")]
            if packet.exists()
            else None
        )
        problems = [p for rec in records for p in check_record(rec, convs, _kind(path))]
        if expected is not None and sorted(r.get("id") for r in records) != sorted(expected):
            missing = sorted(set(expected) - {r.get("id") for r in records})
            problems.append(f"ids differ from the packet; missing {missing}")
        bad += bool(problems)
        print(f"{path.name}: {len(records)} records, " + ("ok" if not problems else f"{len(problems)} problems"))
        for p in problems[:30]:
            print("   ", p)
    return 1 if bad else 0


def collect(paths: list[Path]) -> None:
    """Merge checked outputs into eval/labels: acts.jsonl, verdicts.jsonl, verdicts_second.jsonl."""
    files = {
        "acts": LABELS / "acts.jsonl",
        "verdicts": LABELS / "verdicts.jsonl",
        "second": LABELS / "verdicts_second.jsonl",
        "second acts": LABELS / "acts_second.jsonl",
    }
    merged = {name: {r["id"]: r for r in read_jsonl(path)} for name, path in files.items()}
    for path in paths:
        kind = _kind(path)
        for rec in read_jsonl(path):
            if kind == "second acts":
                merged["second acts"][rec["id"]] = {"id": rec["id"], "acts": rec["acts"]}
            elif "acts" in kind:
                merged["acts"][rec["id"]] = {"id": rec["id"], "acts": rec["acts"]}
            if kind in ("acts+verdicts", "first verdicts"):
                merged["verdicts"][rec["id"]] = {"id": rec["id"], "verdicts": rec["verdicts"]}
            if kind == "verdicts":
                merged["second"][rec["id"]] = {"id": rec["id"], "verdicts": rec["verdicts"]}
    for name, path in files.items():
        rows = [merged[name][k] for k in sorted(merged[name])]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{path.relative_to(LABELS.parent.parent)}: {len(rows)} conversations")


if __name__ == "__main__":
    command, *rest = sys.argv[1:] or ["help"]
    if command == "split":
        make_split()
    elif command == "packets":
        make_packets(Path(rest[0]))
    elif command == "extend":
        extend(int(rest[0]))
    elif command == "packets2":
        make_tuning_packets(int(rest[0]), Path(rest[1]))
    elif command == "check":
        raise SystemExit(check([Path(p) for p in rest]))
    elif command == "collect":
        collect([Path(p) for p in rest])
    else:
        print(__doc__)
