"""The postmortem's last stages: the week's outcomes and lessons into the committee's memory, then its completion.

Each setup of the week (every pitch and the decision, rebuilt from their stored events with the ids the weekly
run remembered them under) gets its Outcome from its account's postmortem, and each reflection's lessons become
Lessons; all are known when this stage makes them (`bench.made_now()`: on the machine's clock past the
reflections they are made of, not the run's start), so no week whose as-of time is earlier sees them. Written
whenever the run has a memory, whatever `memory.enabled` says (workflows/memory_stages.py); `Memory.remember` keeps
what a previous run stored, so a rerun writes nothing twice.
"""

from __future__ import annotations

from llmtrade.domain.checkpoints import PostmortemCompleted
from llmtrade.domain.committee import DecisionMade, PitchSubmitted
from llmtrade.domain.events import NewEvent
from llmtrade.domain.memory import LessonRemembered, OutcomeRemembered, Setup
from llmtrade.domain.streams import DECISION, PITCHES, memory_stream, postmortem_stream, week_stream
from llmtrade.pipeline.context import PipelineContext
from llmtrade.workflows.completion import COMPLETION, NONE, Completion
from llmtrade.workflows.memory_records import closing_memories, decision_setup, pitch_setup
from llmtrade.workflows.postmortem_stages import POSTMORTEMS
from llmtrade.workflows.workbench import Workbench


def week_setups(bench: Workbench) -> list[Setup]:
    """The week's setups as the weekly run remembered them: every pitch, then the decision."""
    events = bench.events
    pitches = events.read(stream=week_stream(bench.week_id, PITCHES), type=PitchSubmitted.event_type())
    decided = events.read(stream=week_stream(bench.week_id, DECISION), type=DecisionMade.event_type())
    return [
        *(pitch_setup(PitchSubmitted.from_event(e).pitch) for e in pitches),
        *(decision_setup(DecisionMade.from_event(e).decision) for e in decided),
    ]


class RememberOutcomesStage:
    name = "remember_outcomes"
    reads = (POSTMORTEMS,)
    writes = ()
    overlaps = False

    def __init__(self, bench: Workbench):
        self.bench = bench

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench = self.bench
        if bench.events.read_stream(memory_stream(bench.week_id, "outcomes")):
            return context.with_loaded(self.name)  # one `remember` wrote the outcomes and lessons together
        if bench.memory is None:
            return context
        outcomes, lessons = closing_memories(week_setups(bench), context.get(POSTMORTEMS), bench.made_now())
        items = [*(OutcomeRemembered(outcome=o) for o in outcomes), *(LessonRemembered(lesson=x) for x in lessons)]
        if items:
            bench.memory.remember(items, week_id=bench.week_id, run_id=bench.run_id)
        return context


class CompleteStage:
    """The postmortem's completion marker (PostmortemCompleted on the week's postmortem stream), handed to the job to be
    recorded with the run's end, last (workflows/completion.py): run-due
    counts the postmortem done by it (app/queries.py `done_keys`), so a run cut off after the postmortem was recorded
    and before the week's outcomes and lessons reached the memory is run again. An operator's trial killed runs there
    12 times of 12: no wake-up ever wrote them, and the memory showed the week's setups without their outcomes. A week
    recorded before this stage existed has its marker beside its postmortems: found, nothing written (one such run cut
    off before the memory is due once more: app/due_jobs.py `cut_off_before_memory`)."""

    name = "complete"
    reads = ()
    writes = (COMPLETION,)
    overlaps = False

    def __init__(self, bench: Workbench):
        self.bench = bench

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench = self.bench
        stream = postmortem_stream(bench.week_id)
        stored = bench.events.read_stream(stream)
        if any(e.type == PostmortemCompleted.event_type() for e in stored):
            return context.with_value(COMPLETION, NONE).with_loaded(self.name)
        marker = PostmortemCompleted(week_id=bench.week_id, run_id=bench.run_id)
        # Recorded with the run's end (workflows/completion.py): a stop between the two left the run failed for good.
        # Another run of the week's postmortem that completed it first takes the version: the run's end goes alone.
        event = NewEvent.of(marker, stream=stream, week_id=bench.week_id, run_id=bench.run_id)
        return context.with_value(COMPLETION, Completion(events=(event,), expected_versions={stream: len(stored)}))
