"""The postmortem's last stage: the week's outcomes and lessons into the committee's memory.

Each setup of the week (every pitch and the decision, rebuilt from their stored events with the ids the weekly
run remembered them under) gets its Outcome from its account's postmortem, and each reflection's lessons become
Lessons; all are known at the postmortem's time (`bench.now`), so no week whose as-of time is earlier sees
them. Written whenever the run has a memory, whatever `memory.enabled` says (workflows/memory_stages.py);
`Memory.remember` keeps what a previous run stored, so a rerun writes nothing twice.
"""

from __future__ import annotations

from llmtrade.domain.committee import DecisionMade, PitchSubmitted
from llmtrade.domain.memory import LessonRemembered, OutcomeRemembered, Setup
from llmtrade.domain.streams import DECISION, PITCHES, memory_stream, week_stream
from llmtrade.pipeline.context import PipelineContext
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
        outcomes, lessons = closing_memories(week_setups(bench), context.get(POSTMORTEMS), bench.now)
        items = [*(OutcomeRemembered(outcome=o) for o in outcomes), *(LessonRemembered(lesson=x) for x in lessons)]
        if items:
            bench.memory.remember(items, week_id=bench.week_id, run_id=bench.run_id)
        return context
