"""Runs killed without warning, recorded by the next run: a RunKilled for each run of these books that recorded no end
and whose lease no process holds (storage/run_leases.py), so `events`, `status` and `report` say "killed" where they
could only say "no end recorded (killed, or still running)".

A run takes its lease before its RunStarted is stored and gives it back only once its end is, so a lease found free
while the end is missing is proof: the run's connection is gone, and nothing can record its end any more. A run whose
lease is held (still running, or this process's own) is never judged, nor a run that recorded no lease (one from
before leases): its process cannot be told apart from a running one. Each RunKilled goes on the run's stream at the
version it was read at, so two runs finding the same run at once record it once.

A run that stopped on a failure it could not store (its database lost, the disk full) was not killed: it left that
end in the home (app/unrecorded_ends.py), and the run that finds it records that RunFailed in its place."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from llmtrade.app import unrecorded_ends
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.runs import RunFailed, RunFinished, RunKilled, RunStarted
from llmtrade.domain.streams import run_stream
from llmtrade.domain.tracing import ended_here
from llmtrade.errors import ConcurrencyError
from llmtrade.storage import run_leases
from llmtrade.storage.bootstrap import Storage

_ENDS = frozenset(t.event_type() for t in (RunFinished, RunFailed, RunKilled))


def take_lease(storage: Storage, run_id: str) -> int | None:
    """The lease of run `run_id`, now held on the storage's connection; None for books that hold their appends in this
    process (a backtest's: one process owns them) or when the key is taken (a hash shared with a running run)."""
    if storage.events.holds_appends:
        return None
    key = run_leases.lease_key(run_id)
    with storage.events.writing():  # one connection serves every thread of a command
        return key if run_leases.take(storage.conn, key) else None


def give_back(storage: Storage, key: int) -> None:
    with storage.events.writing():
        run_leases.release(storage.conn, key)


def lease_held(storage: Storage) -> Callable[[int], bool]:
    """Whether a lease is held now, asked without taking it: `status` tells a run still going from one killed that no
    job has recorded yet (it said "running or killed" until the next job ran)."""

    def held(key: int) -> bool:
        with storage.events.writing():
            return run_leases.held_anywhere(storage.conn, key)

    return held


def record_killed_runs(storage: Storage, *, found_by: str, home: Path | None = None) -> list[str]:
    """Record a RunKilled for each run found killed, or the RunFailed it left in `home` (see the module's docstring);
    the ids of those recorded now."""
    if storage.events.holds_appends:
        return []
    with storage.events.writing():
        unended = run_leases.unended(storage.conn, RunStarted.event_type(), tuple(sorted(_ENDS)))
    found: list[str] = []
    failures: list[Exception] = []
    for run_id, lease in unended:
        if run_id == found_by:
            continue
        try:
            with storage.events.writing(), run_leases.claimed(storage.conn, lease) as free:
                if free and _record(storage, run_id, found_by, home):
                    found.append(run_id)
                    ended_here(run_id)  # its process died before exporting its trace: this command's export does
        except Exception as exc:  # one run that no longer reads must not keep every later one unrecorded for good
            failures.append(exc)
    if home is not None:  # ends left by runs whose end was stored after all (the append raised once it had)
        unrecorded_ends.keep_only(home, {run_id for run_id, _ in unended})
    if failures:
        raise failures[0]  # said by start_run, which goes on; the others are recorded
    return found


def _record(storage: Storage, run_id: str, found_by: str, home: Path | None) -> bool:
    stream = run_stream(run_id)
    own = storage.events.read_stream(stream)
    if not own or any(e.type in _ENDS for e in own):  # another run recorded it between our read and our claim
        return False
    start = next((e for e in own if e.type == RunStarted.event_type()), None)
    if start is None:
        return False
    left = None if home is None else unrecorded_ends.left(home, run_id)
    end: EventPayload
    if left is not None:  # it stopped on a failure it said, and could not store: that failure, not a kill
        end = left.model_copy(update={"error": f"{left.error}; recorded by run {found_by}"})
    else:
        last = storage.events.read(run_id=run_id)[-1]
        end = RunKilled(
            command=RunStarted.from_event(start).command,
            found_by=found_by,
            last_event_type=last.type,
            last_event_at=last.occurred_at,
        )
    recorded = False
    with suppress(ConcurrencyError):  # recorded by another run first
        storage.events.append(
            [NewEvent.of(end, stream=stream, week_id=start.week_id, run_id=run_id)],
            expected_versions={stream: own[-1].version},
        )
        recorded = True
    if left is not None and home is not None:
        unrecorded_ends.remove(home, run_id)
    return recorded
