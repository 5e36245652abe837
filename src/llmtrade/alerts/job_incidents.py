"""The incidents of job commands that did not do their job with no failed run to say it: a wake-up that failed on a
lost database outside any run (CommandFailed, recorded by the next job command), a job found due after its session
closed (DueJobNotRun), scheduled checkpoints no run began in their time (CheckpointsMissed), a week skipped whole
(WeekNotRun). Each was recorded and shown by nothing a cron user is told of: no run failed, so no alert went, and a
user whose cron mails nothing under `-q` heard of none. find_incidents (incidents.py) reads the events.

Each is told once: a DueJobNotRun, CheckpointsMissed or WeekNotRun is recorded once per job or week, so it is keyed by
its job or its event. CommandFailed is keyed by its command, error and New York day, as a failed run is: a database
down for an hour under a five-minute cron leaves a dozen, told as one incident, and the same failure tomorrow again."""

from __future__ import annotations

from collections.abc import Iterable

from llmtrade.alerts.incident import Incident
from llmtrade.domain.checkpoints import CheckpointsMissed, DueJobNotRun
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.runs import CommandFailed, WeekNotRun
from llmtrade.domain.wording import market_time
from llmtrade.market.calendar import new_york_date

TYPES = [
    CommandFailed.event_type(),
    DueJobNotRun.event_type(),
    CheckpointsMissed.event_type(),
    WeekNotRun.event_type(),
]


def jobs_not_done(found: Iterable[StoredEvent]) -> list[Incident]:
    """The incidents of `found` (events of TYPES), in their order."""
    incidents: list[Incident] = []
    failed: dict[str, list[tuple[StoredEvent, CommandFailed]]] = {}
    for event in found:
        if event.type == CommandFailed.event_type():
            command = CommandFailed.from_event(event)
            key = f"command-failed:{command.command}:{command.error_type}:{new_york_date(command.failed_at)}"
            if key not in failed:
                failed[key] = []
                incidents.append(Incident(key, "", "", ""))  # its place; told below, with every failure of its day
            failed[key].append((event, command))
        elif event.type == DueJobNotRun.event_type():
            incidents.append(_not_run(event, DueJobNotRun.from_event(event)))
        elif event.type == CheckpointsMissed.event_type():
            missed = CheckpointsMissed.from_event(event)
            incidents.append(
                Incident(
                    f"checkpoints-missed:{event.id}",
                    "checkpoints-missed",
                    f"llmtrade: {len(missed.checkpoints)} checkpoint(s) never run",
                    f"Checkpoints never run, recorded at {market_time(event.occurred_at)}: "
                    f"{', '.join(missed.checkpoints)}. Why: {missed.reason}. The accounts were not judged at them.",
                    [event.id],
                )
            )
        elif event.type == WeekNotRun.event_type():
            skipped = WeekNotRun.from_event(event)
            incidents.append(
                Incident(
                    f"week-not-run:{event.week_id or event.id}",
                    "week-not-run",
                    f"llmtrade: week {event.week_id} was never run",
                    f"Week {event.week_id} was skipped whole, recorded at {market_time(event.occurred_at)}: "
                    f"{skipped.reason}. Its jobs ({', '.join(skipped.jobs)}) are not run late.",
                    [event.id],
                )
            )
    return [_failed(failed[i.key]) if i.key in failed else i for i in incidents]


def _not_run(event: StoredEvent, not_run: DueJobNotRun) -> Incident:
    account = f" for {not_run.account_id}" if not_run.account_id else ""
    return Incident(
        f"due-not-run:{not_run.job}",
        "due-not-run",
        f"llmtrade: {not_run.job} was due and not run",
        f"run-due found the {not_run.kind} {not_run.job}{account} due and did not begin it (at "
        f"{market_time(event.occurred_at)}): {not_run.reason}. No run of it is recorded; `llmtrade status` lists it.",
        [event.id],
    )


def _failed(found: list[tuple[StoredEvent, CommandFailed]]) -> Incident:
    """One incident for a command's failures of one kind on one day: the first said, the others counted."""
    first_event, first = found[0]
    more = f" It failed so {len(found)} times that day as far as recorded now." if len(found) > 1 else ""
    return Incident(
        f"command-failed:{first.command}:{first.error_type}:{new_york_date(first.failed_at)}",
        "command-failed",
        f"llmtrade: {first.command} failed on its database ({first.error_type})",
        f"{first.command} exited {first.exit_code} at {market_time(first.failed_at)}, outside any run, on "
        f"{first.error_type}: {first.error}. It could record nothing then; the next job command recorded it at "
        f"{market_time(first_event.occurred_at)} (CommandFailed).{more} If it goes on, check the database "
        "(`llmtrade db status`).",
        [event.id for event, _ in found],
    )
