"""The lines `status` shows of the week's jobs beyond the runs (app/status_jobs.py): fields of StatusResult
(app/results.py), kept apart to keep that module short."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Result(BaseModel):
    """As results.py's (which imports these lines, so cannot be imported here)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EventCheckpointLine(Result):
    """An event checkpoint fired this week (run-due, a price move) and whether it has completed."""

    job: str
    account_id: str
    symbol: str
    move: float
    reference_price: float
    reference_at: str
    price: float
    price_at: str
    completed: bool


class ClosingPutOffLine(Result):
    """A checkpoint past its deadline, still open: run-due's closing of it was put off (`reason`, at `at`)."""

    job: str
    reason: str
    at: str


class JobNotDoneLine(Result):
    """A job command that failed with no run to record it, or did not run its job, as `status` lists it. `kind`: its
    event's type (CommandFailed, DueJobNotRun, ConfigRejected, ClockBehindRefused, ClockSkewRefused,
    EventChecksDeferred); `at`: when it happened (a CommandFailed's failure, recorded by the next job command; a clock
    refusal's time by a clock that was right, `exact` False when only the earliest it can have been; the first of
    deferrals in a row, of one outage's failures: app/status_jobs.py `_outages`); `command`: the job command, or the
    job's key;
    `event_id` None: a CommandFailed left in the home that no job command has recorded yet (none has reached the
    database since)."""

    at: str
    exact: bool = True
    kind: str
    command: str
    why: str
    event_id: int | None


class AlertNotDeliveredLine(Result):
    """An alert that has not reached a service, as `status` lists it. `state`: "owed" (its sends failed so far; the
    next job command retries it), "given up" (AlertGivenUp: never sent) or "URL unusable" (AlertUrlRejected: nothing
    goes to that URL); `alert` its title (an unusable URL's: none); `target` the URL's record name, never the URL;
    `since` its first failure (an unusable URL's: the last day it was said); `error` why the last send failed."""

    state: str
    alert: str
    target: str
    since: str
    attempts: int
    error: str
