"""A CommandFailed left for the next job command (app/unrecorded_commands.py) is recorded even when the command that
claimed it to record it was killed (SIGKILL, a power loss) before it had: the claim renamed the file out of what the
next command looks for, and the failure stayed unrecorded for good. A claim killed after its record went in is not
recorded twice."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from llmtrade.app.unrecorded_commands import leave, record_left
from llmtrade.domain.runs import CommandFailed
from llmtrade.domain.streams import COMMANDS_FAILED
from llmtrade.storage.bootstrap import Storage

FAILED = CommandFailed(
    command="run-due",
    error_type="DatabaseUnavailable",
    error="the database did not answer",
    exit_code=75,
    failed_at=datetime(2026, 1, 13, 20, 0, tzinfo=UTC),
)


def _dead_pid() -> int:
    """The id of a process that has ended (and been reaped): what a killed claimer's is."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    return ended.pid


def _claimed_by_a_killed_command(home: Path) -> Path:
    leave(home, FAILED)
    [left] = (home / "runs" / "unrecorded-commands").glob("*.json")
    claimed = left.with_suffix(f".{_dead_pid()}.claimed")
    left.rename(claimed)  # what record_left does first; the command was killed right after
    return claimed


def test_a_failure_whose_claimer_was_killed_before_recording_it_is_recorded_by_the_next(
    storage: Storage, tmp_path: Path
) -> None:
    claimed = _claimed_by_a_killed_command(tmp_path)

    assert record_left(storage.events, tmp_path) == 1  # before: 0, the claimed file never looked at again

    [event] = storage.events.read_stream(COMMANDS_FAILED)
    assert CommandFailed.from_event(event) == FAILED
    assert not claimed.exists() and not list(claimed.parent.glob("*"))


def test_a_failure_whose_claimer_was_killed_after_recording_it_is_not_recorded_twice(
    storage: Storage, tmp_path: Path
) -> None:
    leave(tmp_path, FAILED)
    assert record_left(storage.events, tmp_path) == 1
    _claimed_by_a_killed_command(tmp_path)  # the same failure, its claim killed between its record and the unlink

    assert record_left(storage.events, tmp_path) == 0
    assert len(storage.events.read_stream(COMMANDS_FAILED)) == 1
    assert not list((tmp_path / "runs" / "unrecorded-commands").glob("*"))


def test_a_claim_of_a_command_still_running_is_left_to_it(storage: Storage, tmp_path: Path) -> None:
    leave(tmp_path, FAILED)
    [left] = (tmp_path / "runs" / "unrecorded-commands").glob("*.json")
    with subprocess.Popen(["sleep", "30"]) as running:
        try:
            left.rename(left.with_suffix(f".{running.pid}.claimed"))
            assert record_left(storage.events, tmp_path) == 0
            assert storage.events.read_stream(COMMANDS_FAILED) == []
        finally:
            running.kill()
