"""A real SIGTERM (or Ctrl-C) that lands in the metrics step after a command's work: the command's own exit code and
one warning line, not the stop's 143 (130).

`timeout --preserve-status`, `systemctl stop` or `docker stop` landing while `llmtrade -q run-due` wrote its metrics,
its weekly run finished and on record, made the process exit 143 with "terminated (SIGTERM); what finished before it
is stored: run the same command again to go on": cron and systemd reported a failure for a run that had succeeded,
and there was nothing to run again. The work is done; only the metrics (and traces) written after it are cut short,
and the next command writes them from the events."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

# The console script (llmtrade/entry.py) on the README's cron line, its metrics file write held until the test's
# signal comes: a marker file says the command's work is done and the metrics step has begun.
_HELD_IN_METRICS = """
import sys, time
from pathlib import Path
from llmtrade.observe import metrics

MARKER = Path(sys.argv[1])


def held(found, folder):
    MARKER.write_text("in the metrics step")
    time.sleep(120)  # the signal's handler raises here
    raise SystemExit("the signal never came")


metrics.write = held
sys.argv = ["llmtrade", *sys.argv[2:]]
from llmtrade.entry import main
main()
"""

CUT_SHORT = {
    signal.SIGTERM: (
        "warning: terminated (SIGTERM) after the command had ended: the metrics and traces written after it were cut"
        " short (the next command writes them); the exit code is the command's own"
    ),
    signal.SIGINT: (
        "warning: interrupted (Ctrl-C) after the command had ended: the metrics and traces written after it were cut"
        " short (the next command writes them); the exit code is the command's own"
    ),
}


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_signal_in_the_metrics_step_after_a_successful_run_due_keeps_exit_0(
    cli_env: dict[str, str], tmp_path: Path, signum: signal.Signals
) -> None:
    home = Path(cli_env["LLMTRADE_HOME"])
    env = {**cli_env, "LLMTRADE_NOW": "2026-01-07T08:01:00-05:00"}
    launcher, marker = tmp_path / "held_in_metrics.py", tmp_path / "in-metrics"
    launcher.write_text(_HELD_IN_METRICS)
    process = subprocess.Popen(
        [sys.executable, str(launcher), str(marker), "-q", "run-due", "--offline"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 170
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), process.communicate(timeout=10)
        process.send_signal(signum)  # from outside, as `timeout`, systemd or a terminal send it
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (process.returncode, out, err.splitlines()) == (0, "", [CUT_SHORT[signum]])
    url = cli_env["DATABASE_URL"]
    # The week's run finished and is on record as such: nothing to run again.
    assert _count(url, "SELECT count(*) FROM events WHERE type = 'WeekCompleted'") == 1
    assert _count(url, "SELECT count(*) FROM events WHERE type = 'RunFailed'") == 0
    assert not (home / "metrics" / "llmtrade.prom").exists()  # cut short: never half written

    # The next wake-up has nothing to do and writes the metrics, the run counted as it ended.
    woken = subprocess.run(
        [sys.executable, "-m", "llmtrade", "-q", "run-due", "--offline"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert (woken.returncode, woken.stdout, woken.stderr) == (0, "", "")
    written = (home / "metrics" / "llmtrade.prom").read_text()
    assert 'llmtrade_last_run_status{job="run-weekly",status="ok"} 1.0' in written, written
