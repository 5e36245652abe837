"""`llmtrade checkpoint HH:MM`: every account holding a position re-judges it from frozen inputs.

A Pipeline of five stages (their events go on the run stream; progress through the observer):

    prepare -> ask -> decide -> execute -> complete

For each account: the week's frozen trade (its PM's pitch, or the chairman's decision), current
prices and the account's P/L. The machine-checkable invalidation rule is evaluated first, in code:
when it holds, the account exits without asking anyone. Otherwise the owner answers STAY, EXIT,
FLIP or REDUCE (owners in parallel). Actions go through the risk gate and the broker.

Each account's checkpoint stream (week, day, time, account) is written once per stage that must
survive a crash: its judgement (ask), then its verdict and plan (decide). A rerun after a crash at
any stage loads what was stored and goes on with the next stage; no owner is asked twice and no
order is sent twice. A dry run stores nothing and sends nothing.
"""

from __future__ import annotations

from datetime import date

from llmtrade.config.models import Config
from llmtrade.errors import UsageError
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.pipeline import Pipeline, StageObserver
from llmtrade.workflows.checkpoint_ask import AskStage
from llmtrade.workflows.checkpoint_prepare import PrepareStage
from llmtrade.workflows.checkpoint_slot import Outcome, Slot
from llmtrade.workflows.checkpoint_trade import OUTCOMES, CompleteStage, DecideStage, ExecuteStage
from llmtrade.workflows.workbench import Workbench

__all__ = ["OUTCOMES", "CheckpointRun", "Outcome", "checkpoint_pipeline", "require_checkpoint_time"]


def checkpoint_pipeline(
    bench: Workbench,
    *,
    day: date,
    time: str,
    dry_run: bool,
    observer: StageObserver | None = None,
    event_for: str | None = None,
) -> Pipeline:
    """`event_for`: an event checkpoint of that account (its own streams; pass a bench with its desk alone)."""
    slot = Slot(day, time, event_for)
    return Pipeline(
        [
            PrepareStage(bench, slot, dry_run=dry_run),
            AskStage(bench, slot, dry_run=dry_run),
            DecideStage(bench, slot, dry_run=dry_run),
            ExecuteStage(bench, dry_run=dry_run),
            CompleteStage(bench, slot, dry_run=dry_run),
        ],
        bench.events,
        observer,
        inputs=(),
    )


class CheckpointRun:
    def __init__(
        self,
        bench: Workbench,
        *,
        day: date,
        time: str,
        dry_run: bool,
        observer: StageObserver | None = None,
        event_for: str | None = None,
    ):
        self.bench = bench
        self.pipeline = checkpoint_pipeline(
            bench, day=day, time=time, dry_run=dry_run, observer=observer, event_for=event_for
        )

    async def run_pipeline(self) -> PipelineContext:
        """The finished context: OUTCOMES, plus `.loaded` and `.reports` (which stages ran or loaded)."""
        return await self.pipeline.run(PipelineContext(run_id=self.bench.run_id, week_id=self.bench.week_id))

    async def run(self) -> list[Outcome]:
        """Every account's outcome, in the order of the workbench's desks."""
        return (await self.run_pipeline()).get(OUTCOMES)


def require_checkpoint_time(config: Config, time: str) -> None:
    if time not in config.schedule.checkpoints:
        valid = ", ".join(config.schedule.checkpoints)
        raise UsageError(f"{time!r} is not a configured checkpoint time; valid: {valid}")
