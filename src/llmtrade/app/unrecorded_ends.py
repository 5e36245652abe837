"""A run's end it could not store, left in the home for the next run: LLMTRADE_HOME/runs/unrecorded/RUN_ID.json.

A run that stops on a failure it cannot record (its database lost, the disk full, its connection reset) said its
failure and exit code, yet its books hold no end; without this the next run could only find its lease free and record
it as killed without warning (app/killed_runs.py), which it was not. So the RunFailed it meant to store is written
here as it exits, and the run that later finds it unended records that RunFailed instead of a RunKilled, then removes
the file. A run killed outright (SIGKILL, the OOM killer, a reboot) writes nothing and is still found killed. Only a
run that holds a lease leaves one (a backtest's runs do not: their books are their process's)."""

from __future__ import annotations

import os
import time
from contextlib import suppress
from pathlib import Path

from pydantic import ValidationError

from llmtrade.domain.runs import RunFailed

_FOLDER = ("runs", "unrecorded")
_SETTLED_SECONDS = 3600


def _file(home: Path, run_id: str) -> Path:
    return home.joinpath(*_FOLDER, f"{run_id}.json")


def leave(home: Path, run_id: str, failed: RunFailed) -> None:
    """Write run `run_id`'s unstored end; a file that cannot be written (the disk full too) is passed over: the run
    is then found killed, as before, which its RunKilled's wording allows ("killed, or lost its database")."""
    path = _file(home, run_id)
    with suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        part.write_text(failed.model_dump_json(), encoding="utf-8")
        os.replace(part, path)  # whole or not at all: a run killed while writing leaves no half file to read


def left(home: Path, run_id: str) -> RunFailed | None:
    """The end run `run_id` left, or None (none left, or one that does not read: the run is then found killed)."""
    path = _file(home, run_id)
    try:
        return RunFailed.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError):
        return None


def remove(home: Path, run_id: str) -> None:
    with suppress(OSError):
        _file(home, run_id).unlink(missing_ok=True)


def keep_only(home: Path, run_ids: set[str]) -> None:
    """Remove the ends left by runs not among `run_ids` (those unended when looked at): each such run's end is on
    file. Only files an hour old: one written since the look (a run begun and stopped meanwhile) is not judged."""
    settled = time.time() - _SETTLED_SECONDS
    with suppress(OSError):
        for path in home.joinpath(*_FOLDER).glob("*.json"):
            if path.stem not in run_ids and path.stat().st_mtime < settled:
                path.unlink(missing_ok=True)
