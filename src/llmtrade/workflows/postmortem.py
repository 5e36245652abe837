"""The week's postmortem: per account, what the week did to it, the frozen thesis against what
happened, each frozen indicator against its threshold, and the owner's short reflection.

Written once per week (with a completion marker), projected into `week_summaries`.
"""

from __future__ import annotations

from datetime import date, timedelta

from llmtrade.agents import postmortem_writer
from llmtrade.config.models import AccountRole
from llmtrade.domain import streams
from llmtrade.domain.checkpoints import (
    IndicatorOutcome,
    Postmortem,
    PostmortemAnswer,
    PostmortemCompleted,
    PostmortemWritten,
)
from llmtrade.domain.events import EventPayload
from llmtrade.domain.research import MarketSnapshotTaken
from llmtrade.domain.streams import week_stream
from llmtrade.fanout import gather_settled
from llmtrade.llm.gateway import CallSite
from llmtrade.pipeline.frozen import once
from llmtrade.storage.projections import week_start_valuation
from llmtrade.workflows.checkpoint import FrozenTrade, frozen_trade, indicator_values
from llmtrade.workflows.research_stages import snapshot_stream
from llmtrade.workflows.trading_stages import Desk
from llmtrade.workflows.workbench import Workbench


def postmortem_stream(week_id: date) -> str:
    return week_stream(week_id, streams.POSTMORTEM)


class PostmortemRun:
    def __init__(self, bench: Workbench):
        self.bench = bench

    async def run(self) -> tuple[list[Postmortem], bool]:
        """(postmortems, written_now): a week's postmortem is written once, then read back."""
        stored, built = await once(
            self.bench.events,
            postmortem_stream(self.bench.week_id),
            self._build,
            week_id=self.bench.week_id,
            run_id=self.bench.run_id,
            account_of=lambda p: p.postmortem.account_id if isinstance(p, PostmortemWritten) else None,
        )
        written = [
            PostmortemWritten.from_event(e).postmortem for e in stored if e.type == PostmortemWritten.event_type()
        ]
        return written, built

    async def _build(self) -> list[EventPayload]:
        prices = self.bench.market.last_closes(self.bench.config.assets.symbols, self.bench.now)
        snapshot_events = self.bench.events.read(
            stream=snapshot_stream(self.bench.week_id), type=MarketSnapshotTaken.event_type()
        )
        opening = MarketSnapshotTaken.from_event(snapshot_events[0]).snapshot if snapshot_events else None
        drafts: list[tuple[Desk, Postmortem, FrozenTrade | None]] = []
        for desk in self.bench.desks:
            start = week_start_valuation(self.bench.events, self.bench.week_id, desk.account.id)
            if start is None:
                continue  # the account was not part of this week's run
            account = desk.broker.account(prices)
            # A postmortem written late ends the week where the next one began, not at today's prices.
            next_start = week_start_valuation(
                self.bench.events, self.bench.week_id + timedelta(days=7), desk.account.id
            )
            end_equity = next_start.equity if next_start else account.equity
            end_realized = (next_start.realized_pnl if next_start else account.realized_pnl) or 0.0
            end_unrealized = (next_start.unrealized_pnl if next_start else account.unrealized_pnl) or 0.0
            frozen = (
                None
                if desk.account.role is AccountRole.FLAT
                else frozen_trade(self.bench.events, self.bench.week_id, desk, self.bench.config)
            )
            instrument = frozen.instrument if frozen else None
            instrument_return = None
            if instrument and opening and instrument in opening.indicators and instrument in prices:
                instrument_return = prices[instrument] / opening.indicators[instrument].close - 1
            week_pnl = end_equity - start.equity
            outcomes: list[IndicatorOutcome] = []
            if frozen and instrument in prices:
                values = indicator_values(
                    self.bench.market,
                    frozen.instrument,
                    self.bench.now,
                    prices[frozen.instrument],
                    week_pnl / start.equity,
                )
                for threshold in [*(w.threshold for w in frozen.watched), frozen.invalidation.rule]:
                    observed = values.get(threshold.indicator)
                    outcomes.append(
                        IndicatorOutcome(
                            indicator=threshold.indicator,
                            threshold=threshold.describe(),
                            observed=observed,
                            held=None if observed is None else threshold.holds(observed),
                        )
                    )
            drafts.append(
                (
                    desk,
                    Postmortem(
                        week_id=self.bench.week_id,
                        account_id=desk.account.id,
                        instrument=instrument,
                        direction=frozen.direction if frozen else None,
                        start_equity=start.equity,
                        end_equity=end_equity,
                        # Both as changes over the week, so realised + unrealised = the week's P/L.
                        realized_pnl=round(end_realized - (start.realized_pnl or 0.0), 2),
                        unrealized_pnl=round(end_unrealized - (start.unrealized_pnl or 0.0), 2),
                        week_pnl=round(week_pnl, 2),
                        week_return=week_pnl / start.equity,
                        instrument_return=instrument_return,
                        indicators=outcomes,
                        reflection=None,
                    ),
                    frozen,
                )
            )
        with_owner = [(desk, pm, frozen) for desk, pm, frozen in drafts if frozen is not None]
        answered, _failed = await gather_settled(
            [desk.account.id for desk, _, _ in with_owner], [self._reflect(pm, frozen) for _, pm, frozen in with_owner]
        )
        reflections = dict(answered)
        payloads: list[EventPayload] = [
            PostmortemWritten(postmortem=pm.model_copy(update={"reflection": reflections.get(desk.account.id)}))
            for desk, pm, _ in drafts
        ]
        payloads.append(PostmortemCompleted(week_id=self.bench.week_id, run_id=self.bench.run_id))
        return payloads

    async def _reflect(self, pm: Postmortem, frozen: FrozenTrade) -> PostmortemAnswer:
        site = CallSite(
            role=postmortem_writer.ROLE, run_id=self.bench.run_id, week_id=self.bench.week_id, account_id=pm.account_id
        )
        return await postmortem_writer.reflect(
            self.bench.gateway,
            self.bench.prompts,
            frozen.owner,
            instrument=frozen.instrument,
            direction=frozen.direction,
            thesis=frozen.thesis,
            week_return=pm.week_return,
            instrument_return=pm.instrument_return,
            indicators=pm.indicators,
            site=site,
        )
