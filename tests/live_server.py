"""`zuoxi serve` in a child process on a free loopback port, for the browser tests, the load test
(bench/web.py, bench/live.py) and the screenshot script (docs/screenshots.py): the app runs exactly as users start it, and its CPU time
is not shared with the client driving it."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


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
