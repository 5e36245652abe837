"""The postmortem's stages: gather (in code) -> reflect (the owners, in parallel) -> record.

gather: per account, what the week did to it, its frozen trade and each frozen indicator against its
threshold. reflect (workflows/postmortem_reflect.py): each owner's short reflection, stored once on the week's
reflections stream before anything else, so a rerun after a crash never asks an owner twice. An owner whose
call failed for a temporary reason is retried by reruns until the postmortem's deadline (by default the next
weekly run; pipeline/retry.py): before it the stage stops with exit 75 and keeps the reflections it got, after
it the reflection is stored as missing, with InputsMissing naming the account. record: the postmortem itself,
written once per week with its completion marker (then projected into `week_summaries` by the caller). Once
the postmortem is written, every stage loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmtrade.brokers.fills import observe, record_new_fills
from llmtrade.brokers.reconcile import look_now
from llmtrade.config.models import BENCHMARK, AccountRole
from llmtrade.discovery.universe import held_outside, in_play
from llmtrade.domain.checkpoints import (
    IndicatorOutcome,
    Postmortem,
    PostmortemAnswer,
    PostmortemWritten,
)
from llmtrade.domain.events import EventPayload
from llmtrade.domain.ledger import split_since
from llmtrade.domain.research import MarketSnapshotTaken
from llmtrade.domain.streams import SNAPSHOT, postmortem_stream, week_stream
from llmtrade.domain.trading import AccountSnapshot
from llmtrade.errors import LlmtradeError
from llmtrade.market.ended_prices import ended_last_bars, held_ended, last_close_note, last_closes
from llmtrade.market.held_prices import closes_with_held, held_closes
from llmtrade.market.snapshot import weekly_run_on
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.frozen import once
from llmtrade.storage.projections import week_start_valued
from llmtrade.storage.resets import recorded_resets
from llmtrade.storage.splits import recorded_splits
from llmtrade.workflows.account_reset import books_account, reset_found, unrecorded, week_growth
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.frozen_trade import FrozenTrade, frozen_trade, indicator_values, through_splits
from llmtrade.workflows.week_close import held_at_close
from llmtrade.workflows.week_holds import held_this_week
from llmtrade.workflows.workbench import Workbench


@dataclass(frozen=True)
class Draft:
    """One account's postmortem before its owner's reflection; `frozen` is None when nobody owns a trade."""

    postmortem: Postmortem
    frozen: FrozenTrade | None


DRAFTS = ContextKey("postmortem_drafts", list[Draft])
REFLECTIONS = ContextKey("postmortem_reflections", dict[str, PostmortemAnswer | None])
POSTMORTEMS = ContextKey("postmortems", list[Postmortem])
WRITTEN_NOW = ContextKey("postmortem_written_now", bool)
# Each account whose end equity values a held symbol at cost (no close of it to the week's end), and why: said.
UNPRICED = ContextKey("postmortem_unpriced", dict[str, str])
# Each universe symbol no account holds that has no close, what the weekly run does with it (market/snapshot.py
# `weekly_run_on`): the week's result lacks nothing, but a missing CSV file the next weekly run stops on was not said.
UNREAD = ContextKey("postmortem_universe_unread", list[str])


def _holds(account: AccountSnapshot, symbol: str) -> bool:
    """Whether `account` holds shares of `symbol`."""
    position = account.positions.get(symbol)
    return position is not None and position.qty != 0


def written(bench: Workbench) -> list[Postmortem] | None:
    """The week's postmortem as stored, or None before it was written."""
    stored = bench.events.read_stream(postmortem_stream(bench.week_id))
    if not stored:
        return None
    return [PostmortemWritten.from_event(e).postmortem for e in stored if e.type == PostmortemWritten.event_type()]


