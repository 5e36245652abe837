"""Recording a run's start and end, so every command's mode and outcome are on file.

Every run whose start is on file gets an end: a failure or a stop (Ctrl-C, SIGTERM) anywhere between the two is
recorded as its RunFailed (`RunLog.ends_recorded`, `start_run`), even one landing inside the append of the start or
the end, after the event was stored (in its log line): a backtest stopped there left a RunStarted with no end."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from llmtrade import __version__
from llmtrade.app import killed_runs, unrecorded_commands, unrecorded_ends
from llmtrade.app.session import Session
from llmtrade.clock import Timer
from llmtrade.domain.events import EventPayload, EventSink, NewEvent, StoredEvent
from llmtrade.domain.runs import RunFailed, RunFinished, RunKilled, RunStarted
from llmtrade.domain.streams import run_stream
from llmtrade.domain.tracing import bind_run, restore
from llmtrade.errors import ConcurrencyError
from llmtrade.exits import error_text, exit_code_of, one_line, stopped_by_signal
from llmtrade.llm.gateway import UsageTotals
from llmtrade.storage.bootstrap import events_apart

T = TypeVar("T")

_ENDS = frozenset(kind.event_type() for kind in (RunFinished, RunFailed, RunKilled))


class RunEvents(EventSink, Protocol):
    """Where a run is recorded: a sink that reads its streams back (an EventStore, its draft view)."""

    def read_stream(self, stream: str) -> Sequence[StoredEvent]: ...

    def append(self, events: Sequence[NewEvent], *, expected_versions: Mapping[str, int] | None = None) -> object: ...


class RunLog:
    """A run's RunStarted / RunFinished / RunFailed events on its run stream."""

    def __init__(
        self,
        events: RunEvents,
        *,
        run_id: str,
        command: str,
        week_id: date | None = None,
        timer: Timer = time.perf_counter,
    ):
        """`timer`: what the run's duration is measured on (clock.py Timer: a backtest's stepped clock)."""
        self._events = events
        self.run_id = run_id
        self.command = command
        self.week_id = week_id
        self._timer = timer
        self._started = timer()
        # From here to the run's end every log line of this thread (and the tasks and threads it starts)
        # carries the run's ids; a job after it in the same command binds its own.
        self._outer_log_context = bind_run(run_id, week_id)
        self._give_back: Callable[[], None] | None = None
        # Where the run leaves an end it cannot store, for the next run to record (app/unrecorded_ends.py).
        self._leave_end: Callable[[RunFailed | None], None] | None = None
        # The books on a connection of the run's own, when a stop left its connection busy (`_stored_apart`).
        self._apart: Callable[[], AbstractContextManager[RunEvents | None]] | None = None
        # How far the run's record is: "new", "starting" (its RunStarted being appended), "open", "ending" (its end
        # being appended), "ended". A failure inside an append leaves which of the two it was unsaid: `_open` asks.
        self._record = "new"

    def started(
        self,
        *,
        arguments: dict,
        mode: str,
        mode_reason: str,
        config_source: str,
        lease: int | None = None,
        give_back: Callable[[], None] | None = None,
        leave_end: Callable[[RunFailed | None], None] | None = None,
        apart: Callable[[], AbstractContextManager[RunEvents | None]] | None = None,
    ) -> None:
        """`lease`: the run's lease, held (app/killed_runs.py); `give_back` releases it once the run's end is stored;
        `leave_end` keeps an end that could not be stored outside the books (None: forget one kept before); `apart`
        gives the books on a connection of their own while the run's is left busy by a stop, else None."""
        self._record = "starting"
        self._append(
            RunStarted(
                command=self.command,
                arguments=arguments,
                mode=mode,
                mode_reason=mode_reason,
                config_source=config_source,
                version=__version__,
                lease=lease,
            )
        )
        self._record = "open"
        self._give_back = give_back
        self._leave_end = leave_end
        self._apart = apart

    def finished(
        self,
        totals: UsageTotals,
        *,
        degraded: bool,
        with_events: Sequence[NewEvent] = (),
        expected_versions: Mapping[str, int] | None = None,
    ) -> float:
        """Record the run's end. `with_events` (the job's own completion marker, say: WeekCompleted) go in the same
        append, before it, at `expected_versions`: a stop can no longer land between the job's work recorded done and
        the run's end, where it recorded the run failed for good (a rerun finds nothing left to do; status, the
        metrics, the report and the silence alert then said the week's run failed, for a week: a new user's trial)."""
        duration = self.elapsed_ms()
        end = RunFinished(
            command=self.command,
            degraded=degraded,
            llm_calls=totals.calls,
            prompt_tokens=totals.prompt_tokens,
            completion_tokens=totals.completion_tokens,
            cost_usd=totals.cost_usd,
            duration_ms=duration,
        )
        try:
            self._ending(end, with_events, expected_versions)
        except ConcurrencyError:
            if not with_events:
                raise
            # Another run recorded the job done first (a marker's version taken): its work was this one's too.
            self._ending(end)
        return duration

    def failed(self, error: BaseException) -> None:
        unrecorded_commands.mark_run_end(error)  # the run's RunFailed says it: the command leaves no CommandFailed
        self._ending(
            RunFailed(
                command=self.command,
                error_type=type(error).__name__,
                error=error_text(error),
                duration_ms=self.elapsed_ms(),
                exit_code=_exit_of(error),
            )
        )

    @contextmanager
    def ends_recorded(self) -> Iterator[RunLog]:
        """The run, for a block that ends by recording its end: a failure or a stop raised in it before that end is
        on file is recorded as the run's RunFailed, then raised."""
        try:
            yield self
        except BaseException as exc:
            self.failed_if_open(exc)
            raise

    def failed_if_open(self, error: BaseException) -> None:
        """RunFailed for `error` when the run's start is on file and its end is not (nothing to record otherwise)."""
        if self._record == "open" or (self._record in ("starting", "ending") and self._open()):
            self.failed(error)
        else:
            self.unbind()

    def _open(self) -> bool:
        """Whether the run's stream holds its start and no end: asked after an append that raised, which may have
        stored its event first. False when the stream cannot be read (the database gone: nothing can be recorded)."""
        try:
            types = [e.type for e in self._events.read_stream(run_stream(self.run_id))]
        except Exception:
            return False
        return RunStarted.event_type() in types and not _ENDS.intersection(types)

    def unbind(self) -> None:
        """Give the log lines back the context from before the run (its end calls this; so does a run that
        could not even record its start)."""
        restore(self._outer_log_context)

    def _ending(
        self,
        payload: EventPayload,
        with_events: Sequence[NewEvent] = (),
        expected_versions: Mapping[str, int] | None = None,
    ) -> None:
        # The run's ids leave the log context even when its end cannot be recorded (the database gone):
        # the next job of the command, or the command's own error line, must not carry them.
        try:
            self._record = "ending"
            try:
                self._append(payload, with_events, expected_versions)
            except Exception as exc:
                try:
                    stored = self._stored_apart(payload, with_events, expected_versions)
                except BaseException:  # a second stop inside that write: the end is kept for the next run all the same
                    self._left_unstored(payload, exc)
                    raise
                if not stored:
                    self._left_unstored(payload, exc)
                    raise
            except BaseException as exc:
                self._left_unstored(payload, exc)
                raise
            self._record = "ended"
            if self._leave_end is not None:
                self._leave_end(None)  # an earlier end that could not be stored (its RunFinished, say) is stored now
            # Only once the end is stored: a run whose end could not be keeps its lease until its connection ends.
            if self._give_back is not None:
                with suppress(Exception):  # a lease not given back is freed with the connection all the same
                    self._give_back()
                self._give_back = None
        finally:
            self.unbind()

    def _stored_apart(
        self, payload: EventPayload, with_events: Sequence[NewEvent], expected_versions: Mapping[str, int] | None
    ) -> bool:
        """Whether the end, its append refused, is stored on a connection of its own: a stop landing between a
        statement sent on the run's connection and its answer leaves the connection busy, and every later statement
        there fails ("another command is already in progress"): the run's RunFailed was left for the next run to
        record, `status` showing the run as running until then (a cron trial's SIGTERM, once in four). Nothing of the
        refused append was sent, so it is sent whole once more. False when the connection was not left busy (the
        failure is the append's own), or the second try failed too."""
        if self._apart is None:
            return False
        try:
            with self._apart() as events:
                if events is None:
                    return False
                self._append(payload, with_events, expected_versions, into=events)
        except Exception:
            return False
        return True

    def _left_unstored(self, payload: EventPayload, exc: BaseException) -> None:
        """Keep the end that could not be stored for the next run to record (app/unrecorded_ends.py): the command
        exits on `exc` (the append's failure, raised over what ended the run), so its exit code is that one's."""
        if self._leave_end is None:
            return
        unrecorded_commands.mark_run_end(exc)  # left for the next run, which records it as this run's RunFailed
        why = f"its end could not be stored: {error_text(exc)}"
        if isinstance(payload, RunFailed):
            end = payload.model_copy(update={"error": f"{payload.error} ({why})", "exit_code": _exit_of(exc)})
        else:  # its work done, the run still failed: the command exits on the append's failure
            end = RunFailed(
                command=self.command,
                error_type=type(exc).__name__,
                error=f"{error_text(exc)} (its work was done; its RunFinished could not be stored)",
                duration_ms=self.elapsed_ms(),
                exit_code=_exit_of(exc),
            )
        self._leave_end(end)

    def elapsed_ms(self) -> float:
        return (self._timer() - self._started) * 1000

    def _append(
        self,
        payload: EventPayload,
        with_events: Sequence[NewEvent] = (),
        expected_versions: Mapping[str, int] | None = None,
        *,
        into: RunEvents | None = None,
    ) -> None:
        events = self._events if into is None else into
        own = NewEvent.of(payload, stream=run_stream(self.run_id), week_id=self.week_id, run_id=self.run_id)
        if expected_versions:
            events.append([*with_events, own], expected_versions=expected_versions)
        else:  # any sink takes a plain append (EventSink)
            events.append([*with_events, own])


