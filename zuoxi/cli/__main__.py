"""`python -m zuoxi.cli`: the same as the `zuoxi` command (used where the script is not on PATH)."""

from zuoxi.cli import app

app()
