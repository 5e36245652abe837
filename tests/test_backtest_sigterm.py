"""`kill -TERM` (what cron's timeout, systemd and a container stop send) in the middle of a backtest: one line, exit
143, the weeks it finished kept, and the same command again ends with the books of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid

import psycopg
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.storage.database import backtest_database

runner = CliRunner()
# 5 weeks: the signal lands after the second, three weeks (some seconds of work) before the end. Ten weeks bought
# nothing the assertions need: the resume and the straight run each ran the eight or ten weeks again in-process.
FIRST, LAST = "2026-01-07", "2026-02-04"
WEEKS = 5


def _books(url: str, name: str) -> str:
    head, _, query = url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{backtest_database(name)}" + (f"?{query}" if query else "")


def _weeks_done(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute("SELECT count(*) FROM events WHERE type = 'BacktestWeekDone'").fetchone()[0]
    except psycopg.Error:
        return 0  # not created yet, or its tables not yet


def _backtest(name: str) -> dict:
    result = runner.invoke(cli, ["backtest", "--from", FIRST, "--to", LAST, "--offline", "--name", name, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_sigterm_stops_a_backtest_in_one_line_with_143_and_the_same_command_resumes_it(
    cli_env: dict[str, str],
) -> None:
    name = f"term{uuid.uuid4().hex[:8]}"
    books = _books(cli_env["DATABASE_URL"], name)
    command = [sys.executable, "-m", "llmtrade", "backtest", "--from", FIRST, "--to", LAST, "--offline"]
    process = subprocess.Popen(
        [*command, "--name", name], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while _weeks_done(books) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the backtest ended before it could be stopped"
        process.send_signal(signal.SIGTERM)
        # Before: Python's default action ended the process on the spot, and the spawned draws worker kept the pipe
        # open (and ran on): this waited for good.
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err
    lines = [line for line in err.splitlines() if line.strip() and "MODE" not in line]
    assert lines and "Traceback" not in err
    assert "terminated (SIGTERM)" in lines[-1] and "run the same command again" in lines[-1]
    stopped_at = _weeks_done(books)
    assert 2 <= stopped_at < WEEKS

    resumed = _backtest(name)
    straight = _backtest(f"{name}x")

    assert (resumed["weeks_done_before"], resumed["weeks_run"]) == (stopped_at, WEEKS - stopped_at)
    with psycopg.connect(books) as conn:
        accepted = [
            r[0]
            for r in conn.execute(
                "SELECT payload->'order'->>'client_order_id' FROM events WHERE type = 'PaperOrderAccepted'"
            )
        ]
        weeks = [r[0] for r in conn.execute("SELECT week_id FROM events WHERE type = 'BacktestWeekDone' ORDER BY id")]
    assert accepted and len(accepted) == len(set(accepted))  # no order twice
    assert len(weeks) == len(set(weeks)) == WEEKS
    assert {k: v for k, v in resumed["leaderboard"].items() if k != "source"} == {
        k: v for k, v in straight["leaderboard"].items() if k != "source"
    }


def test_after_a_sigterm_a_coroutine_left_unstarted_is_not_said() -> None:
    # SIGTERM landing between making a job's coroutine and awaiting it left it never started: its collection printed
    # "RuntimeWarning: coroutine ... was never awaited" after the stop's one line (CI, once, under load).
    import gc
    import warnings

    from llmtrade import stops

    async def job() -> None:
        return None

    with warnings.catch_warnings(record=True) as seen:  # the filters are put back after
        warnings.simplefilter("always")
        try:
            stops._terminated(signal.SIGTERM, None)
        except stops.Terminated:
            left = job()
            del left
            gc.collect()
        finally:
            stops._TERM_RECEIVED.clear()  # no later test of this process is taken for a stopped command
    assert not [w for w in seen if "never awaited" in str(w.message)]
