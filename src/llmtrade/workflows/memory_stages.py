"""The committee's memory in the weekly run: what it remembers, what each role is shown, the validator.

    snapshot -> recall_ahead -> research -> recall -> remember_research -> pitches -> remember_pitches
             -> validator -> peer_review -> risk_prep -> chairman -> remember_decision -> risk_gate -> execution

Writing and reading are switched separately, on purpose:

- *remembering* (the week's market condition, a note per instrument per research pack, a setup per pitch and
  for the decision; outcomes and lessons at the postmortem, workflows/postmortem_memory.py) happens whenever the
  run has a `Memory`, whether `memory.enabled` is on or off, so a memory switched on later already knows the
  weeks run while it was off. `Memory.remember` keeps the first item stored under a memory id, so a rerun
  writes nothing twice. A dry run remembers nothing.
- *recall* (the PMs' and checkpoints' "Similar past setups") and the *validator* run only with
  `memory.enabled`. Off, no prompt has a memory section and the prompts are byte for byte those of a run
  without memory; the chairman sees no validator notes.

Every read is as of the run's as-of time (`ASOF`: the snapshot's), so a memory whose outcome was known after
it is never shown, and a backtest's look-ahead audit (a market cut off at the as-of session) recalls the same.
Every retrieval a role is shown is recorded as MemoryRecalled on the run's recall stream (role, as-of time,
memory ids in the order shown): "which memories did this decision see?" is a query on that stream.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TypeVar

from llmtrade.agents import validator
from llmtrade.config.sections import MemoryConfig
from llmtrade.domain import streams
from llmtrade.domain.events import NewEvent
from llmtrade.domain.memory import (
    ConditionRemembered,
    MarketCondition,
    MemoryRecalled,
    Recollection,
    SetupFlag,
    SetupFlagged,
    SetupRemembered,
    SymbolNoteRemembered,
)
from llmtrade.domain.research import MarketSnapshot
from llmtrade.memory.conditions import market_condition
from llmtrade.memory.protocol import Memory, Remembered, SetupQuery
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.pipeline import hold_back
from llmtrade.storage.event_store import EventStore
from llmtrade.threads import on_threads
from llmtrade.workflows.committee_stages import DECISION, PITCHES
from llmtrade.workflows.memory_keys import FLAGS, MEMORY_NOTES, RECALLED_AHEAD
from llmtrade.workflows.memory_records import decision_setup, pitch_setup, symbol_notes
from llmtrade.workflows.recall_reads import candidate_queries, read_ahead, recall_lines, setups_within_budget
from llmtrade.workflows.research_stages import ASOF, RESEARCH_PACKS, SNAPSHOT
from llmtrade.workflows.workbench import Side, Workbench

T = TypeVar("T")
# An overlapping stage's worker starts this long after the stage does: by then the next model call's requests are
# out (building them takes ~5-40 ms, twelve reviews the most), and the worker's interpreter time (embedding, parsing)
# no longer competes with building them, which is on the path; it has the rest of the round trip (~0.5 s) to hide in.
# The wait ends as soon as the pipeline needs the stage's result (pipeline.hold_back): with no round trip to hide
# in (offline, the rules provider) a fixed wait was ~140 ms added to the run.
AFTER_THE_REQUESTS_S = 0.05
# The last (snapshot, week, its market condition) made (_MemoryStage._condition).
_CONDITION: list[tuple[MarketSnapshot, date, MarketCondition] | None] = [None]


def recall_enabled(bench: Workbench) -> bool:
    """Whether prompts show the memory and the validator runs: `memory.enabled` and a memory to read."""
    return bench.memory is not None and bench.config.models.memory.enabled


def recalled(
    bench: Workbench, *, role: str, as_of: datetime, query: str, shown: Sequence[str], account: str
) -> NewEvent:
    """A MemoryRecalled for the run's recall stream: `role` was shown `shown` (memory ids, in order) as of `as_of`."""
    payload = MemoryRecalled(role=role, week_id=bench.week_id, as_of=as_of, query=query, memory_ids=list(shown))
    return NewEvent.of(
        payload,
        stream=streams.recall_stream(bench.run_id),
        week_id=bench.week_id,
        run_id=bench.run_id,
        account_id=account,
    )


