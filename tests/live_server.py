"""`zuoxi serve` in a child process on a free loopback port, for the browser tests, the load test
(bench/web.py, bench/live.py) and the screenshot script (docs/screenshots.py): the app runs exactly as users start it, and its CPU time
is not shared with the client driving it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_app(db: str, *extra: str, startup_timeout: float = 60.0) -> Iterator[str]:
    """Yield the base URL of `zuoxi serve --db DB EXTRA...` once it answers; stop it afterwards.
    The server's output is kept and raised with the error if it exits or never answers."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "zuoxi.cli",
        "serve",
        "--db",
        db,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra,
    ]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                try:
                    urllib.request.urlopen(base + "/login", timeout=2).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        output = log.read().decode("utf-8", "replace")
                        raise RuntimeError(f"zuoxi serve did not start ({' '.join(command)}):\n{output}") from None
                    time.sleep(0.1)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def playwright_or_skip() -> Any:
    """Playwright's sync API, for a test that drives Debian's chromium; the test is skipped, with the reason, where
    Playwright or Chromium is missing."""
    import pytest

    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make install)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium (needs apt-get and root)")
    return sync_api


@contextmanager
def browser_page(base_url: str, dialogs: bool = True) -> Iterator[Any]:
    """A Chromium page on `base_url` (Debian's chromium, driven by Playwright; the test is skipped without either).
    When it is left, no JavaScript error may have come up on it — nor, with `dialogs`, any dialog (an injected
    alert: each is dismissed and counted)."""
    sync_api = playwright_or_skip()
    sync_api.expect.set_options(timeout=20_000)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        context = browser.new_context(base_url=base_url, locale="zh-CN")
        context.set_default_timeout(20_000)
        opened = context.new_page()
        errors: list[str] = []
        shown: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        if dialogs:
            opened.on("dialog", lambda dialog: (shown.append(dialog.message), dialog.dismiss()))
        yield opened
        browser.close()
        assert errors == [] and shown == [], f"JavaScript errors or a dialog on the page: {errors + shown}"
