"""Scorecards: `zuoxi scorecards` lists the built-in ones, `zuoxi scorecard check FILE` validates one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from zuoxi.cli.app import app, err, out
from zuoxi.rules.engine import get_scorecard
from zuoxi.rules.scorecard import ScorecardError, builtin_names, load_spec

scorecard_app = typer.Typer(help="评分表文件。", no_args_is_help=True)
app.add_typer(scorecard_app, name="scorecard")


@app.command()
def scorecards() -> None:
    """列出内置评分表。"""
    table = Table()
    for column in ("名称", "标题", "质检项", "包含"):
        table.add_column(column)
    for name in builtin_names():
        spec, _ = load_spec(name)
        table.add_row(name, spec.name, str(sum(len(s.items) for s in spec.sections)), ", ".join(spec.include) or "—")
    out.print(table)


@scorecard_app.command("check")
def scorecard_check(file: Annotated[Path, typer.Argument(metavar="评分表文件", help="评分表 YAML 文件")]) -> None:
    """检查评分表文件；问题按 文件:行: 说明 列出。"""
    try:
        compiled = get_scorecard(str(file))
    except ScorecardError as error:
        for problem in error.problems:
            err.print(problem, highlight=False, markup=False)
        raise typer.Exit(1) from None
    items = sum(len(s.items) for s in compiled.spec.sections)
    out.print(
        f"{file}: OK — {compiled.spec.id}，{len(compiled.spec.sections)} 个部分，{items} 个质检项", highlight=False
    )
