"""What a run-due wake-up left waiting: each piece's temporary failure (exit 75), and which of them an earlier
wake-up said already.

Cron mails whatever a wake-up prints. A checkpoint waiting for hours for a halted symbol's price (or an owner's
provider) used to print the same line at every wake-up, a mail every five minutes; a user wants one message when a
wait starts and one when it ends (the checkpoint finishes, or is closed past its deadline). A wait is repeated when
the checkpoint's last run deferred the same accounts at the same stage for the same problems (symbol and why, the
figures apart) as the run before it, or, for a weekly run or a postmortem, when its last run failed as the run before
it did (`run_wait_repeated`): under --quiet a wake-up whose every wait is repeated says nothing and still
exits 75 (the job is not done; the events record each attempt). The kill switch is one wait whoever meets it: said by
the first run it blocks, then by none until it is turned on again (`kill_switch_said`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from llmtrade.domain.checkpoints import KILL_SWITCH_BLOCK, OrderBlocked, TradingDisabled
from llmtrade.domain.runs import RunFailed, RunStarted
from llmtrade.domain.streams import KILL_SWITCH
from llmtrade.errors import KillSwitchOn, StageError, TemporaryError, Waiting
from llmtrade.exits import classify, signalled
from llmtrade.market.calendar import NEW_YORK
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.checkpoint_close import without_figures


@dataclass
class Waits:
    """What a wake-up's pieces left: waits (temporary failures, exit 75), the repeated among them, and failures that
    are not waits (`failed`: one account's event checkpoint failing so did not stop the others; exit 1)."""

    waiting: list[Exception] = field(default_factory=list)
    repeated: list[Exception] = field(default_factory=list)
    failed: list[Exception] = field(default_factory=list)
    # The kill switch was off when the wake-up began and had blocked an order already: its wait was said.
    kill_switch_said: bool = False

    def add(self, error: Exception, *, repeated: bool = False) -> None:
        self.waiting.append(error)
        if repeated or (self.kill_switch_said and _blocked(error)):
            self.repeated.append(error)

    def fail(self, error: Exception) -> None:
        """A failure someone must look at, raised (exit 1) once the wake-up's other pieces have run."""
        self.failed.append(error)

    def said_before(self) -> bool:
        """Every wait is one an earlier wake-up said (none is new), and nothing failed."""
        return not self.failed and bool(self.waiting) and len(self.repeated) == len(self.waiting)

    def unraised(self) -> list[Exception]:
        """What `raise_all` leaves unsaid, for the caller to say first: with a failure, the other failures and
        every wait (a wait left unsaid now would be taken for one said by the next wake-up's --quiet)."""
        return [*self.failed[1:], *self.waiting] if self.failed else []

    def raise_all(self) -> None:
        """The wake-up's exit once its results are said: the first failure (exit 1), else the one wait as it was
        raised (exit 75), several in one line."""
        if self.failed:
            raise self.failed[0]
        if len(self.waiting) == 1:
            raise self.waiting[0]
        if self.waiting:
            failures = [failure for e in self.waiting if (failure := classify(e)) is not None]
            said = "; ".join(dict.fromkeys(failure.message for failure in failures))
            # Said as a wait ("waiting: ...") when each piece was one, not one job's price wait beside a lost provider.
            every = len(failures) == len(self.waiting) and all(failure.waiting for failure in failures)
            raise (Waiting if every else TemporaryError)(said) from self.waiting[0]


def _blocked(error: BaseException) -> bool:
    """`error` is the kill switch's stop (KillSwitchOn), or raised from it (a StageError's cause): not an error met
    while handling it (a database lost recording the stopped run's end is its own wait, to be said)."""
    link: BaseException | None = error
    seen: list[BaseException] = []
    while link is not None and all(link is not s for s in seen):
        if isinstance(link, KillSwitchOn):
            return True
        seen.append(link)
        link = link.__cause__ or (link.cause if isinstance(link, StageError) else None)
    return False


def kill_switch_said(events: EventStore) -> bool:
    """Trading is disabled now, and a run has met it since it was turned off (an order recorded as blocked by it):
    the run that met it first said so (exit 75, in its one line); a wake-up that meets it again says nothing new. Run
    by hand or by a wake-up, the first said it; cron mails a wait when it starts and when it ends (the run after
    `trading enable` says it finished after waiting)."""
    switch = events.read(stream=KILL_SWITCH)
    if not switch or switch[-1].type != TradingDisabled.event_type():
        return False
    blocked = events.read(type=OrderBlocked.event_type(), after_id=switch[-1].id)
    return any(OrderBlocked.from_event(event).reason.startswith(KILL_SWITCH_BLOCK) for event in blocked)


def run_wait_repeated(events: EventStore, week_id: date, command: str, since: datetime) -> bool:
    """The last two runs of `command` ("run-weekly", "postmortem") for the week both failed with the same problem
    (error type and text, figures aside), the last one started at or after `since` (this wake-up's: a failure before
    the run began, a discovery's, is not that run's): the wait the wake-up that ran the earlier one said already. A
    weekly run waits so for as long as its owners' provider is down, every wake-up (a checkpoint's wait:
    checkpoint_close.py `wait_repeated`)."""
    runs = _runs_of(events, week_id, command)
    if len(runs) < 2 or runs[-1][1] < since:
        return False
    failures = _failures_of(events, week_id, command)
    before, now = (failures.get(run_id) for run_id, _ in runs[-2:])
    return before is not None and now is not None and _problem(before) == _problem(now)


def run_waited(events: EventStore, week_id: date, command: str, run_id: str) -> str | None:
    """How `command`'s runs for the week failed before the run `run_id` finished it, for the line that says the wait
    is over: since when (New York), how many attempts and the last one's problem; None when the run before it did not
    fail."""
    failures = _failures_of(events, week_id, command)
    waited: list[tuple[str, datetime]] = []
    for earlier, at in reversed([r for r in _runs_of(events, week_id, command) if r[0] != run_id]):
        # The attempts just before this run, back to the last that did not fail or was stopped by a signal: a stop is
        # no wait (its own line said it, and the run that goes on after it is the rerun it asked for).
        if earlier not in failures or _stopped(failures[earlier]):
            break
        waited.append((earlier, at))
    if not waited:
        return None
    since = waited[-1][1].astimezone(NEW_YORK).strftime("%a %H:%M")
    return f"waited since {since} ({len(waited)} attempt(s) failed, the last: {failures[waited[0][0]].error})"


def _stopped(failed: RunFailed) -> bool:
    """The run was stopped by SIGTERM or Ctrl-C, not failed."""
    return signalled(failed.error_type, failed.exit_code)


def _runs_of(events: EventStore, week_id: date, command: str) -> list[tuple[str, datetime]]:
    """Each run of `command` for the week, oldest first: (run id, when it started)."""
    return [
        (e.run_id or "", e.occurred_at)
        for e in events.read(week_id=week_id, type=RunStarted.event_type())
        if RunStarted.from_event(e).command == command
    ]


def _failures_of(events: EventStore, week_id: date, command: str) -> dict[str, RunFailed]:
    stored = events.read(week_id=week_id, type=RunFailed.event_type())
    failed = ((e.run_id or "", RunFailed.from_event(e)) for e in stored)
    return {run_id: f for run_id, f in failed if f.command == command}


def _problem(failed: RunFailed) -> tuple[str, str]:
    return failed.error_type, without_figures(failed.error)