def _exit_of(error: BaseException) -> int:
    return stop.code if (stop := stopped_by_signal(error)) is not None else exit_code_of(error)


def execute(work: Coroutine[Any, Any, T], session: Session, run: RunLog) -> T:
    """Run a job to the end on the session's runner (closing the model clients whatever happens); a failure
    is recorded."""

    async def go() -> T:
        try:
            return await work
        finally:
            await session.aclose()

    job = go()
    try:
        return session.runner(job)
    except BaseException as exc:
        # A Ctrl-C before the loop began them leaves both coroutines unstarted: closed here, not left to warn "never
        # awaited" on the user's terminal. Closing a finished coroutine does nothing.
        job.close()
        work.close()
        run.failed(exc)
        raise


def _leave_end(home: Path, run_id: str, end: RunFailed | None) -> None:
    if end is None:
        unrecorded_ends.remove(home, run_id)
    else:
        unrecorded_ends.leave(home, run_id, end)


def start_run(session: Session, *, run_id: str, command: str, arguments: dict, week_id: date | None = None) -> RunLog:
    """Open the run's log and record how it runs: mode, why that mode, which config; under its lease, then record
    the earlier runs found killed (app/killed_runs.py)."""
    storage = session.storage
    run = RunLog(storage.events, run_id=run_id, command=command, week_id=week_id, timer=session.timer)
    lease = None
    try:
        lease = killed_runs.take_lease(storage, run_id)
        run.started(
            arguments=arguments,
            mode=session.decision.mode.value,
            mode_reason=session.decision.reason,
            config_source=session.loaded.source,
            lease=lease,
            give_back=None if lease is None else partial(killed_runs.give_back, storage, lease),
            leave_end=None if lease is None else partial(_leave_end, session.settings.home, run_id),
            apart=partial(events_apart, storage, session.clock),
        )
    except BaseException as exc:
        run.failed_if_open(exc)  # its start stored, then the stop landed (in the start's log line, say)
        if lease is not None:
            with suppress(Exception):
                killed_runs.give_back(storage, lease)
        raise
    try:
        killed_runs.record_killed_runs(storage, found_by=run_id, home=session.settings.home)
    except (KeyboardInterrupt, SystemExit) as exc:
        run.failed(exc)
        raise
    except Exception as exc:
        # Earlier runs' housekeeping: failing this run for it would fail every run after it the same way (an old
        # run's start that no longer reads stopped every job for good). Said, and tried again by the next run.
        said = one_line(f"{type(exc).__name__}: {exc}")
        said = said if len(said) <= 300 else said[:299] + "…"  # a pydantic error spans a screen
        session.warn(f"runs killed earlier were not recorded ({said}); the next run tries again")
    return run
