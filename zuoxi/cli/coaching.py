"""Coaching in a terminal: `zuoxi train` lists the typical cases and runs one (replay, guide, drill)."""

from __future__ import annotations

import unicodedata
from typing import Annotated

import typer

from zuoxi.cli.app import DbOption, app, err, out
from zuoxi.privacy import mask_text
from zuoxi.store import Store


@app.command()
def train(
    case_id: Annotated[str | None, typer.Argument(help="A case id (none: list the cases)")] = None,
    stage: Annotated[str, typer.Option(help="all, replay, guide or drill")] = "all",
    search: Annotated[str | None, typer.Option(help="List the cases matching these words")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only cases with this tag (repeatable)")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated customer (same seed, same customer)")] = 0,
    trainee: Annotated[str | None, typer.Option(help="Who is training (default $USER)")] = None,
    db: DbOption = None,
) -> None:
    """Train on a typical case: replay it, analyze it with guiding questions, then drill against a simulated customer."""
    import os

    from zuoxi.coaching import terminal
    from zuoxi.coaching.library import CaseLibrary

    library = CaseLibrary(Store(db))
    if case_id is None:
        terminal.list_cases(out, library.search(search or "", tags=tag or None))
        return
    try:
        case = library.get(case_id)
    except KeyError:
        err.print(f"no case {case_id!r}; `zuoxi train` lists them")
        raise typer.Exit(2) from None
    if stage not in ("all", "replay", "guide", "drill"):
        raise typer.BadParameter("--stage must be all, replay, guide or drill")
    if trainee is not None:  # stored with the attempt, masked as agent ids are: the masked name is the one bounded
        trainee = mask_text(trainee)
    if trainee is not None and not 0 < len(trainee.strip()) <= 100:  # stored with the attempt (at most 100)
        raise typer.BadParameter("1 to 100 characters", param_hint="--trainee")
    if trainee is not None and any(unicodedata.category(c) == "Cc" for c in trainee):  # PostgreSQL holds no NUL:
        raise typer.BadParameter("no control characters", param_hint="--trainee")  # the drill was lost at its end
    from zuoxi.coaching.llm import LLMEngine

    try:
        LLMEngine.from_environment()  # a misconfigured engine is said before the drill, not in its middle
    except ValueError as error:
        err.print(f"error {error}")
        raise typer.Exit(2) from None
    terminal.run(out, library, case, stage, seed, trainee or os.environ.get("USER") or "trainee")