def record_recall(
    bench: Workbench,
    *,
    role: str,
    as_of: datetime,
    query: str,
    shown: Sequence[str],
    account: str,
    events: EventStore | None = None,
) -> None:
    """One MemoryRecalled on the run's recall stream, appended to `events` (default the bench's; a dry run's
    store is a draft view)."""
    (events or bench.events).append(
        [recalled(bench, role=role, as_of=as_of, query=query, shown=shown, account=account)]
    )


class _MemoryStage:
    """With a side connection (`Workbench.side`) a memory stage overlaps the stages after it (pipeline/stage.py):
    it checks on the run's own store whether its part is stored (a resumed run: loaded at once, in its place),
    then does its reads and writes on a worker thread over the side connection while the next model call is out.
    Nothing it writes is read by the stages it overlaps: every read of the memory is strictly before the run's
    as-of time, and this week's items are known at it or later (a note at the as-of time, a setup at its pitch's
    or decision's time). Its failure fails the run (StageFailed) before the week is marked complete, so a rerun
    writes what is missing."""

    name = ""

    def __init__(self, bench: Workbench, *, dry_run: bool):
        self.bench = bench
        self.dry_run = dry_run
        # `on_side`: its reads and writes go over the side connection (on a worker thread), overlapping or not.
        self.overlaps = self.on_side = bench.side is not None and not dry_run

    @property
    def settings(self) -> MemoryConfig:
        return self.bench.config.models.memory

    def _condition(self, context: PipelineContext) -> MarketCondition:
        """The week's market condition from the run's snapshot: made once per snapshot object for the four stages
        that use it (the object is held, so its id is not reused while kept; a frozen snapshot never changes)."""
        snapshot, week_id = context.get(SNAPSHOT), self.bench.week_id
        kept = _CONDITION[0]
        if kept is not None and kept[0] is snapshot and kept[1] == week_id:
            return kept[2]
        condition = market_condition(snapshot, week_id)
        _CONDITION[0] = (snapshot, week_id, condition)
        return condition

    def _remembered(self, part: str) -> bool:
        """Whether the week's memory already holds `part` (one `remember` call writes a part whole)."""
        return bool(self.bench.events.read_stream(streams.memory_stream(self.bench.week_id, part)))

    async def _remember(self, items: Sequence[Remembered], context: PipelineContext, *, part: str) -> bool:
        """Remember `items` unless the part is stored; True when it was (the stage then reports it loaded)."""
        if self._remembered(part):
            return True
        if self.bench.memory is not None and not self.dry_run and items:
            week_id, run_id = self.bench.week_id, context.run_id
            await self._on_side(
                lambda _, memory: memory.remember(items, week_id=week_id, run_id=run_id) if memory else None
            )
        return False

    async def _on_side(self, work: Callable[[EventStore, Memory | None], T]) -> T:
        """`work(events, memory)` on a worker thread over a side connection when there is one, else here on the
        run's own store and memory."""
        opener = self.bench.side
        if opener is None or not self.on_side:
            return work(self.bench.events, self.bench.memory)

        def on_side() -> T:
            side: Side
            with opener() as side:
                return work(side.events, side.memory)

        if self.overlaps:
            await hold_back(AFTER_THE_REQUESTS_S)
        # Not to_thread alone: a stop landing as the thread starts left the work to run after the job had ended,
        # remembering (on a connection it opened then) after the run's failure was recorded.
        (answer,) = await on_threads([on_side])
        return answer


class RememberResearchStage(_MemoryStage):
    """The week's market condition (from the snapshot) and the research packs' notes per instrument."""

    name = "remember_research"
    reads = (SNAPSHOT, RESEARCH_PACKS)
    writes = ()

    async def run(self, context: PipelineContext) -> PipelineContext:
        condition = self._condition(context)
        notes = symbol_notes(context.get(RESEARCH_PACKS))
        items = [ConditionRemembered(condition=condition), *(SymbolNoteRemembered(note=n) for n in notes)]
        stored = await self._remember(items, context, part="condition")
        return context.with_loaded(self.name) if stored else context