class GatherStage:
    name = "gather"
    reads = ()
    writes = (DRAFTS, UNPRICED, UNREAD)
    overlaps = False

    def __init__(self, bench: Workbench, ends: datetime | None = None):
        self.bench = bench
        # A postmortem written late (a machine off past the week's end) reads its week's prices, not today's: the
        # closes, splits and indicators up to its scheduled instant; on time, that is now.
        self.asof = min(bench.now, ends) if ends is not None else bench.now

    async def run(self, context: PipelineContext) -> PipelineContext:
        stored = written(self.bench)
        if stored is not None:
            drafts = [Draft(pm, None) for pm in stored]
            return context.with_values((DRAFTS, drafts), (UNPRICED, {}), (UNREAD, [])).with_loaded(self.name)
        bench = self.bench
        # Every symbol held, in the universe or not: one taken out of assets.yaml while held was valued at cost, and
        # the week's end equity stored so, the next week's P/L booked from it (an operator's trial).
        # A universe symbol whose prices ended (a CSV file no longer written) is no reason to stop at every wake-up:
        # its why is in `_missing`; an account holding it is valued at its last close (`_ended`, below), or at its
        # cost and said when the feed has no bar of it, as for a held symbol outside the universe no provider has.
        errors: dict[str, LlmtradeError] = {}
        prices, self._missing = closes_with_held(
            bench.market,
            bench.config.assets.symbols,
            held_outside(bench.config, bench.events),
            self.asof,
            anchor=BENCHMARK,
            errors=errors,
        )
        self._unpriced: dict[str, str] = {}
        # A held one whose prices ended is valued at its last close, as the leaderboard and the report value it, where
        # its cost booked the week a P/L of 0 for it (and remembered so); said. Never a price the indicators read.
        held = in_play(bench.events)
        self._ended = held_ended(bench.market, self._missing, held, self.asof)
        unread = [
            f"{s} (in assets.yaml's universe, held by no account) has no close: {self._missing[s]}; "
            + weekly_run_on(bench.market, s, errors.get(s), self.asof)
            for s in bench.config.assets.symbols
            if s in self._missing and s not in held
        ]
        snapshots = bench.events.read(
            stream=week_stream(bench.week_id, SNAPSHOT), type=MarketSnapshotTaken.event_type()
        )
        # Parsed once per stored event: the week's snapshot stage parsed it already (events.payload).
        opening = bench.events.payload(MarketSnapshotTaken, snapshots[0]).snapshot if snapshots else None
        taken = snapshots[0].occurred_at if snapshots else self.asof
        # An account the weekly run held back and no run planned: its week was never traded, though the chairman's was
        # valued before the decision it was held after (its broker not answering whether it may short). No row, as for
        # one held before its look (app/jobs.py says why): a row scored last week's positions as the week's trade.
        never = held_this_week(bench.events, bench.week_id)
        drafts: list[Draft] = []
        for desk in (d for d in bench.desks if d.account.id not in never):
            draft = self._draft(desk, prices, opening, taken)
            if draft is not None:
                drafts.append(draft)
        return context.with_values((DRAFTS, drafts), (UNPRICED, self._unpriced), (UNREAD, unread))

    def _draft(self, desk: Desk, prices: dict[str, float], opening: object, taken: datetime) -> Draft | None:
        bench = self.bench
        started = week_start_valued(bench.events, bench.week_id, desk.account.id)
        if started is None:
            return None  # the account was not part of this week's run
        start, started_at = started
        # The fills it is valued with go to the audit log first, as every valuation's do (workflows/valuation.py): the
        # leaderboard's curves are folded from that log, and an order filled since the last checkpoint (a week with
        # none after the open) left its end equity short of the postmortem's until the next weekly run recorded it.
        record_new_fills(bench.events, desk.broker, week_id=bench.week_id, run_id=bench.run_id)
        valued = prices | last_closes(self._ended)
        account = look_now(bench.events, desk.broker, valued).managed  # what it manages
        resets = recorded_resets(bench.events, desk.account.id).get(desk.account.id, ())
        before = [r for r in resets if r.at <= started_at]
        in_week = [r for r in resets if started_at < r.at <= self.asof]
        found = reset_found(
            bench.events, desk, desk.account.id, account.equity, observe(desk.broker), named=account.broker_account
        )
        if any(r.at > self.asof for r in resets) or unrecorded(found, resets):
            # The broker's books began again since the week's end (a paper account reset): its balance now is not this
            # week's end, the books of the stretch the week ended in are.
            last = (in_week or before or [None])[-1]
            account = books_account(bench.events, desk, valued, since=last)
        end_equity, end_realized, end_unrealized = account.equity, account.realized_pnl, account.unrealized_pnl
        if account.at_cost:
            # A held symbol whose prices stopped before the week's end (its feed ended, it was delisted or renamed) is
            # in the end equity at its cost: stored as the week's result and remembered as its outcome, so said.
            why = "; ".join(f"{s}: {self._missing.get(s, 'no close to the week end')}" for s in account.at_cost)
            self._unpriced[desk.account.id] = f"values {', '.join(account.at_cost)} at cost, no close of it ({why})"
        if ended := [last_close_note(s, *self._ended[s]) for s in sorted(self._ended) if _holds(account, s)]:
            said = self._unpriced.get(desk.account.id)
            self._unpriced[desk.account.id] = "; ".join([*filter(None, [said]), *(f"has {note}" for note in ended)])
        if self.asof < bench.now:
            # Written late: what the account holds now, unless something filled since the week's close (a later week
            # traded), then what it held at that close; either at the week's prices.
            at_close = held_at_close(bench.events, account, valued, self.asof)
            if at_close is not None:
                end_equity, end_realized, end_unrealized = at_close
        end_realized, end_unrealized = end_realized or 0.0, end_unrealized or 0.0
        if in_week:
            # Reset during the week: its end is in the new balance's dollars, chained back to its start's.
            growth, last = week_growth(
                bench.events, desk, start.equity, (before or [None])[-1], in_week, self._closes_before
            )
            scale = start.equity * growth / last.balance if last is not None and last.balance > 0 else 1.0
            end_equity, end_unrealized = end_equity * scale, end_unrealized * scale
            # What the week made beyond its unrealised change is realised (the reset's positions were dropped at their
            # last close, as realised there): the two still add up to the week's P/L.
            end_realized = end_equity - start.equity - end_unrealized + (start.realized_pnl or 0.0)
            end_realized += start.unrealized_pnl or 0.0
        frozen = (
            None
            if desk.account.role is AccountRole.FLAT
            else frozen_trade(bench.events, bench.week_id, desk, bench.config)
        )
        splits = recorded_splits(bench.events)
        if frozen is not None:
            frozen = through_splits(frozen, splits, self.asof)
        instrument = frozen.instrument if frozen else None
        indicators = getattr(opening, "indicators", {})
        instrument_return = None
        if instrument and instrument in indicators and instrument in prices:
            # The week's opening close is in the shares before any split since: -75% across a 4-for-1 without this.
            at_start = indicators[instrument]
            shares = split_since(splits, instrument, at_start.asof_day, taken, self.asof)
            instrument_return = prices[instrument] * shares / at_start.close - 1
        week_pnl = end_equity - start.equity
        # No return over a week begun at no equity (an Alpaca account not funded yet, or emptied; the gate traded
        # nothing on it): dividing by it stopped the postmortem at every rerun, and a negative base flips the sign.
        week_return = week_pnl / start.equity if start.equity > 0 else None
        outcomes: list[IndicatorOutcome] = []
        if frozen and instrument in prices:
            values = indicator_values(
                bench.market, frozen.instrument, self.asof, prices[frozen.instrument], week_return
            )
            for threshold in (w.threshold for w in frozen.watched):
                observed = values.get(threshold.indicator)
                outcomes.append(
                    IndicatorOutcome(
                        indicator=threshold.indicator,
                        threshold=threshold.describe(),
                        observed=observed,
                        held=None if observed is None else threshold.holds(observed),
                    )
                )
            rule = frozen.invalidation.rule
            observed = values.get(rule.indicator)
            outcomes.append(
                IndicatorOutcome(
                    indicator=rule.indicator,
                    threshold=rule.describe(),
                    observed=observed,
                    # The thesis survives while its invalidation rule does not fire.
                    held=None if observed is None else not rule.holds(observed),
                    role="invalidation",
                )
            )
        postmortem = Postmortem(
            week_id=bench.week_id,
            account_id=desk.account.id,
            instrument=instrument,
            direction=frozen.direction if frozen else None,
            start_equity=start.equity,
            end_equity=end_equity,
            # Both as changes over the week, so realised + unrealised = the week's P/L.
            realized_pnl=round(end_realized - (start.realized_pnl or 0.0), 2),
            unrealized_pnl=round(end_unrealized - (start.unrealized_pnl or 0.0), 2),
            week_pnl=round(week_pnl, 2),
            week_return=week_return,
            instrument_return=instrument_return,
            indicators=outcomes,
            reflection=None,
        )
        return Draft(postmortem, frozen)

    def _closes_before(self, at: datetime, symbols: Sequence[str]) -> tuple[dict[str, float], datetime]:
        """The closes of `symbols` at the last session closed before `at` (a reset found then), and when it closed; one
        whose prices ended, its last close, as the week's end and the leaderboard's curve value it (not its cost)."""
        calendar = self.bench.market.calendar
        day = calendar.last_completed_session(at)
        if day is None or not symbols:
            return {}, at
        closed_at = calendar.session_close(day)
        prices, _ = held_closes(self.bench.market, symbols, closed_at)
        if missing := [s for s in symbols if s not in prices]:
            prices |= last_closes(ended_last_bars(self.bench.market, missing, closed_at))  # no bar at all: at its cost
        return prices, closed_at


