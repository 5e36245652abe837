"""What a backtest adds to a job's failure on its way out: where it stopped (the backtest, the week, the job, the weeks
done) and what to do there, as a note (`add_note`) the CLI prints after the failure's own message (exits.classify).
`Whereabouts` follows the loop between the jobs too: a stop between two weeks, or after the last week and before the
backtest's finish is recorded, said nothing of where it stopped.

The job's own message names the call, the model and the provider's reason, but not the backtest's week, and its advice
is a live run's: "drop --replay" (a backtest needs --offline or --replay), "a rerun asks again until the deadline,
then goes on without them" (a backtest's rerun restarts the job at its own instant, so it never passes the deadline).
The failure keeps its type and exit code: 75 for a temporary one, 1 for a budget spent or a replay miss, 2 for a prompt
override that does not render."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date

from llmtrade.domain import streams
from llmtrade.domain.backtests import BacktestStopped
from llmtrade.domain.events import NewEvent
from llmtrade.errors import (
    BudgetExceeded,
    InvalidLLMOutput,
    LlmtradeError,
    PromptError,
    ReplayMiss,
    TemporaryError,
)
from llmtrade.exits import causes, error_text, exit_code_of
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.schedule import Job, JobKind


@contextmanager
def stops_recorded() -> Iterator[list[EventStore]]:
    """Record the invocation's failure (BacktestStopped) on the backtest stream of the store put in the list given,
    once it is there (after the invocation recorded its start): the leaderboard then says what to fix rather than
    'run the same command again', which meets a permanent failure again (domain/backtests.py `again`)."""
    armed: list[EventStore] = []
    try:
        yield armed
    except LlmtradeError as exc:
        if armed:
            stop = BacktestStopped(error=error_text(exc).split("\n")[0], exit_code=exit_code_of(exc))
            with suppress(Exception):  # the failure is what is raised, not a failure to record it
                armed[0].append([NewEvent.of(stop, stream=streams.BACKTEST)])
        raise


@dataclass
class Whereabouts:
    """Where a backtest's loop over the weeks `todo` is (`weeks_done` of `weeks` so far), for the note `noted` adds
    to a failure or a stop there: in a job (`note_stop`), after a week's jobs (`week_ran`), after its BacktestWeekDone
    (`week_done`), after the week is handed to the writer behind (`handed`), after the finish (`finished`).
    `written`: waits for the writes behind and says whether every one committed (EventStore.written_behind)."""

    name: str
    todo: Sequence[date]
    weeks_done: int
    weeks: int
    written: Callable[[], bool] = lambda: True
    job: Job | None = None
    # The part of the job's turn under way when it is not the job itself (`doing`): its discovery, a look-ahead audit's
    # cut-off rerun, a delisting's settlement. A replay miss in the discovery before a week's weekly run was said to
    # stop "at its weekly run", and the user looked for the weekly run's call.
    step: str | None = None
    live_misses: bool = False  # --live-misses given: a call whose cached answers were invalid was asked anew
    ran: date | None = None  # the last week whose jobs all ran
    recorded: bool = False  # its BacktestWeekDone appended
    ended: bool = False  # BacktestFinished appended
    # Weeks counted in `weeks_done` whose flush is not known committed: the one in flight behind, and one appended
    # since. A flush that fails (a full disk) is raised by the next week's flush, which has counted that week too: a
    # trial's stop said "weeks done: 11 of 25", and the rerun found 10.
    unsure: int = 0
    lost: int = 0  # the weeks run whose writes failed (`noted`)

    def at(self, job: Job) -> None:
        self.job, self.step = job, None

    def doing(self, step: str | None) -> None:
        """`step`: what of the current job's turn runs from here (`job_steps`' words), None for the job itself."""
        self.step = step

    def week_ran(self, week_id: date) -> None:
        self.job, self.ran, self.recorded = None, week_id, False

    def week_done(self) -> None:
        self.recorded = True
        self.weeks_done += 1
        self.unsure += 1

    def handed(self) -> None:
        self.unsure = 1  # the flush waited for the week before's: only this one's is in flight

    def finished(self) -> None:
        self.ended = True

    @contextmanager
    def noted(self) -> Iterator[None]:
        """A failure or a stop (Ctrl-C, SIGTERM) raised in the block gets the note of where the loop was. Any failure:
        a database lost between stages (a DATABASE_URL's server killed) arrives as psycopg's own error, not a
        stage's, and was said without the week. The weeks done are those stored: the flush in flight is waited for
        (as the way out would), and the weeks it and a failed one held are not counted."""
        try:
            yield
        except (Exception, KeyboardInterrupt) as exc:
            if self.unsure and not self.written():
                self.weeks_done -= self.unsure
                self.lost = self.unsure
            self.unsure = 0
            if self.job is not None:
                note_stop(
                    exc,
                    name=self.name,
                    job=self.job,
                    weeks_done=self.weeks_done,
                    weeks=self.weeks,
                    step=self.step,
                    live_misses=self.live_misses,
                )
            else:
                exc.add_note(f"backtest {self.name!r} stopped {self._where()}.")
            raise

    def _where(self) -> str:
        done = f"(weeks done: {self.weeks_done} of {self.weeks})"
        if self.lost:
            weeks = "week" if self.lost == 1 else f"{self.lost} weeks"
            return (
                f"after week {self.ran}: the database did not store the last {weeks} run {done}, run again by a rerun"
            )
        if self.ended:
            return f"with its finish recorded {done}, while making its leaderboard: its books are whole"
        if self.ran is None:
            first = f" ({self.todo[0]})" if self.todo else ""
            doing = f", while {self.step}" if self.step else ""  # a part of its start (prefetch, a helper's spawn)
            return f"before the first week it had to run{first}{doing} {done}"
        if not self.recorded:
            return f"after the jobs of week {self.ran}, before recording the week done {done}"
        later = [w for w in self.todo if w > self.ran]
        if later:
            return f"between week {self.ran} and week {later[0]} {done}"
        return f"after its last week ({self.ran}), before recording its finish {done}: no week is left to run"


def note_stop(
    exc: BaseException,
    *,
    name: str,
    job: Job,
    weeks_done: int,
    weeks: int,
    step: str | None = None,
    live_misses: bool = False,
) -> None:
    """Add the backtest's note to `exc` (a job's failure, or a Ctrl-C or SIGTERM in it, about to end the backtest):
    where it stopped (`step`: the part of the job's turn, `Whereabouts.doing`; None, the job itself), and for a failure
    what to do there (a stop's own line says to run the same command again)."""
    at = step or f"at its {_job(job)}"
    where = f"backtest {name!r} stopped in week {job.week_id}, {at} (weeks done: {weeks_done} of {weeks})"
    if not isinstance(exc, LlmtradeError):
        exc.add_note(f"{where}.")
        return
    advice = _advice(exc, live_misses=live_misses)
    exc.add_note(f"{where}: {advice}" if advice else f"{where}.")


def _job(job: Job) -> str:
    if job.kind is JobKind.CHECKPOINT:
        return f"{job.time} checkpoint of {job.day}"
    return "weekly run" if job.kind is JobKind.WEEKLY else "postmortem"


def discovery_step() -> str:
    """The discovery before a week's weekly run, as a stop's line says where it stopped (`Whereabouts.doing`)."""
    return "at its discovery before the weekly run"


def audit_step(job: Job | None) -> str:
    """A look-ahead audit's cut-off rerun just before `job` (None: before the discovery before the weekly run)."""
    of = "discovery before the weekly run" if job is None else _job(job)
    return f"in the look-ahead audit's cut-off rerun of its {of}"


def settling_step(job: Job) -> str:
    """The closing of a delisted symbol's positions that runs before `job` (app/backtest_delisting.py)."""
    return f"settling a delisted symbol's positions before its {_job(job)}"


def _advice(exc: LlmtradeError, *, live_misses: bool = False) -> str | None:
    chain = causes(exc)
    if any(isinstance(link, BudgetExceeded) for link in chain):
        return (
            "the answers bought are kept; raise --live-misses USD (the whole backtest's total, what it spent included) "
            "or the models.yaml budget named, and run the same command to go on from this week"
        )
    if any(isinstance(link, ReplayMiss) for link in chain):
        return (
            "the replay cache lacks that answer; run the same command with --live-misses USD to ask the live model "
            "for what is missing and go on from this week, or run the range with --offline (the rules provider, no "
            "model) under a new --name"
        )
    if any(isinstance(link, PromptError) for link in chain):
        # Nothing final of the failed step was stored (errors.PromptError), and the answers it held were asked with the
        # old template, so are asked again (pipeline/retry.py `basis`); the prompt templates are not in the inputs a
        # resume compares, so the same name goes on with the fixed one.
        return "fix the prompt template named and run the same command to go on from this week"
    if any(isinstance(link, InvalidLLMOutput) for link in chain):
        # The replay cache keeps every live answer, an invalid one too (a replay gives what the model said, and a repair
        # is asked from it): a plain --replay replays it and stops here again; under --live-misses a call whose cached
        # answer and repair both failed validation is a miss, asked anew (llm/invalid_cached.py).
        elsewise = (
            "or run the range with --offline under a new --name, or change the prompt that asked them "
            "(CONFIG_DIR/prompts)"
        )
        if live_misses:
            # Asked live here: a miss, or a call whose cached answers failed validation, asked anew. Which of the two
            # is not known here, and "asked anew ... again" was said of a call this run asked for the first time.
            return (
                "the model asked live under --live-misses answered invalidly, its repair too (what was bought is "
                "cached and paid for); the same command asks those calls anew, within --live-misses USD, " + elsewise
            )
        return (
            "the model's invalid answers it stopped on are in the replay cache (it keeps every live answer, as the "
            "model gave it), so a plain --replay replays them and stops here again; run the same command with "
            "--live-misses USD to ask those calls anew (a call whose cached answer and repair both failed validation "
            "counts as a miss), " + elsewise
        )
    if any(isinstance(link, TemporaryError) for link in chain):
        return (
            "nothing of the failed step was stored as final; run the same command again later to go on from this "
            "week: it restarts the job at its own time, so it asks again what failed however late it is run (a "
            "deadline said above is a live run's: a backtest's rerun never reaches it, nor goes on without what failed)"
        )
    return None  # the failure's own message says what to do (a look-ahead leak: the name must not go on)
