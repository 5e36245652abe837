"""What `status` says of this week's and last week's jobs beyond the runs (app/queries.py `status`): the event
checkpoints a price move called for, the closings run-due put off past their deadline, the checkpoints missed, the job
commands that failed with no run to record it or did not run their job (the looks for price moves run-due left to the
next wake-up among them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from llmtrade.app.due_jobs import done_keys
from llmtrade.app.missed_reasons import refusal_of
from llmtrade.app.refusals_ended import ENDS_REFUSALS
from llmtrade.app.status_lines import ClosingPutOffLine, EventCheckpointLine, JobNotDoneLine
from llmtrade.domain.checkpoints import CheckpointsMissed, ClosingPutOff, DueJobNotRun, EventChecksDeferred
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.runs import ClockBehindRefused, ClockSkewRefused, CommandFailed, ConfigRejected
from llmtrade.domain.streams import CLOSINGS_PUT_OFF, EVENT_CHECKS, MISSED_CHECKPOINTS, week_stream
from llmtrade.domain.wording import market_time
from llmtrade.exits import one_line
from llmtrade.market.calendar import NEW_YORK
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.event_checkpoint import fired


def closings_put_off(events: EventStore, week_id: date) -> list[ClosingPutOffLine]:
    """Checkpoints of this week and last past their deadline whose closing run-due put off (ClosingPutOff) and which
    are still open, each with the last reason."""
    done = done_keys(events)
    latest: dict[str, ClosingPutOffLine] = {}
    for week in (week_id - timedelta(days=7), week_id):
        for e in events.read_stream(week_stream(week, CLOSINGS_PUT_OFF)):
            put_off = ClosingPutOff.from_event(e)
            for key in put_off.checkpoints:
                latest[key] = ClosingPutOffLine(job=key, reason=put_off.reason, at=e.occurred_at.isoformat())
    return [line for key, line in latest.items() if key not in done]


def event_checkpoint_lines(events: EventStore, week_id: date) -> list[EventCheckpointLine]:
    """The week's event checkpoints (workflows/event_checkpoint.py), each with whether it completed."""
    done = done_keys(events)
    return [
        EventCheckpointLine(
            job=t.key,
            account_id=t.account_id,
            symbol=t.symbol,
            move=t.move,
            reference_price=t.reference_price,
            reference_at=t.reference_at.isoformat(),
            price=t.price,
            price_at=t.price_at.isoformat(),
            completed=t.key in done,
        )
        for t in fired(events, week_id)
    ]


def checkpoints_missed(events: EventStore, week_id: date) -> list[str]:
    """The keys of this week's and last week's checkpoints recorded missed (CheckpointsMissed), oldest first."""
    return [
        key
        for week in (week_id - timedelta(days=7), week_id)
        for e in events.read_stream(week_stream(week, MISSED_CHECKPOINTS))
        for key in CheckpointsMissed.from_event(e).checkpoints
    ]


_NOT_DONE = [
    CommandFailed.event_type(),
    DueJobNotRun.event_type(),
    ConfigRejected.event_type(),
    ClockBehindRefused.event_type(),
    ClockSkewRefused.event_type(),
]


def jobs_not_done(events: EventStore, week_id: date, left: Sequence[CommandFailed] = ()) -> list[JobNotDoneLine]:
    """This week's and last week's job commands that failed with no run to record it (CommandFailed: a database lost
    outside any run), or did not run their job: refused for the configuration or the clock (each recorded once while it
    lasts), or a job found due after its session closed (DueJobNotRun), or run-due's look for price moves left to the
    next wake-up (`_deferred`); oldest first. Recorded, alerted, and until now not in `status`: a user reading it weekly
    saw a checkpoint missed, or nothing, and not why. Few events, of types read apart. `left`: the CommandFailed left
    in the home that no job command has recorded yet (no event id)."""
    since = datetime.combine(week_id - timedelta(days=7), time(), NEW_YORK)
    lines = _deferred(events, week_id)
    for e in events.read(type=_NOT_DONE):
        if e.type == CommandFailed.event_type():
            failed = CommandFailed.from_event(e)
            why = f"{_failed_why(failed)}{_RECORDED_NEXT}"
            lines.append(
                JobNotDoneLine(
                    at=failed.failed_at.isoformat(), kind=e.type, command=failed.command, why=why, event_id=e.id
                )
            )
        elif e.type == DueJobNotRun.event_type():
            not_run = DueJobNotRun.from_event(e)
            lines.append(
                JobNotDoneLine(
                    at=e.occurred_at.isoformat(), kind=e.type, command=not_run.job, why=not_run.reason, event_id=e.id
                )
            )
        else:
            refusal = refusal_of(e.type, e.id, e.occurred_at, e.payload)
            command = str(e.payload.get("command", ""))
            why = refusal.why.removeprefix(f"{command}: ")  # a configuration's names its command: the line has it
            # Its end when on record (a run begun, a job command accepted): listed alone, a refusal read as lasting.
            ended = events.read(type=list(ENDS_REFUSALS), after_id=e.id, limit=1)
            over = f"; over by {market_time(ended[0].occurred_at, 'minutes')}" if ended else ""
            lines.append(
                JobNotDoneLine(
                    at=refusal.at.isoformat(),
                    exact=refusal.exact,
                    kind=e.type,
                    command=command,
                    why=f"refused for {refusal.what}: {why} (recorded at its first wake-up, once while it lasts{over})",
                    event_id=e.id,
                )
            )
    for failed in left:  # no job command has reached the database since: said as not on record yet
        why = f"{_failed_why(failed)}; not recorded yet: the next job command that reaches the database records it"
        lines.append(
            JobNotDoneLine(
                at=failed.failed_at.isoformat(), kind="CommandFailed", command=failed.command, why=why, event_id=None
            )
        )
    return _outages(
        sorted(
            (line for line in lines if datetime.fromisoformat(line.at) >= since),
            key=lambda line: datetime.fromisoformat(line.at),
        )
    )


