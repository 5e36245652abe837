"""A job command's failure no run recorded, left in the home for the next job command to record: LLMTRADE_HOME/runs/
unrecorded-commands/*.json, each a CommandFailed.

A run that loses its database leaves its RunFailed for the next run (app/unrecorded_ends.py). A job command that lost
it outside any run (run-due between its jobs, or reading what is due; the database not answering at all) exited 75
and left nothing: the next wake-up redid the work, and nothing on record said this one had failed (a soak's finding).
So the command leaves its CommandFailed here as it exits (`leave`), and the next job command that reaches the database
records it (`record_left`), with when it failed. A failure a run recorded (or left for the next run) is not left here
too (`ended_a_run`): it would be said twice."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from pydantic import ValidationError

from llmtrade.app.container import Container
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import CommandFailed
from llmtrade.domain.streams import COMMANDS_FAILED
from llmtrade.storage.event_store import EventStore

_FOLDER = ("runs", "unrecorded-commands")
# Set on an error a run recorded as its end (or left for the next run): app/runs.py.
_RUN_END = "_llmtrade_run_end"


def mark_run_end(error: BaseException) -> None:
    """`error` is on record as a run's end (or left for the next run to record)."""
    with suppress(AttributeError, TypeError):  # an exception without a __dict__: not marked, said twice at worst
        setattr(error, _RUN_END, True)


def ended_a_run(chain: list[BaseException]) -> bool:
    """Whether any error of `chain` (an error and its causes) is on record as a run's end."""
    return any(getattr(link, _RUN_END, False) for link in chain)


def leave(home: Path, failed: CommandFailed) -> None:
    """Write `failed` for the next job command; a file that cannot be written (the disk full too) is passed over."""
    folder = home.joinpath(*_FOLDER)
    name = f"{failed.failed_at.strftime('%Y%m%dT%H%M%S%fZ')}-{os.getpid()}"
    with suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f"{name}.part"
        part.write_text(failed.model_dump_json(), encoding="utf-8")
        os.replace(part, folder / f"{name}.json")  # whole or not at all


def record_left(events: EventStore, home: Path) -> int:
    """Record every CommandFailed left in `home`, oldest first, and remove its file; how many were recorded. Each is
    claimed first (renamed), so two commands at once record it once; one that cannot be recorded now is put back, and
    one whose claimer was killed before it recorded it is put back by the next (`_reclaim`)."""
    folder = home.joinpath(*_FOLDER)
    if not folder.is_dir():  # the common case: a directory look, no statement
        return 0
    reclaimed = _reclaim(folder)
    recorded = 0
    # What is on record already, for a claim put back: killed after its record went in, before its file went, it is
    # not said twice. Only those are compared: two commands on one LLMTRADE_NOW may fail alike, each said.
    known = [CommandFailed.from_event(e) for e in events.read_stream(COMMANDS_FAILED)] if reclaimed else []
    for path in sorted(folder.glob("*.json")):
        claimed = path.with_suffix(f".{os.getpid()}.claimed")
        try:
            os.rename(path, claimed)
        except OSError:
            continue  # another command took it
        try:
            failed = CommandFailed.model_validate_json(claimed.read_text(encoding="utf-8"))
        except (OSError, ValueError, ValidationError):
            claimed.unlink(missing_ok=True)  # not ours to read: nothing to record
            continue
        if path in reclaimed and failed in known:
            claimed.unlink(missing_ok=True)
            continue
        try:
            events.append([NewEvent.of(failed, stream=COMMANDS_FAILED)])
        except BaseException:
            with suppress(OSError):
                os.rename(claimed, path)
            raise
        claimed.unlink(missing_ok=True)
        recorded += 1
    return recorded


def not_recorded_yet(home: Path) -> list[CommandFailed]:
    """The failures left in `home` that no job command has recorded yet (claimed ones too), oldest first; read, not
    claimed: `status` shows them, and writes nothing. One unreadable is passed over, as `record_left` passes it."""
    folder = home.joinpath(*_FOLDER)
    if not folder.is_dir():  # the common case: a directory look
        return []
    found = []
    for path in sorted([*folder.glob("*.json"), *folder.glob("*.claimed")]):
        with suppress(OSError, ValueError, ValidationError):
            found.append(CommandFailed.model_validate_json(path.read_text(encoding="utf-8")))
    return sorted(found, key=lambda failed: failed.failed_at)


def _reclaim(folder: Path) -> set[Path]:
    """Put back, for recording, each file claimed by a command no longer running (`record_left`'s claim names its
    process): killed (SIGKILL, a power loss) between its claim and its record, it left the failure out of what any
    later command looks for, unrecorded for good. A claim of a command still running is its own. The paths put back."""
    back: set[Path] = set()
    for claimed in folder.glob("*.claimed"):
        stem, _, pid = claimed.name.removesuffix(".claimed").rpartition(".")
        if not stem or not pid.isdigit() or _alive(int(pid)):
            continue
        with suppress(OSError):  # another command put it back first
            os.rename(claimed, folder / f"{stem}.json")
            back.add(folder / f"{stem}.json")
    return back


def _alive(pid: int) -> bool:
    """Whether process `pid` is running (one of another user's too); a pid reused since errs on waiting."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # not ours to signal: running
        return True
    return True


def record_left_failures(app: Container) -> None:
    """`record_left` on the live books, said in one line each (a wake-up's failure cron may have mailed, or not);
    nothing is opened when none was left."""
    home = app.settings.home
    if app.database is not None or not home.joinpath(*_FOLDER).is_dir():
        return
    with app.storage() as storage:
        recorded = record_left(storage.events, home)
    if recorded:
        app.say(f"recorded {recorded} earlier command(s) that failed on a lost database (CommandFailed)")
