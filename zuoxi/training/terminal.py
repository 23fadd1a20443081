"""`zuoxi train` in a terminal: the three stages of seed 003, read from standard input."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from zuoxi.training.cases import Case
from zuoxi.training.library import CaseLibrary
from zuoxi.training.llm import LLMEngine
from zuoxi.training.simulator import DrillSession

ROLE = {"agent": "坐席", "customer": "客户", "system": "系统"}
OUTCOMES = {"accepted": "客户接受，问题解决", "accepted_alternative": "客户接受了替代方案", "escalated": "客户要求找领导/投诉（失败）",
            "gave_up": "客户放弃沟通（失败）", None: "未完成"}
SPARK = "▁▂▃▄▅▆▇█"


def list_cases(out: Console, ranked) -> None:
    table = Table(title=f"{len(ranked)} 个典型案例")
    for column in ("id", "标题", "标签", "难度", "评分表"):
        table.add_column(column)
    for case, _ in ranked:
        table.add_row(case.id, case.title, " ".join(case.tags), "★" * case.difficulty, case.scorecard)
    out.print(table)


def _ask(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


def replay(out: Console, case: Case) -> None:
    out.rule(f"第一步 案例重现：{case.title}")
    out.print(case.description, highlight=False)
    if case.conversation.audio:
        out.print(f"[dim]录音：{case.conversation.audio}[/]")
    for i, turn in enumerate(case.conversation.turns):
        mark = "  [red]← 升级[/]" if i == case.escalation_turn else ""
        out.print(f"{i:>2} {ROLE[turn.role]}：{turn.text}{mark}", highlight=False)


def guide(out: Console, case: Case) -> None:
    out.rule("第二步 引导分析")
    for question in case.guide:
        out.print(f"[bold]问：{question.question}[/]", highlight=False)
        _ask("你的回答> ")
        out.print(f"[green]参考：{question.answer}[/]", highlight=False)
    out.print(f"[bold]案例分析[/]：{case.analysis}", highlight=False)
    out.print(f"[bold]客户真正的诉求[/]：{case.need}", highlight=False)


def drill(out: Console, library: CaseLibrary, case: Case, seed: int, trainee: str) -> None:
    out.rule("第三步 模拟演练（输入坐席的话；/quit 结束）")
    engine = LLMEngine.from_environment()
    session = DrillSession(case, seed=seed, engine=engine)
    out.print(f"客户：{session.opening}", highlight=False)
    while session.outcome is None:
        line = _ask("坐席> ")
        if line is None or line.strip() == "/quit":
            break
        if not line.strip():
            continue
        reply = session.agent_says(line)
        out.print(f"客户：{reply.text}  [dim](情绪 {reply.anger:.2f})[/]", highlight=False)
    report = session.report()
    library.record(trainee, report, "llm" if engine and not report.degraded else "offline")
    out.rule("演练结果")
    out.print(f"结果：{OUTCOMES[report.outcome]} · 得分 {report.score:.0f}/{report.max_score:.0f}", highlight=False)
    out.print("情绪曲线：" + "".join(SPARK[min(7, int(a * 8))] for a in report.anger) + f"  {report.anger[0]:.2f} → {report.anger[-1]:.2f}")
    for finding in report.result.failed():
        out.print(f"  [red]{finding.rule}[/] {finding.message}", highlight=False)
        if finding.suggestion:
            out.print(f"      建议：{finding.suggestion}", highlight=False)
    out.print("[bold]参考话术[/]：", highlight=False)
    for best in case.best_solutions:
        out.print(f"  答第{best.turn}句：{best.reply}", highlight=False)
        if best.why:
            out.print(f"    [dim]{best.why}[/]", highlight=False)
    history = library.attempts(trainee=trainee, case_id=case.id)
    out.print("历次得分：" + " → ".join(f"{a.score:.0f}{'✓' if a.outcome in ('accepted', 'accepted_alternative') else '✗'}"
                                     for a in history), highlight=False)


def run(out: Console, library: CaseLibrary, case: Case, stage: str, seed: int, trainee: str) -> None:
    if stage in ("all", "replay"):
        replay(out, case)
    if stage in ("all", "guide"):
        guide(out, case)
    if stage in ("all", "drill"):
        drill(out, library, case, seed, trainee)