class RecordStage:
    name = "record"
    reads = (DRAFTS, REFLECTIONS)
    writes = (POSTMORTEMS, WRITTEN_NOW)
    overlaps = False

    def __init__(self, bench: Workbench):
        self.bench = bench

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench = self.bench
        drafts, reflections = context.get(DRAFTS), context.get(REFLECTIONS)

        async def build() -> list[EventPayload]:
            payloads: list[EventPayload] = [
                PostmortemWritten(postmortem=d.postmortem.model_copy(update=_reflected(d, reflections))) for d in drafts
            ]
            return payloads  # the completion marker comes last, once the memory has the week (CompleteStage)

        stored, built = await once(
            bench.events,
            postmortem_stream(bench.week_id),
            build,
            week_id=bench.week_id,
            run_id=bench.run_id,
            account_of=lambda p: p.postmortem.account_id if isinstance(p, PostmortemWritten) else None,
        )
        postmortems = [
            PostmortemWritten.from_event(e).postmortem for e in stored if e.type == PostmortemWritten.event_type()
        ]
        result = context.with_values((POSTMORTEMS, postmortems), (WRITTEN_NOW, built))
        return result if built else result.with_loaded(self.name)


def _reflected(draft: Draft, reflections: dict[str, PostmortemAnswer | None]) -> dict[str, Any]:
    """A draft's reflection, and who wrote it when models.yaml names another model for its PM now: the week's old
    model reflected (its trade's `owner`) and the postmortem said nothing of it, where the checkpoints did (a trial)."""
    reflection, frozen = reflections.get(draft.postmortem.account_id), draft.frozen
    kept = None
    if frozen is not None and frozen.swap is not None and reflection is not None:
        kept = f"{frozen.swap}, so {frozen.owner.model} wrote this postmortem's reflection"
    return {"reflection": reflection, "model_kept": kept}