class RecallAheadStage(_MemoryStage):
    """The part of recall that does not depend on the research (the past weeks most like this one, the latest
    notes on each universe instrument), read alongside the research's round trip on the side connection, so
    only the setups like the research candidates are left between the research and the pitches. Nothing when
    recall will show nothing (memory off, pitches already stored)."""

    name = "recall_ahead"
    reads = (SNAPSHOT, ASOF)
    writes = (RECALLED_AHEAD,)

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench = self.bench
        pitched = bench.events.read_stream(streams.week_stream(bench.week_id, streams.PITCHES))
        if bench.memory is None or not recall_enabled(bench) or pitched:
            result = context.with_value(RECALLED_AHEAD, {})
            return result.with_loaded(self.name) if pitched else result
        as_of, limit = context.get(ASOF), self.settings.setups_per_role
        condition = self._condition(context)
        symbols = [i.symbol for i in bench.config.assets.universe]

        def read(_: EventStore, memory: Memory | None) -> dict[str, tuple[Recollection, ...]]:
            if memory is None:
                return {}
            ahead = read_ahead(memory, condition, symbols, as_of=as_of)
            # Recall reads the setups over this same connection: its first read's planning is paid here, off the path.
            memory.prepare_similar_setups(as_of=as_of, limit=limit)
            return ahead

        return context.with_value(RECALLED_AHEAD, await self._on_side(read))


