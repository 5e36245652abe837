"""The week's postmortem: per account, what the week did to it, the frozen thesis against what
happened, each frozen indicator against its threshold, and the owner's short reflection.

A Pipeline of three stages (events on the run stream, progress through the observer):

    gather -> reflect -> record -> remember_outcomes -> complete

The reflections are stored once before the postmortem is written, and the postmortem once per week
with a completion marker (projected into `week_summaries` by the caller); a rerun loads both. Then the
week's outcomes and lessons go into the committee's memory, and only then the completion marker
(workflows/postmortem_memory.py): a run cut off before it is run again.
"""

from __future__ import annotations

from datetime import date, datetime

from llmtrade.domain.checkpoints import Postmortem, PostmortemCompleted, PostmortemReflected
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.memory import OutcomeRemembered, SetupRemembered
from llmtrade.domain.runs import RunFinished
from llmtrade.domain.streams import postmortem_reflections_stream, postmortem_stream
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.pipeline import Pipeline, StageObserver
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.completion import Completion, completion_of
from llmtrade.workflows.postmortem_memory import CompleteStage, RememberOutcomesStage
from llmtrade.workflows.postmortem_reflect import ReflectStage
from llmtrade.workflows.postmortem_stages import (
    POSTMORTEMS,
    UNPRICED,
    UNREAD,
    WRITTEN_NOW,
    GatherStage,
    RecordStage,
)
from llmtrade.workflows.workbench import Workbench

__all__ = [
    "POSTMORTEMS",
    "WRITTEN_NOW",
    "PostmortemRun",
    "failed_reflections",
    "postmortem_completion",
    "postmortem_pipeline",
]


def failed_reflections(events: EventStore, week_id: date) -> list[str]:
    """The week's reflections stored as missing, each "ACCOUNT's reflection failed: why" (the reflections stream)."""
    stored = events.read_stream(postmortem_reflections_stream(week_id))
    reflected = [PostmortemReflected.from_event(e) for e in stored if e.type == PostmortemReflected.event_type()]
    return [f"{r.account_id}'s reflection failed: {r.error}" for r in reflected if r.reflection is None and r.error]


def postmortem_completion(events: EventStore, week_id: date) -> StoredEvent | None:
    """The week's PostmortemCompleted (its postmortem closed the week), or None while the week is open."""
    found = events.read(stream=postmortem_stream(week_id), type=PostmortemCompleted.event_type(), limit=1)
    return found[0] if found else None


def cut_off_before_memory(events: EventStore, week_id: date | None = None) -> set[str]:
    """Postmortems counted done by a marker written before the week's outcomes and lessons reached the memory, and cut
    off there: builds before 005cb9f (72a5597, 972aba5 among them) wrote PostmortemCompleted with the postmortems, then
    remembered, so one killed between (an upgrade trial's, from 84904eb) was done for good: run-due said "nothing is
    due" and the week's setups stayed without outcomes. Such a week (its setups remembered, no outcome, no postmortem
    run finished after its marker) is due once more: its rerun loads every stored stage and writes only the memory.
    A week whose finished run remembered nothing (no setup's account had a postmortem) is not asked again.
    `week_id`: that week's alone, read by its own records (the weekly run asks of the week before, every week of a
    backtest too); None: every week's (run-due)."""
    marked = PostmortemCompleted.event_type()
    found = events.read(type=marked) if week_id is None else events.read(stream=postmortem_stream(week_id), type=marked)
    markers = {PostmortemCompleted.from_event(e).week_id: e.id for e in found}
    if not markers:
        return set()
    kinds = [SetupRemembered.event_type(), OutcomeRemembered.event_type(), RunFinished.event_type()]
    setups: set[date] = set()
    outcomes: set[date] = set()
    finished: dict[date, int] = {}
    for event in events.read(type=kinds) if week_id is None else events.read(type=kinds, week_id=week_id):
        if event.week_id is None or event.week_id not in markers:
            continue
        if event.type == SetupRemembered.event_type():
            setups.add(event.week_id)
        elif event.type == OutcomeRemembered.event_type():
            outcomes.add(event.week_id)
        elif event.payload.get("command") == "postmortem":
            finished[event.week_id] = max(finished.get(event.week_id, 0), event.id)
    return {
        f"postmortem:{week}"
        for week, marker in markers.items()
        if week in setups and week not in outcomes and finished.get(week, 0) < marker
    }


def postmortem_pipeline(
    bench: Workbench, observer: StageObserver | None = None, ends: datetime | None = None
) -> Pipeline:
    """`ends`: where the week ends for the prices the postmortem reads (GatherStage); None: `bench.now`."""
    stages = [
        GatherStage(bench, ends),
        ReflectStage(bench),
        RecordStage(bench),
        RememberOutcomesStage(bench),
        CompleteStage(bench),
    ]
    return Pipeline(stages, bench.events, observer, inputs=())


class PostmortemRun:
    def __init__(self, bench: Workbench, observer: StageObserver | None = None, ends: datetime | None = None):
        self.bench = bench
        self.pipeline = postmortem_pipeline(bench, observer, ends)

    async def run_pipeline(self) -> PipelineContext:
        """The finished context: POSTMORTEMS and WRITTEN_NOW, plus `.loaded` and `.reports`."""
        return await self.pipeline.run(PipelineContext(run_id=self.bench.run_id, week_id=self.bench.week_id))

    async def run(self) -> tuple[list[Postmortem], bool, dict[str, str], list[str], Completion]:
        """(postmortems, written_now, unpriced, unread, completion): a week's postmortem is written once, then read
        back; `unpriced`: each account whose end equity, written now, values a held symbol at cost, and why; `unread`:
        each universe symbol no account holds that has no close, and what the weekly run does with it; `completion`:
        its marker, for the job to record with the run's end (workflows/completion.py)."""
        result = await self.run_pipeline()
        return (
            result.get(POSTMORTEMS),
            result.get(WRITTEN_NOW),
            result.get(UNPRICED),
            result.get(UNREAD),
            completion_of(result),
        )
