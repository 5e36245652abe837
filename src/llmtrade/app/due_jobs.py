"""What is due: the scheduled jobs already done (by their completion events) and those due now and not done, as
run-due and the checkpoint deadlines ask them."""

from __future__ import annotations

from datetime import date

from llmtrade.app.container import Container
from llmtrade.domain.checkpoints import CheckpointCompleted, PostmortemCompleted
from llmtrade.domain.runs import WeekCompleted
from llmtrade.domain.weeks import week_id_for
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.postmortem import cut_off_before_memory
from llmtrade.workflows.schedule import Job, JobKind, due_jobs, weekly_key
from llmtrade.workflows.week_holds import held_week_due
from llmtrade.workflows.weekly import completion


def done_keys(events: EventStore) -> set[str]:
    """Keys of the scheduled jobs already done, as workflows.schedule names them."""
    keys: set[str] = set()
    for event in events.read(
        type=[WeekCompleted.event_type(), CheckpointCompleted.event_type(), PostmortemCompleted.event_type()]
    ):
        if event.type == WeekCompleted.event_type() and event.week_id:
            keys.add(weekly_key(event.week_id))
        elif event.type == CheckpointCompleted.event_type():
            done = CheckpointCompleted.from_event(event)
            keys.add(done.key)
        elif event.type == PostmortemCompleted.event_type():
            keys.add(f"postmortem:{PostmortemCompleted.from_event(event).week_id}")
    return keys


def due(app: Container) -> list[Job]:
    """The scheduled jobs due now and not done; a postmortem only for a week that was actually run."""
    with app.storage(persist=False) as storage:
        done = done_keys(storage.events) - cut_off_before_memory(storage.events)
        now = app.clock.now()
        current = week_id_for(new_york_date(now))
        run_weeks = [date.fromisoformat(key.split(":", 1)[1]) for key in done if key.startswith("weekly:")]
        # This week's run held an account back (its orders still open at the broker: a cancel stuck at Alpaca): run
        # again at every wake-up, which looks at the account again and trades it once they have ended.
        # Or a run that planned such an account was killed before it sent the plan: the account is held no more, and
        # only the weekly run sends its week (asking the broker first), never a checkpoint.
        held = weekly_key(current) in done and held_week_due(storage.events, current)
        again = [weekly_key(current)] if held else []
        jobs = due_jobs(app.loaded.config.schedule, app.calendar, now, done, run_weeks=run_weeks, again=again)
        return [
            job
            for job in jobs
            # Only this week trades; a postmortem only reviews a week that was run.
            if (job.kind is JobKind.POSTMORTEM and completion(storage.events, job.week_id) is not None)
            or (job.kind is not JobKind.POSTMORTEM and job.week_id == current)
        ]
