"""Coaching in a terminal: `zuoxi train` lists the typical cases and runs one (replay, guide, drill)."""

from __future__ import annotations

import unicodedata
from typing import Annotated

import typer

from zuoxi.cli.app import DbOption, SchemaOption, app, err, out, say_error
from zuoxi.store import Store
from zuoxi.store.cases import masked_trainee


@app.command()
def train(
    case_id: Annotated[str | None, typer.Argument(metavar="案例", help="案例 id（不给则列出案例）")] = None,
    stage: Annotated[
        str, typer.Option(help="环节：all、replay（重现）、guide（引导分析）或 drill（模拟演练）")
    ] = "all",
    search: Annotated[str | None, typer.Option(help="列出与这些词匹配的案例")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="只看带这个标签的案例（可重复给出）")] = None,
    seed: Annotated[int, typer.Option(help="模拟客户的随机种子（种子相同，客户相同）")] = 0,
    trainee: Annotated[str | None, typer.Option(help="学员（默认 $USER）")] = None,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """用典型案例培训：案例重现、引导分析，再与模拟客户演练。"""
    import os

    from zuoxi.coaching import terminal
    from zuoxi.coaching.library import CaseLibrary

    library = CaseLibrary(Store(db, schema))
    if case_id is None:
        terminal.list_cases(out, library.search(search or "", tags=tag or None))
        return
    try:
        case = library.get(case_id)
    except KeyError:
        err.print(f"没有案例 {case_id!r}；`zuoxi train` 列出全部案例")
        raise typer.Exit(2) from None
    if stage not in ("all", "replay", "guide", "drill"):
        raise typer.BadParameter("--stage 只能是 all、replay、guide 或 drill")
    if trainee is not None:  # stored with the attempt, masked as agent ids are: the masked name is the one bounded
        trainee = masked_trainee(trainee)
    if trainee is not None and not 0 < len(trainee.strip()) <= 100:  # stored with the attempt (at most 100)
        raise typer.BadParameter("要有 1 到 100 个字符", param_hint="--trainee")
    if trainee is not None and any(unicodedata.category(c) == "Cc" for c in trainee):  # PostgreSQL holds no NUL:
        raise typer.BadParameter("不能含控制字符", param_hint="--trainee")  # the drill was lost at its end
    from zuoxi.coaching.llm import LLMEngine

    try:
        LLMEngine.from_environment()  # a misconfigured engine is said before the drill, not in its middle
    except ValueError as error:
        say_error(str(error))
        raise typer.Exit(2) from None
    terminal.run(out, library, case, stage, seed, trainee or os.environ.get("USER") or "trainee")
