"""The weekly run's execution stage: the risk gate's frozen plans sent through workflows/execution.py (shared with
checkpoints), skipping any order already recorded, so a resumed run never sends an order twice."""

from __future__ import annotations

from datetime import date

from llmtrade.config.models import Config
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import OrderRejected, OrderSubmitted
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import ABANDONED, LAST_CLOSES, PRICES, UNFINISHED, execute_plans
from llmtrade.workflows.plan_recovery import recorded_orders
from llmtrade.workflows.trading_stages import PLANS

EXECUTED = ContextKey("executed_orders", list[OrderSubmitted | OrderRejected])


class ExecutionStage:
    """Sends the frozen plans (see workflows/execution.py); a rerun sends only what is not recorded."""

    name = "execution"
    reads = (PLANS, PRICES, LAST_CLOSES)
    writes = (EXECUTED, ABANDONED, UNFINISHED)
    overlaps = False

    def __init__(self, desks: list[Desk], events: EventStore, week_id: date, config: Config, *, dry_run: bool):
        self.desks = {d.account.id: d for d in desks}
        self.events = events
        self.week_id = week_id
        self.config = config
        self.dry_run = dry_run

    async def run(self, context: PipelineContext) -> PipelineContext:
        if self.dry_run:
            return context.with_values((EXECUTED, []), (ABANDONED, []), (UNFINISHED, []))
        stream = week_stream(self.week_id, ORDERS)
        # The plan is on disk (the risk gate's commit waited for it). The orders' records are not waited for one by
        # one: a crash of the database server or machine could take back only the latest of them (a suffix), which
        # is a crash between the broker's answer and its record -- the rerun asks the broker first (recover_orders)
        # and a paper broker's acceptance is itself one of those records, lost with it or kept with it. The run's
        # end (WeekCompleted, RunFinished) waits, and with it all before: WeeklyPipeline switches back at its end.
        self.events.defer_flush(True)
        execution = await execute_plans(
            self.events,
            self.desks,
            context.get(PLANS),
            self.config,
            context.get(PRICES),
            stream=stream,
            week_id=self.week_id,
            run_id=context.run_id,
            last_closes=context.get(LAST_CLOSES),
        )
        result = context.with_values(
            (EXECUTED, recorded_orders(self.events, stream)),
            (ABANDONED, execution.abandoned),
            (UNFINISHED, execution.unfinished),
        )
        return result.with_loaded(self.name) if execution.already_sent else result
