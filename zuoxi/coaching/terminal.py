"""`zuoxi train` in a terminal: the three stages of seed 003, read from standard input.

Case texts, the trainee's and the customer's lines (an LLM's included) are data: they are escaped,
so a `[` or a `:name:` in them is printed as it is, not read as markup or an emoji code.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from zuoxi.coaching.cases import Case
from zuoxi.coaching.library import CaseLibrary
from zuoxi.coaching.llm import LLMEngine
from zuoxi.coaching.simulator import MAX_AGENT_LINE, DrillReport, DrillSession
from zuoxi.model import SURROGATE

ROLE = {"agent": "坐席", "customer": "客户", "system": "系统"}
OUTCOMES = {
    "accepted": "客户接受，问题解决",
    "accepted_alternative": "客户接受了替代方案",
    "escalated": "客户要求找领导/投诉（失败）",
    "gave_up": "客户放弃沟通（失败）",
    None: "未完成",
}
SPARK = "▁▂▃▄▅▆▇█"


def list_cases(out: Console, ranked) -> None:
    table = Table(title=f"{len(ranked)} 个典型案例")
    table.add_column("id", no_wrap=True, min_width=max((len(case.id) for case, _ in ranked), default=2))  # typed next
    table.add_column("标题", overflow="fold")
    for column in ("标签", "难度", "评分表"):
        table.add_column(column)
    for case, _ in ranked:
        table.add_row(
            *(Text(v) for v in (case.id, case.title, " ".join(case.tags), "★" * case.difficulty, case.scorecard))
        )
    out.print(table)


def _ask(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


def _say(out: Console, *parts: str | tuple[str, str]) -> None:
    """One line of plain text and (text, style) pairs: nothing in it is read as markup."""
    out.print(Text.assemble(*parts), highlight=False)


def replay(out: Console, case: Case) -> None:
    out.rule(escape(f"第一步 案例重现：{case.title}"))
    _say(out, case.description)
    if case.conversation.audio:
        _say(out, (f"录音：{case.conversation.audio}", "dim"))
    for i, turn in enumerate(case.conversation.turns):  # shown from 1, as the web app and `zuoxi show` count
        mark = ("  ← 升级", "red") if i == case.escalation_turn else ""  # the case file's index counts from 0
        _say(out, f"{i + 1:>2} {ROLE[turn.role]}：{turn.text}", mark)


def guide(out: Console, case: Case) -> None:
    out.rule("第二步 引导分析")
    for question in case.guide:
        _say(out, (f"问：{question.question}", "bold"))
        _ask("你的回答> ")
        _say(out, (f"参考：{question.answer}", "green"))
    _say(out, ("案例分析", "bold"), f"：{case.analysis}")
    _say(out, ("客户真正的诉求", "bold"), f"：{case.need}")


def backend_state(session: DrillSession) -> tuple[str, str]:
    """(what the trainee reads about who plays the customer, its style)."""
    if session.backend_failure:
        return (
            f"客户引擎：离线（LLM 出错已停用：{session.backend_failure}；本次演练余下部分由离线引擎扮演客户）",
            "yellow",
        )
    if isinstance(session.engine, LLMEngine):
        return (
            f"客户引擎：LLM（{session.engine.describe()}，每句限时 {session.engine.timeout:g} 秒，出错即转离线）",
            "dim",
        )
    return "客户引擎：离线（未设置 ZUOXI_LLM_BASE_URL 与 ZUOXI_LLM_MODEL）", "dim"


def drill(out: Console, library: CaseLibrary, case: Case, seed: int, trainee: str) -> None:
    out.rule("第三步 模拟演练（输入坐席的话；/quit 结束）")
    session = DrillSession(case, seed=seed, engine=LLMEngine.from_environment())
    _say(out, backend_state(session))
    _say(out, f"客户：{session.opening}")
    _converse(out, session)
    report = session.report()
    if library.record(trainee, report, report.engine) is None:
        _say(out, "没有作答：本次不计分，也不记入历史。")
        return
    _show_result(out, report)
    _show_references(out, case)
    _show_history(out, library, case, trainee)


def _converse(out: Console, session: DrillSession) -> None:
    """The trainee's lines and the customer's replies until the drill ends, the trainee quits or input ends;
    a blank line is skipped, and a switch to the offline customer is shown when it happens."""
    while not session.finished:
        line = _ask("坐席（结束语）> " if session.closing else "坐席> ")
        if line is None or line.strip() == "/quit":
            session.stop()
            break
        if not line.strip():
            continue
        refused = _refused(line)
        if refused:
            _say(out, (refused, "yellow"))
            continue
        failed_before = session.backend_failure
        reply = session.agent_says(line)
        if session.backend_failure != failed_before:
            _say(out, backend_state(session))
        if reply.text:
            _say(out, f"客户：{reply.text}", (f"  (情绪 {reply.anger:.2f})", "dim"))
        if session.closing:
            _say(
                out,
                (
                    f"{OUTCOMES[session.outcome]}。请说一句结束语（致谢、询问是否还有其他需要、道别），或 /quit 结束。",
                    "bold",
                ),
            )


def _refused(line: str) -> str | None:
    """Why a trainee line is not said, as the web app refuses it (at most MAX_AGENT_LINE characters), or None;
    the trainee is asked again. Bytes that are not UTF-8 (kept by Python as lone surrogates) failed the drill
    with a traceback."""
    if len(line) > MAX_AGENT_LINE:
        return f"这句有 {len(line)} 字，一句最多 {MAX_AGENT_LINE} 字：没有发送，请分几句说。"
    if SURROGATE.search(line):
        return "这句不是 UTF-8 文本：没有发送，请重新输入。"
    return None


def _show_result(out: Console, report: DrillReport) -> None:
    """How the drill went: outcome and score, the anger curve, and each rule the trainee failed with its advice."""
    out.rule("演练结果")
    _say(
        out,
        f"结果：{OUTCOMES[report.outcome]} · 得分 {report.score:.0f}/{report.max_score:.0f} · 客户引擎 {report.engine}",
    )
    _say(
        out,
        "情绪曲线："
        + "".join(SPARK[min(7, int(a * 8))] for a in report.anger)
        + f"  {report.anger[0]:.2f} → {report.anger[-1]:.2f}",
    )
    for finding in report.result.failed():
        _say(out, "  ", (finding.rule, "red"), f" {finding.message}")
        if finding.suggestion:
            _say(out, f"      建议：{finding.suggestion}")


def _show_references(out: Console, case: Case) -> None:
    """The case's model replies to compare with, each with why it works where the case says."""
    _say(out, ("参考话术", "bold"), "：")
    for best in case.best_solutions:
        _say(out, f"  答第{best.turn + 1}句：{best.reply}")  # `turn` is the 0-based index of the case file
        if best.why:
            _say(out, (f"    {best.why}", "dim"))


def _show_history(out: Console, library: CaseLibrary, case: Case, trainee: str) -> None:
    """The trainee's scores on this case so far, this drill last, marked by whether the customer accepted."""
    history = library.attempts(trainee=trainee, case_id=case.id)
    _say(
        out,
        "历次得分："
        + " → ".join(
            f"{a.score:.0f}{'✓' if a.outcome in ('accepted', 'accepted_alternative') else '✗'}" for a in history
        ),
    )


def run(out: Console, library: CaseLibrary, case: Case, stage: str, seed: int, trainee: str) -> None:
    if stage in ("all", "replay"):
        replay(out, case)
    if stage in ("all", "guide"):
        guide(out, case)
    if stage in ("all", "drill"):
        drill(out, library, case, seed, trainee)
