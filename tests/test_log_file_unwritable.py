"""A log file that cannot be written (LLMTRADE_HOME/logs a file, not a folder; the disk full) is said once, in one line
on stderr, and changes nothing else (observe/logs.py `_LazyFile`). Found by a new user: logging's handleError printed a
traceback for each of a weekly run's lines, 7,190 lines of stderr, and the run exited 0 without a line saying why."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.tracing import LOGGER
from llmtrade.observe.logs import LOG_FILE, configure
from tests.support import stored_events, wake_quietly

runner = CliRunner()


def _logs_a_hundred_lines(home: Path) -> None:
    handlers = configure(lambda: home)
    try:
        for n in range(100):
            logging.getLogger(LOGGER).info("line %d", n)
    finally:
        handlers.close()


def test_a_weekly_run_whose_log_folder_is_a_file_says_so_once_and_finishes_with_exit_0(
    wednesday_week: str, clean_environment: Path
) -> None:
    clean_environment.mkdir(parents=True, exist_ok=True)
    (clean_environment / "logs").write_text("a file where the log folder goes")
    result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if LOG_FILE in line]
    assert len(said) == 1 and said[0].startswith(f"warning: the log file {clean_environment / 'logs' / LOG_FILE}")
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
    assert [e.type for e in stored_events(wednesday_week, type="RunFinished")] == ["RunFinished"]


def test_a_log_file_on_a_full_disk_is_said_once_and_its_lines_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / LOG_FILE).symlink_to("/dev/full")  # every write fails with ENOSPC, as a full disk's
    _logs_a_hundred_lines(tmp_path)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err, err


def test_under_quiet_an_unwritable_log_file_is_said_once_per_outage(
    wednesday_week: str, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron trial: a log file the user cannot write was said at every wake-up (a mail from cron each), where a
    metrics file's failure is said once per outage under --quiet (observe/repeats.py)."""
    clean_environment.mkdir(parents=True, exist_ok=True)
    logs = clean_environment / "logs"
    logs.write_text("a file where the log folder goes")

    def said(at: str) -> list[str]:
        woke = wake_quietly(monkeypatch, at)
        assert woke.exit_code == 0, woke.output
        return [line for line in woke.stderr.splitlines() if LOG_FILE in line]

    assert len(said("08:00")) == 1  # the week's run
    assert said("08:05") == [] and said("08:10") == []  # the same outage
    logs.unlink()
    assert said("09:05") == []  # the 09:00 checkpoint's lines written: the outage is over
    assert (logs / LOG_FILE).stat().st_size > 0
    shutil.rmtree(logs)
    logs.write_text("broken again")
    assert len(said("12:05")) == 1  # a new outage, said again
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:05:00-05:00")  # the 14:00 checkpoint's wake-up
    assert runner.invoke(app, ["run-due", "--offline"]).stderr.count(LOG_FILE) == 1  # not under --quiet: said