class RecallStage(_MemoryStage):
    """Each PM's "Similar past setups": the past setups most like the research candidates (with outcomes and
    lessons), the past weeks most like this one, the latest notes on the candidates' instruments; cut to the
    token budget, most similar first. Every PM is shown the same lines (the query is built from the research
    packs all of them read, before any has pitched), each recorded as its own MemoryRecalled. Nothing to
    show (memory off, an empty memory, pitches already stored): no lines and no event. In turn (the pitches
    wait for it), its reads over the side connection that recall_ahead readied."""

    name = "recall"
    reads = (RESEARCH_PACKS, SNAPSHOT, ASOF, RECALLED_AHEAD)
    writes = (MEMORY_NOTES,)

    def __init__(self, bench: Workbench, *, dry_run: bool):
        super().__init__(bench, dry_run=dry_run)
        self.overlaps = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench, memory = self.bench, self.bench.memory
        pitched = bench.events.read_stream(streams.week_stream(bench.week_id, streams.PITCHES))
        if memory is None or not recall_enabled(bench) or pitched:
            result = context.with_value(MEMORY_NOTES, {})
            return result.with_loaded(self.name) if pitched else result
        as_of, packs = context.get(ASOF), context.get(RESEARCH_PACKS)
        condition = self._condition(context)
        queries, ahead = candidate_queries(packs, condition), context.get(RECALLED_AHEAD)

        def read(_: EventStore, mine: Memory | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
            if mine is None:  # never: the side's memory is built whenever the run's is
                return (), ()
            return recall_lines(mine, queries, condition, self.settings, as_of=as_of, ahead=ahead)

        lines, shown = await self._on_side(read)
        if not lines:
            return context.with_value(MEMORY_NOTES, {})
        query = "setups like the research candidates " + ", ".join(f"{q.direction} {q.instrument}" for q in queries)
        # One transaction for every PM's record: a commit each would sit between the research and the pitches.
        bench.events.append(
            [
                recalled(bench, role=f"pm:{pm.id}", as_of=as_of, query=query, shown=shown, account=pm.account)
                for pm in bench.config.models.pms
            ]
        )
        return context.with_value(MEMORY_NOTES, {pm.id: lines for pm in bench.config.models.pms})


class RememberPitchesStage(_MemoryStage):
    """A setup per pitch, as it was made."""

    name = "remember_pitches"
    reads = (PITCHES,)
    writes = ()

    async def run(self, context: PipelineContext) -> PipelineContext:
        items = [SetupRemembered(setup=pitch_setup(p)) for p in context.get(PITCHES)]
        stored = await self._remember(items, context, part="pitches")
        return context.with_loaded(self.name) if stored else context


class RememberDecisionStage(_MemoryStage):
    """The chairman's decision as a setup."""

    name = "remember_decision"
    reads = (DECISION,)
    writes = ()

    def __init__(self, bench: Workbench, *, dry_run: bool):
        super().__init__(bench, dry_run=dry_run)
        # In turn, not alongside: no model call follows for it to hide behind (the risk gate and execution keep
        # the interpreter busy), and the decision's setup is stored before any order is sent.
        self.overlaps = self.on_side = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        items = [SetupRemembered(setup=decision_setup(context.get(DECISION)))]
        stored = await self._remember(items, context, part="decision")
        return context.with_loaded(self.name) if stored else context


class ValidatorStage(_MemoryStage):
    """After the pitches (alongside the peer review), before the chairman: each pitch that takes a position
    against its most similar past
    setups with a known outcome (agents/validator.py). Its flags are frozen once for the week on the memory's
    "flags" stream (SetupFlagged, none when nothing was flagged) and shown to the chairman; each pitch's
    retrieval is a MemoryRecalled of role "validator". Once the decision is stored, the flags are loaded."""

    name = "validator"
    reads = (PITCHES, SNAPSHOT, ASOF)
    writes = (FLAGS,)

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench = self.bench
        stream = streams.memory_stream(bench.week_id, "flags")
        stored = [SetupFlagged.from_event(e).flag for e in bench.events.read_stream(stream)]
        decided = bench.events.read_stream(streams.week_stream(bench.week_id, streams.DECISION))
        if stored or decided:
            return context.with_value(FLAGS, stored).with_loaded(self.name)
        if bench.memory is None or not recall_enabled(bench):
            return context.with_value(FLAGS, [])
        as_of, pitches = context.get(ASOF), context.get(PITCHES)
        condition = self._condition(context)

        def judge(events: EventStore, memory: Memory | None) -> list[SetupFlag]:
            flags: list[SetupFlag] = []
            shown: list[NewEvent] = []
            for pitch in pitches if memory is not None else ():
                if pitch.direction == "FLAT":
                    continue
                query = SetupQuery(
                    instrument=pitch.instrument,
                    direction=pitch.direction,
                    conviction=pitch.conviction,
                    thesis="\n".join(pitch.thesis_bullets),
                    indicators=tuple(w.threshold.describe() for w in pitch.indicators),
                    condition=condition,
                )
                similar = memory.similar_setups(query, as_of=as_of, limit=self.settings.validator_neighbours)
                recall = recalled(
                    bench,
                    role="validator",
                    as_of=as_of,
                    query=f"setups like {pitch.idea_id}: {pitch.direction} {pitch.instrument}",
                    shown=[hit.memory_id for hit in similar],
                    account=pitch.account_id,
                )
                shown.append(recall)
                flag = validator.judge(pitch, similar, min_losers=self.settings.validator_min_losers)
                if flag is not None:
                    flags.append(flag)
            if shown:
                events.append(shown)  # one append for every pitch's record, in the pitches' order
            if flags and not self.dry_run:
                batch = [
                    NewEvent.of(SetupFlagged(flag=f), stream=stream, week_id=bench.week_id, run_id=context.run_id)
                    for f in flags
                ]
                events.append(batch, expected_versions={stream: 0})
            return flags

        return context.with_value(FLAGS, await self._on_side(judge))


def position_memory(
    bench: Workbench, *, account_id: str, instrument: str, direction: str, conviction: int, thesis: Sequence[str]
) -> tuple[str, ...]:
    """A checkpoint's "Similar past setups" for one account's position, as of the checkpoint's time
    (`bench.now`), cut to the token budget; recorded as MemoryRecalled (role "checkpoint:{account}") when
    anything is shown. Empty with memory off or nothing visible."""
    memory, settings = bench.memory, bench.config.models.memory
    if memory is None or not recall_enabled(bench):
        return ()
    query = SetupQuery(instrument=instrument, direction=direction, conviction=conviction, thesis="\n".join(thesis))
    lines, shown = setups_within_budget(
        memory, query, as_of=bench.now, limit=settings.setups_per_role, token_budget=settings.token_budget
    )
    if lines:
        record_recall(
            bench,
            role=f"checkpoint:{account_id}",
            as_of=bench.now,
            query=f"setups like the position {direction} {instrument}",
            shown=shown,
            account=account_id,
        )
    return lines
