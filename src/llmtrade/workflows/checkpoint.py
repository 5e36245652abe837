"""`llmtrade checkpoint HH:MM`: every account holding a position re-judges it from frozen inputs.

For each account (owners asked in parallel): the week's frozen trade (its PM's pitch, or the
chairman's decision), current prices and the account's P/L. The machine-checkable invalidation
rule is evaluated first, in code: when it holds, the account exits without asking anyone. Otherwise
the owner answers STAY, EXIT, FLIP or REDUCE. Actions go through the risk gate and the broker. Each
account's checkpoint is written once per week, day and time, so a repeat changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from llmtrade.agents import checkpointer
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.brokers.paper import PaperBroker
from llmtrade.config.models import AccountRole, Config, ModelRef
from llmtrade.domain.checkpoints import (
    Checkpoint,
    CheckpointAnswer,
    CheckpointCompleted,
    CheckpointSkipped,
    CheckpointTaken,
)
from llmtrade.domain.committee import DecisionMade, Invalidation, PitchSubmitted, WatchedIndicator
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.streams import checkpoint_stream, week_stream
from llmtrade.domain.trading import AccountSnapshot, OrdersPlanned, RiskChecked, RiskVerdict, TradeIntent
from llmtrade.errors import UsageError
from llmtrade.fanout import gather_settled
from llmtrade.llm.gateway import CallSite
from llmtrade.market.calendar import new_york_date
from llmtrade.market.indicators import compute_indicators
from llmtrade.market.service import MarketData
from llmtrade.risk import gate as risk
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.trading_stages import (
    Desk,
    halted,
    recorded_orders,
    require_plan_still_fits,
    revaluer,
    send_orders,
    stop_if_blocked,
    value_account,
)
from llmtrade.workflows.workbench import Workbench


@dataclass(frozen=True)
class FrozenTrade:
    """What the account committed to on Wednesday; checkpoints may read nothing newer."""

    instrument: str
    direction: str
    conviction: int
    thesis: list[str]
    watched: list[WatchedIndicator]
    invalidation: Invalidation
    owner: ModelRef


@dataclass(frozen=True)
class Outcome:
    account_id: str
    checkpoint: Checkpoint | None
    skipped: str | None
    orders: OrdersPlanned | None
    verdict: RiskVerdict | None


def frozen_trade(events: EventStore, week_id: date, desk: Desk, config: Config) -> FrozenTrade | None:
    account = desk.account
    if account.role is AccountRole.CHAIRMAN:
        found = events.read(stream=week_stream(week_id, "decision"), type=DecisionMade.event_type())
        if not found:
            return None
        decision = DecisionMade.from_event(found[0]).decision
        return FrozenTrade(
            decision.selected_trade.instrument,
            decision.selected_trade.direction,
            decision.conviction,
            [decision.rationale],
            decision.monitoring_plan.key_indicators,
            decision.invalidation,
            config.models.chairman,
        )
    for event in events.read(stream=week_stream(week_id, "pitches"), type=PitchSubmitted.event_type()):
        pitch = PitchSubmitted.from_event(event).pitch
        if pitch.account_id == account.id:
            # The PM may have been renamed or removed since Wednesday: its pitch's model still owns the trade.
            owner = next((pm for pm in config.models.pms if pm.id == pitch.pm_id), None) or ModelRef(
                model=pitch.model, provider=next(iter(config.models.providers))
            )
            return FrozenTrade(
                pitch.instrument,
                pitch.direction,
                pitch.conviction,
                pitch.thesis_bullets,
                pitch.indicators,
                pitch.invalidation,
                owner,
            )
    return None


def conviction_now(events: EventStore, week_id: date, account_id: str, frozen: FrozenTrade) -> int:
    """The latest checkpoint's conviction for the account this week, else Wednesday's."""
    taken = [
        CheckpointTaken.from_event(e).checkpoint
        for e in events.read(week_id=week_id, account_id=account_id, type=CheckpointTaken.event_type())
    ]
    return taken[-1].conviction_after if taken else frozen.conviction


def current_prices(market: MarketData, symbols: list[str], now: datetime) -> dict[str, float]:
    """The latest price a daily feed knows: today's open once the session has opened, else the last close."""
    prices = market.last_closes(symbols, now)
    day = new_york_date(now)
    if market.calendar.is_session(day) and now >= market.calendar.session_open(day):
        for symbol in symbols:
            opened = market.opening_price(symbol, day)
            if opened is not None:
                prices[symbol] = opened
    return prices


