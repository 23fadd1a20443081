"""The `zuoxi` command: one module per command group, each adding its commands to `app` (zuoxi/cli/app.py).
Thin: commands parse options and compose the stages; terminal layout is zuoxi/report/terminal.py."""

from zuoxi.cli import (  # noqa: F401 - imported for the commands they add to app
    audio,
    campaigns,
    coaching,
    conversations,
    effects,
    queues,
    scorecards,
    server,
    users,
)
from zuoxi.cli.app import app

__all__ = ["app"]
