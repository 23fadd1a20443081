"""bench/volume.py end to end on a tiny SQLite database: it fills and seeds it, measures every read and exits 0 (what
it prints, not how fast)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "volume.py"
READS = [
    "filter_options",
    "dashboard, no filter",
    "dashboard, score_min=0",
    "dashboard, q=退款",
    "dashboard, failed_rule=CS-08",
    "dashboard, zone America/New_York",
    "list_appeals, open",
    "list_appeals, all",
    "effects_report, no dates (90 days)",
    "effects_report, December 2026",
    "export CSV, all (scores)",
    "export XLSX, June 2026",
    "list_alerts, open (limit 200)",
]


def test_every_read_is_measured_for_both_roles(tmp_path):
    db = tmp_path / "volume.db"
    command = [sys.executable, str(BENCH), "--db", str(db), "--conversations", "300", "--repeat", "1"]
    run = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "300 conversations in SQLite" in lines[0]
    assert "added" in run.stderr and "appeals" in run.stderr
    measured = {
        m["name"].rstrip(): float(m["seconds"])
        for line in lines[1:]
        if (m := re.fullmatch(r"(?P<name>.+?) +(?P<seconds>\d+\.\d{3}) s  peak +\d+\.\d MiB  .+", line))
    }
    expected = {f"{role:9} {read}" for role in ("inspector", "team lead") for read in READS}
    assert set(measured) == expected | {"inspector training candidates"}
    assert len(lines) == 1 + len(measured)
    # the seeded appeals and alerts are read, and the exports stream bytes
    assert not any(line.endswith((" 0 appeals", " 0 alerts", " 0 bytes")) for line in lines if "inspector" in line)