def indicator_values(market: MarketData, symbol: str, now: datetime, price: float, position_pnl_pct: float) -> dict:
    """The watched quantities now: indicators as of the last complete session, with the price-based
    ones moved to the current price, and the position's P/L."""
    series = market.bars_asof([symbol, "SPY"], now, sessions=300)
    ind = compute_indicators(series.bars[symbol], series.bars.get("SPY") or None)
    values: dict[str, float | None] = {
        name: value for name, value in ind.model_dump().items() if isinstance(value, float) or value is None
    }
    values["close"] = price
    for window in (20, 50, 200):
        sma = getattr(ind, f"sma_{window}")
        values[f"price_vs_sma_{window}"] = price / sma - 1 if sma else None
    values["pnl_pct"] = position_pnl_pct
    return values


class CheckpointRun:
    def __init__(self, bench: Workbench, *, day: date, time: str, dry_run: bool):
        self.bench = bench
        self.day = day
        self.time = time
        self.dry_run = dry_run

    async def run(self) -> list[Outcome]:
        prices = current_prices(self.bench.market, self.bench.config.assets.symbols, self.bench.now)
        outcomes: dict[str, Outcome] = {}
        asks = []
        for desk in self.bench.desks:
            account_id = desk.account.id
            stored = self.bench.events.read_stream(
                checkpoint_stream(self.bench.week_id, self.day, self.time, account_id)
            )
            if stored:
                outcomes[account_id] = _outcome_from(account_id, stored)
                continue
            prepared = self._prepare(desk, prices)
            if isinstance(prepared, Outcome):
                outcomes[account_id] = prepared
            else:
                asks.append(prepared)
        answered, failed = await gather_settled([p.desk.account.id for p in asks], [self._ask(p) for p in asks])
        results = {account_id: answer for account_id, answer in answered}
        for prepared in asks:
            account_id = prepared.desk.account.id
            if account_id in results:
                outcomes[account_id] = self._decide(prepared, results[account_id], prices)
        for account_id, error in failed:
            outcomes[account_id] = Outcome(account_id, None, f"owner failed to answer: {error}", None, None)
        if not self.dry_run:
            self._record_and_send(outcomes, prices)
        return [outcomes[d.account.id] for d in self.bench.desks]

    # ------------------------------------------------------------------ per account

    def _prepare(self, desk: Desk, prices: dict[str, float]) -> _Prepared | Outcome:
        account_id = desk.account.id
        if desk.account.role is AccountRole.FLAT:
            return Outcome(account_id, None, "FLAT baseline: never trades", None, None)
        account = desk.broker.account(prices)
        if isinstance(desk.broker, PaperBroker) and desk.broker.open_orders():
            return Outcome(account_id, None, "orders still queued for the open: nothing to judge yet", None, None)
        if not self.dry_run:
            value_account(
                self.bench.events,
                desk,
                account,
                self.bench.config,
                occasion=f"checkpoint {self.day} {self.time}",
                week_id=self.bench.week_id,
                run_id=self.bench.run_id,
            )
        frozen = frozen_trade(self.bench.events, self.bench.week_id, desk, self.bench.config)
        if frozen is None:
            return Outcome(account_id, None, "no trade frozen for this week (was run-weekly run?)", None, None)
        position = account.positions.get(frozen.instrument)
        if position is None or position.qty == 0:
            return Outcome(account_id, None, f"flat: no {frozen.instrument} position held", None, None)
        price = prices[frozen.instrument]
        pnl_pct = (price / position.avg_price - 1) * (1 if position.qty > 0 else -1)
        values = indicator_values(self.bench.market, frozen.instrument, self.bench.now, price, pnl_pct)
        before = conviction_now(self.bench.events, self.bench.week_id, account_id, frozen)
        if before == 0 or (before > 0) != (position.qty > 0):
            before = 1 if position.qty > 0 else -1  # the position is the truth; conviction follows its side
        # After a FLIP the frozen stop and thresholds argue for the other side: they no longer apply.
        flipped = (position.qty > 0) != (frozen.conviction > 0)
        rule = frozen.invalidation.rule
        observed = values.get(rule.indicator)
        triggered = not flipped and observed is not None and rule.holds(observed)
        return _Prepared(desk, account, frozen, values, before, pnl_pct, triggered, flipped)

    async def _ask(self, prepared: _Prepared) -> CheckpointAnswer:
        if prepared.triggered:
            rule = prepared.frozen.invalidation.rule
            reason = f"invalidation rule holds: {rule.describe()} (now {prepared.values.get(rule.indicator):.4g})"
            return CheckpointAnswer(action="EXIT", conviction_after=0, reason_delta=reason)
        site = CallSite(
            role=checkpointer.ROLE,
            run_id=self.bench.run_id,
            week_id=self.bench.week_id,
            account_id=prepared.desk.account.id,
        )
        return await checkpointer.check(
            self.bench.gateway,
            self.bench.prompts,
            prepared.frozen.owner,
            instrument=prepared.frozen.instrument,
            direction="LONG" if prepared.before > 0 else "SHORT",
            conviction=prepared.before,
            thesis=(
                [f"Flipped at an earlier checkpoint against Wednesday's thesis: {b}" for b in prepared.frozen.thesis]
                if prepared.flipped
                else prepared.frozen.thesis
            ),
            watched=[] if prepared.flipped else prepared.frozen.watched,
            values=prepared.values,
            pnl_pct=prepared.pnl_pct,
            time=self.time,
            site=site,
        )

    def _decide(self, prepared: _Prepared, answer: CheckpointAnswer, prices: dict[str, float]) -> Outcome:
        desk, frozen = prepared.desk, prepared.frozen
        account_id = desk.account.id
        held = prepared.account.positions[frozen.instrument].qty
        checkpoint = Checkpoint(
            checkpoint_id=f"{self.bench.week_id}:{self.day}T{self.time}:{account_id}",
            week_id=self.bench.week_id,
            day=self.day,
            time=self.time,
            account_id=account_id,
            instrument=frozen.instrument,
            conviction_before=prepared.before,
            conviction_after=answer.conviction_after,
            action=answer.action,
            reason_delta=answer.reason_delta,
            indicators_snapshot=prepared.values,
            invalidation_triggered=prepared.triggered,
            decided_by="invalidation_rule" if prepared.triggered else "owner",
        )
        if answer.action == "STAY":
            return Outcome(account_id, checkpoint, None, None, None)
        direction = "FLAT" if answer.action == "EXIT" else ("LONG" if answer.conviction_after > 0 else "SHORT")
        intent = TradeIntent(
            account_id=account_id,
            instrument=frozen.instrument,
            direction=direction,
            conviction=answer.conviction_after,
            source=f"checkpoint:{checkpoint.checkpoint_id}",
        )
        stop, why = halted(self.bench.events, account_id)
        verdict = risk.check(
            intent,
            prepared.account,
            prices[frozen.instrument],
            assets=self.bench.config.assets,
            risk=self.bench.config.risk,
            prices=prices,
            broker_shortable=desk.broker.is_shortable(frozen.instrument) if direction == "SHORT" else True,
            halted=stop,
            halt_reason=why,
        )
        if verdict.approved and answer.action == "REDUCE":
            # REDUCE halves what is held, unless the gate's limits want even less.
            half = int(held / 2)
            target = half if abs(half) <= abs(verdict.target_qty) else verdict.target_qty
            verdict = verdict.model_copy(update={"target_qty": target, "reason": f"REDUCE halves {held} to {target}"})
        target = verdict.target_qty if verdict.approved else held
        tag = f"{self.day:%m%d}T{self.time.replace(':', '')}"
        orders = plan_orders(
            self.bench.week_id,
            account_id,
            {frozen.instrument: prepared.account.positions[frozen.instrument]},
            frozen.instrument,
            target,
            tag=tag,
        )
        plan = OrdersPlanned(
            account_id=account_id,
            broker=desk.broker.name,
            orders=orders,
            positions_before=prepared.account.positions,
        )
        return Outcome(account_id, checkpoint, None, plan, verdict)

    # ------------------------------------------------------------------ recording

    def _record_and_send(self, outcomes: dict[str, Outcome], prices: dict[str, float]) -> None:
        desks = {d.account.id: d for d in self.bench.desks}
        blocked = 0
        for account_id, outcome in outcomes.items():
            stream = checkpoint_stream(self.bench.week_id, self.day, self.time, account_id)
            payloads: list[EventPayload] = []
            if outcome.checkpoint is not None:
                payloads.append(CheckpointTaken(checkpoint=outcome.checkpoint))
            else:
                payloads.append(CheckpointSkipped(account_id=account_id, reason=outcome.skipped or ""))
            if outcome.verdict is not None:
                payloads.append(RiskChecked(verdict=outcome.verdict))
            if outcome.orders is not None:
                payloads.append(outcome.orders)
            if not self.bench.events.read_stream(stream):
                self.bench.events.append(
                    [
                        NewEvent.of(
                            p,
                            stream=stream,
                            week_id=self.bench.week_id,
                            run_id=self.bench.run_id,
                            account_id=account_id,
                        )
                        for p in payloads
                    ],
                    expected_versions={stream: 0},
                )
            if outcome.orders is not None and outcome.orders.orders:
                orders_stream = week_stream(self.bench.week_id, "orders")
                require_plan_still_fits(
                    outcome.orders, desks[account_id].broker, recorded_orders(self.bench.events, orders_stream)
                )
                blocked += send_orders(
                    self.bench.events,
                    desks[account_id].broker,
                    outcome.orders.orders,
                    stream=week_stream(self.bench.week_id, "orders"),
                    week_id=self.bench.week_id,
                    run_id=self.bench.run_id,
                    after_fill=revaluer(
                        self.bench.events,
                        desks[account_id],
                        self.bench.config,
                        prices,
                        week_id=self.bench.week_id,
                        run_id=self.bench.run_id,
                    ),
                )
        stop_if_blocked(self.bench.events, blocked)  # the checkpoint is not complete until its orders went out
        marker = checkpoint_stream(self.bench.week_id, self.day, self.time)
        if not self.bench.events.read_stream(marker):
            self.bench.events.append(
                [
                    NewEvent.of(
                        CheckpointCompleted(
                            week_id=self.bench.week_id, day=self.day, time=self.time, run_id=self.bench.run_id
                        ),
                        stream=marker,
                        week_id=self.bench.week_id,
                        run_id=self.bench.run_id,
                    )
                ],
                expected_versions={marker: 0},
            )


@dataclass(frozen=True)
class _Prepared:
    desk: Desk
    account: AccountSnapshot
    frozen: FrozenTrade
    values: dict[str, float | None]
    before: int
    pnl_pct: float
    triggered: bool
    flipped: bool


def _outcome_from(account_id: str, stored: list) -> Outcome:
    checkpoint = next(
        (CheckpointTaken.from_event(e).checkpoint for e in stored if e.type == CheckpointTaken.event_type()), None
    )
    skipped = next(
        (CheckpointSkipped.from_event(e).reason for e in stored if e.type == CheckpointSkipped.event_type()), None
    )
    verdict = next((RiskChecked.from_event(e).verdict for e in stored if e.type == RiskChecked.event_type()), None)
    orders = next((OrdersPlanned.from_event(e) for e in stored if e.type == OrdersPlanned.event_type()), None)
    return Outcome(account_id, checkpoint, skipped, orders, verdict)


def require_checkpoint_time(config: Config, time: str) -> None:
    if time not in config.schedule.checkpoints:
        valid = ", ".join(config.schedule.checkpoints)
        raise UsageError(f"{time!r} is not a configured checkpoint time; valid: {valid}")