def _outages(lines: list[JobNotDoneLine]) -> list[JobNotDoneLine]:
    """`lines` (oldest first) with the recorded CommandFailed of one outage as one line: the same command failing the
    same way at wake-ups each within _SAME_HOLD of the one before (an hour's lost database under a five-minute cron is
    a dozen), at the first (its event id), saying how many and until when, as `_deferred` says a hold's deferrals.
    Alerted so already (alerts/job_incidents.py: one incident per command, error and day); `status` listed each."""
    kept: list[JobNotDoneLine] = []
    runs: list[tuple[int, datetime, int]] = []  # each outage: its line's index in `kept`, its last failure, how many
    latest: dict[tuple[str, str], int] = {}  # (command, why) -> its latest outage in `runs`
    for line in lines:
        at = datetime.fromisoformat(line.at)
        key = (line.command, line.why)
        if line.kind != CommandFailed.event_type() or line.event_id is None:
            kept.append(line)
        elif key in latest and at - runs[latest[key]][1] <= _SAME_HOLD:
            index, _, count = runs[latest[key]]
            runs[latest[key]] = (index, at, count + 1)
        else:
            latest[key] = len(runs)
            runs.append((len(kept), at, 1))
            kept.append(line)
    for index, last, count in runs:
        if count > 1:
            why = kept[index].why.removesuffix(_RECORDED_NEXT)
            more = f"{why} ({count} times, the last at {market_time(last)}){_RECORDED_NEXT}"
            kept[index] = kept[index].model_copy(update={"why": more})
    return kept


_RECORDED_NEXT = " (recorded by the next job)"
# The longest time between two wake-ups (`schedule crontab` refuses --every over an hour): deferrals further apart met
# two different holds.
_SAME_HOLD = timedelta(hours=1)


def _deferred(events: EventStore, week_id: date) -> list[JobNotDoneLine]:
    """This week's and last week's EventChecksDeferred (run-due found the week's lock held by another run, and left its
    look for price moves to the next wake-up): recorded, and said only by a wake-up without -q, so a price move no
    checkpoint followed showed nowhere why. A run that holds the lock for an hour is met by a dozen wake-ups, each
    recorded: those with the same reason, each within _SAME_HOLD of the one before, are one line, at the first (its
    event id), saying how many and until when. Read by the weeks' streams, as the closings put off are: no scan of the
    event types."""
    runs: list[tuple[StoredEvent, StoredEvent, int]] = []  # first, last, how many
    for week in (week_id - timedelta(days=7), week_id):
        for e in events.read_stream(week_stream(week, EVENT_CHECKS)):
            if (
                runs
                and runs[-1][0].payload.get("reason") == e.payload.get("reason")
                and e.occurred_at - runs[-1][1].occurred_at <= _SAME_HOLD
            ):
                first, _, count = runs[-1]
                runs[-1] = (first, e, count + 1)
            else:
                runs.append((e, e, 1))
    lines = []
    for first, last, count in runs:
        # What held the week, without the rerun advice the wake-up printed: the next wake-up reruns it by itself.
        reason = one_line(EventChecksDeferred.from_event(first).reason).partition("; let it finish")[0]
        more = f" ({count} times, the last at {market_time(last.occurred_at)})" if count > 1 else ""
        lines.append(
            JobNotDoneLine(
                at=first.occurred_at.isoformat(),
                kind=first.type,
                command="run-due",
                why=f"its look for price moves (event checkpoints) left to the next wake-up: {reason}{more}",
                event_id=first.id,
            )
        )
    return lines


def _failed_why(failed: CommandFailed) -> str:
    return f"exit {failed.exit_code}, {failed.error_type}: {one_line(failed.error)}"
