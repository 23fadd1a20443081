"""Which behaviours go with satisfied customers in real data (issue 23), printed as evidence.

Runs zuoxi's analysis (`zuoxi.pipeline.analyze_conversations`, models on) over the real
dialogues of ../shared/data and measures each behaviour's association with the real labels, raw
and within strata (zuoxi.effects, the same code as the 技能价值 page):
- jddc_uss (330 JD.com chats, `ecommerce` scorecard): the dialogue's overall satisfaction
  (`overall_sat3`: 2 satisfied, 0 dissatisfied); strata: length band, opening mood and the
  customer's first intent (the six most frequent, else 其他);
- stc3_dch (3,700 Weibo helpdesk dialogues, `core` scorecard): the mean of 19 annotators'
  S-score (customer satisfaction, −2…2) and A-score (task accomplished); strata: length band and
  opening mood.
Then it compares the scorecards' point weights with the real-label effects (Spearman) and prints
the weights that would follow them (suggested, never applied).

The models were trained on these same data sets, so their predictions here are in-sample; the
real labels are not, and the rules never saw them. Re-run it after the rules change:

    python eval/skill_effects.py [--data ../shared/data] [--write docs/skill_effects.md]

`--write` replaces the block between the `skill_effects:begin/end` markers of that file with what
this run printed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import realdata
from _common import note
from scipy.stats import spearmanr

from zuoxi.effects.behaviours import OUTCOMES, BehaviourEffect, Outcome, behaviour_effects, observe, suggest_weights
from zuoxi.pipeline import analyze_conversations
from zuoxi.rules.engine import get_scorecard

BEGIN, END = "<!-- skill_effects:begin -->", "<!-- skill_effects:end -->"
TOP_INTENTS = 6
JDDC = {
    o.id: o
    for o in (
        Outcome("satisfied", "真实满意率（overall_sat3 = 2）", "rate", +1, real=True),
        Outcome("dissatisfied", "真实不满意率（overall_sat3 = 0）", "rate", -1, real=True),
    )
}
STC3 = {
    o.id: o
    for o in (
        Outcome("S", "S 分（19 人平均，−2…2）", "mean", +1, real=True, percent=False),
        Outcome("A", "A 分（任务完成，19 人平均）", "mean", +1, real=True, percent=False),
    )
}
MODEL = {k: OUTCOMES[k] for k in ("p_satisfied", "complaint")}


def jddc_observations(data: Path):
    raw = {d["id"]: d for d in realdata._lines(data / "jddc_uss" / "dialogues.jsonl.gz")}

    def intent(d):
        return next(
            (
                t["labels"]["action"]
                for t in d["turns"]
                if t["role"] == "customer" and t["labels"].get("action") not in (None, "OTHER")
            ),
            "其他",
        )

    common = {i for i, _ in Counter(intent(d) for d in raw.values()).most_common(TOP_INTENTS)}
    conversations = [
        c.model_copy(update={"meta": {**c.meta, "topic": intent(raw[c.id]) if intent(raw[c.id]) in common else "其他"}})
        for c in realdata.jddc(data)
    ]
    observations = []
    for c, r in zip(conversations, analyze_conversations(conversations)):
        o = observe(c.model_dump(mode="json"), r.model_dump(mode="json"), c.id)
        label = raw[c.id]["labels"]["overall_sat3"]
        o.outcomes.update(satisfied=float(label == 2), dissatisfied=float(label == 0))
        observations.append(o)
    return observations


def stc3_observations(data: Path):
    raw = {f"stc3_{d['id']}": d for d in realdata._lines(data / "stc3_dch" / "train_cn.jsonl.gz")}
    conversations = list(realdata.stc3(data))
    observations = []
    for c, r in zip(conversations, analyze_conversations(conversations)):
        o = observe(c.model_dump(mode="json"), r.model_dump(mode="json"), c.id)
        votes = raw[c.id]["annotations"]
        o.outcomes.update({k: float(np.mean([v["quality"][k] for v in votes])) for k in "SA"})
        observations.append(o)
    return observations


def _fmt(e, percent: bool) -> str:
    if e is None:
        return "—"
    scale, digits = (100, ".1f") if percent else (1, ".2f")
    interval = f" [{e.low * scale:+{digits}}, {e.high * scale:+{digits}}]" if e.low is not None else ""
    return f"{e.value * scale:+{digits}}{interval}"


MARK = {"better": " ✓", "worse": " ✗", "unclear": "", "too_few": " ·"}


def print_table(title: str, effects: list[BehaviourEffect], outcomes: dict[str, Outcome]) -> None:
    print(f"\n#### {title}\n")
    print("行为 | 做到/未做到 | " + " | ".join(f"{o.label}：分层调整 [95% 区间]（未调整）" for o in outcomes.values()))
    print("---|---:|" + "|".join("---" for _ in outcomes))
    for e in effects:
        cells = []
        for o in outcomes.values():
            x = e.effects.get(o.id)
            cells.append(
                "—"
                if x is None
                else f"{_fmt(x.adjusted, o.percent)}{MARK[x.verdict]}（{_fmt(x.crude, o.percent).split(' [')[0]}）"
            )
        print(f"{e.behaviour} {e.name} | {e.shown}/{e.missed} | " + " | ".join(cells))


def summary(effects: list[BehaviourEffect], outcome: Outcome) -> None:
    def names(verdict):
        return (
            "、".join(
                f"{e.behaviour} {e.name}" for e in effects if (x := e.effects.get(outcome.id)) and x.verdict == verdict
            )
            or "无"
        )

    print(f"- 与更好的“{outcome.label}”相关（区间不含 0）：{names('better')}")
    print(f"- 与更差的“{outcome.label}”相关：{names('worse')}")
    undecided = sum(1 for e in effects if (x := e.effects.get(outcome.id)) and x.verdict == "unclear")
    few = sum(1 for e in effects if (x := e.effects.get(outcome.id)) and x.verdict == "too_few")
    print(f"- 无明确关联：{undecided} 项；样本不足（任一组少于 5 通）：{few} 项")


def weights(effects: list[BehaviourEffect], scorecard: str, outcome: Outcome) -> None:
    points = {c.item.id: c.item.points for c in get_scorecard(scorecard).items}
    rows = suggest_weights(effects, points, outcome)
    estimated = [r for r in rows if r.effect is not None]
    print(f"\n#### `{scorecard}` 评分表的分值与“{outcome.label}”的关联\n")
    if len(estimated) >= 3:
        rho, p = spearmanr([abs(r.points) for r in estimated], [r.effect.value for r in estimated])
        print(
            f"分值大小与关联强度的 Spearman 相关：ρ = {rho:+.2f}（{len(estimated)} 条有估计的规则，p = {p:.2f}）。"
            "ρ 接近 +1 表示扣分越重的规则越与结果相关。\n"
        )
    print("规则 | 现分值 | 关联（做到更好为正）[95% 区间] | 建议分值 | 说明")
    print("---|---:|---|---:|---")
    for r in rows:
        suggested = f"{r.suggested:g}" if r.suggested is not None else "保持"
        print(f"{r.rule} {r.name} | {r.points:g} | {_fmt(r.effect, outcome.percent)} | {suggested} | {r.note}")


def run(data: Path, rounds: int, seed: int) -> None:
    print(
        f"Printed by `python eval/skill_effects.py` on {date.today()}; {rounds} bootstrap rounds, seed {seed}. "
        "✓ 做到时结果更好、✗ 更差（分层调整后 95% 区间不含 0），· 样本不足；比率以百分点、分数以分计；"
        "括号内为未调整的差。"
    )
    jddc = jddc_observations(data)
    note(f"jddc_uss: {len(jddc)} dialogues analysed")
    effects = behaviour_effects(jddc, {**JDDC, **MODEL}, rounds=rounds, seed=seed)
    base = np.mean([o.outcomes["satisfied"] for o in jddc])
    print(f"\n### jddc_uss：{len(jddc)} 通京东客服对话（ecommerce 评分表），真实满意率 {base:.1%}\n")
    summary(effects, JDDC["satisfied"])
    print_table("jddc_uss：真实标签", effects, JDDC)
    print_table("jddc_uss：模型估计（模型在此数据上训练过，属样本内）", effects, MODEL)
    weights(effects, "ecommerce", JDDC["satisfied"])

    stc3 = stc3_observations(data)
    note(f"stc3_dch: {len(stc3)} dialogues analysed")
    effects = behaviour_effects(stc3, {**STC3, **MODEL}, rounds=rounds, seed=seed)
    s = np.mean([o.outcomes["S"] for o in stc3])
    print(f"\n### stc3_dch：{len(stc3)} 段微博客服对话（core 评分表），S 分平均 {s:+.2f}\n")
    summary(effects, STC3["S"])
    print_table("stc3_dch：真实标签（19 位标注员的平均分）", effects, STC3)
    print_table("stc3_dch：模型估计（样本内）", effects, MODEL)
    weights(effects, "core", STC3["S"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", type=Path, default=realdata.DEFAULT_DATA, help="shared data folder (default ../shared/data)"
    )
    ap.add_argument("--rounds", type=int, default=2000, help="bootstrap rounds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", type=Path, help="replace the results block of this markdown file with the output")
    a = ap.parse_args()
    if not (a.data / "jddc_uss").is_dir() or not (a.data / "stc3_dch").is_dir():
        print(f"{a.data} lacks jddc_uss/ or stc3_dch/", file=sys.stderr)
        raise SystemExit(2)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run(a.data, a.rounds, a.seed)
    sys.stdout.write(printed.getvalue())
    if a.write:
        text = a.write.read_text(encoding="utf-8")
        if BEGIN not in text or END not in text:
            raise SystemExit(f"{a.write} has no {BEGIN} … {END} block")
        head, rest = text.split(BEGIN, 1)
        a.write.write_text(f"{head}{BEGIN}\n{printed.getvalue()}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
        note(f"results written into {a.write}")


if __name__ == "__main__":
    main()
