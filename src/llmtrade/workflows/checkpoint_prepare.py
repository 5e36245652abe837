"""The checkpoint's first stage, prepare (in code): prices now; for every account whose checkpoint is not stored yet,
its valuation (the breaker sees it), the week's frozen trade, the watched indicators now, and the machine-checkable
invalidation rule, evaluated in code. Accounts with nothing to judge are skipped with a reason; one holding a symbol
without a price now is deferred: nothing stored, judged by a rerun (exit 75: checkpoint_trade.py), unless the daily
feed says the symbol's prices stop before the last session closed or that it has none (`_lasting`): then no rerun would
price it, and it is skipped now, saying why (a degraded run: app/checkpoint_run.py); one whose feed has a last bar of
it is valued there and judged on its week's trade, unless that trade is the symbol (`_ended_held`); nor when no
provider can price the symbol in this session at all (`_never`: a CSV folder of daily files only), skipped now too. An
account judged by an earlier run and not decided yet is looked at again, as one judged now is, for the decide stage
(RESUMED); one judged or decided by it whose decision or orders wait for a price no provider can give in this session
is decided not traded, its orders not sent given up (NOT_SENT). The ask stage follows (checkpoint_ask.py)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from llmtrade.brokers.fills import look_at
from llmtrade.brokers.reconcile import look
from llmtrade.brokers.reconcile_records import record_differences
from llmtrade.config.models import AccountRole
from llmtrade.discovery.universe import held_outside, in_play
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.market import Bar, IndicatorSet, PriceAge, Quote
from llmtrade.domain.trading import AccountSnapshot
from llmtrade.market.calendar import new_york_date
from llmtrade.market.ended_prices import held_ended, last_bars
from llmtrade.market.held_prices import prices_ended
from llmtrade.market.snapshot import close_age
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.workflows.broker_splits import SeenSplits, before_a_split
from llmtrade.workflows.checkpoint_skips import (
    Unpriced,
    canceling_only,
    no_trade,
    stop_waits,
    unpriced_for_good,
)
from llmtrade.workflows.checkpoint_slot import Outcome, Slot, outcome_from
from llmtrade.workflows.checkpoint_unpriced import NoSessionPrice, no_session_price, not_sent
from llmtrade.workflows.convictions import conviction_now
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import LAST_CLOSES, PRICE_AGES, PRICES, queued_order_ids, value_account
from llmtrade.workflows.frozen_trade import (
    FrozenTrade,
    current_prices,
    frozen_events,
    frozen_trade,
    held_current_prices,
    indicator_values,
    priced_quotes,
    through_splits,
)
from llmtrade.workflows.week_holds import held_this_week, week_held_skip
from llmtrade.workflows.workbench import Workbench


@dataclass(frozen=True)
class Prepared:
    """An account ready to be judged: everything its owner is shown, computed in code."""

    desk: Desk
    account: AccountSnapshot
    frozen: FrozenTrade
    values: dict[str, float | None]
    before: int
    pnl_pct: float
    triggered: bool
    flipped: bool
    quote: Quote | None = None  # the instrument's price now, dated, with its source
    # What the instrument's last bar looks like when the price is that bar's close and not one to size off (a split-like
    # jump, or twice or half the close before: market/jumps.py), for the risk gate (SUSPECT_PRICE); None otherwise.
    suspect: str | None = None
    # How old the price is when it is a last close not of the last session (a quiet symbol: no trade of it on its feed
    # since), for the risk gate (risk/stale.py); None when it is of the last session, or a price of today.
    age: PriceAge | None = None


@dataclass(frozen=True)
class Resumed:
    """An account judged by an earlier run and not decided yet, looked at now as a judged one is: what it is sized
    from (`account`, a split the broker applied since recorded), its instrument's `suspect` last bar and its price's
    `age` (`Prepared`'s)."""

    account: AccountSnapshot
    suspect: str | None = None
    age: PriceAge | None = None


STORED = ContextKey("checkpoint_stored", dict[str, Outcome])  # accounts whose checkpoint a run stored earlier
# Of STORED, the judged and not decided yet: looked at now, or why not to decide now (a split since its prices).
RESUMED = ContextKey("checkpoint_resumed", dict[str, Resumed | str])
ASKING = ContextKey("checkpoint_asking", list[Prepared])  # accounts whose owner (or rule) judges now
SKIPS = ContextKey("checkpoint_skips", dict[str, str])  # accounts skipped now, and why
DEFERRED = ContextKey("checkpoint_deferred", dict[str, str])  # accounts holding a symbol without a price now
# Of SKIPS and NOT_SENT, the accounts holding a symbol no provider can price in this session (`_never`), with each
# such symbol's why.
NO_SESSION = ContextKey("checkpoint_no_session", dict[str, dict[str, str]])
# Of STORED, the judged whose decision, or orders decided and not sent, wait for a price no provider can give in this
# session: decided not traded (DecideStage), or given up (checkpoint_unpriced.py `not_sent`), now, and why.
NOT_SENT = ContextKey("checkpoint_not_sent", dict[str, str])


class PrepareStage:
    name = "prepare"
    reads = ()
    writes = (PRICES, PRICE_AGES, LAST_CLOSES, STORED, RESUMED, ASKING, SKIPS, DEFERRED, NO_SESSION, NOT_SENT)
    overlaps = False

    def __init__(self, bench: Workbench, slot: Slot, *, dry_run: bool):
        self.bench = bench
        self.slot = slot
        self.dry_run = dry_run
        self._quotes: dict[str, Quote] = {}
        self._problems: dict[str, str] = {}  # why each symbol of the universe without a price now has none
        # Of those held, each whose prices ended, with its last bar and why: valued at that close (`_ended_held`).
        self._ended: dict[str, tuple[Bar, str]] = {}
        # This run's indicator sets by symbol: every account is judged at the same `now`.
        self._indicators: dict[str, IndicatorSet] = {}
        self._suspects: dict[str, str | None] = {}  # by symbol, read with `_indicators`
        self._frozen: dict[bool, list[StoredEvent]] = {}  # the week's pitches (False) or decision (True)
        self._splits = SeenSplits(bench.events, bench.week_id, dry_run=dry_run)
        self._never_seen: dict[str, str | None] = {}  # by symbol, `_never`'s answer: asked once a run
        self._week_held = held_this_week(bench.events, bench.week_id)  # accounts whose week the weekly run held back

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench = self.bench
        # The universe and every symbol held outside it: what is held is valued and judged at its price, in the
        # universe or not (a symbol taken out of assets.yaml mid-week was valued at cost, for good: a trial).
        held = held_outside(bench.config, bench.events)
        symbols = [*bench.config.assets.symbols, *held]
        quotes, problems = priced_quotes(bench.quotes, symbols, bench.now) if bench.quotes else ({}, {})
        # With a quote service, only what it priced: a symbol it could not price has no price (not a daily one).
        if bench.quotes:
            prices = {s: q.price for s, q in quotes.items()}
        else:
            prices = current_prices(bench.market, bench.config.assets.symbols, bench.now)
            found, problems = held_current_prices(bench.market, held, bench.now)
            prices |= found
        self._quotes, self._problems = quotes, problems
        self._ended = self._ended_held(prices)
        self._indicators = {}
        self._suspects = {}
        self._frozen = {}
        self._never_seen = {}
        stored: dict[str, Outcome] = {}
        resumed: dict[str, Resumed | str] = {}
        asking: list[Prepared] = []
        skips: dict[str, str] = {}
        deferred: dict[str, str] = {}
        no_session: dict[str, dict[str, str]] = {}
        given_up: dict[str, str] = {}
        for desk in bench.desks:
            account_id = desk.account.id
            found = bench.events.read_stream(self.slot.stream(bench.week_id, account_id))
            if found:
                outcome = outcome_from(account_id, found)  # judged by an earlier run: not again
                stored[account_id] = outcome
                judged = outcome.checkpoint
                never: dict[str, str] = {}
                if judged and judged.action != "STAY" and outcome.orders is None:
                    if judged.instrument in prices:
                        resumed[account_id] = self._resume(desk, judged.instrument, prices)
                    elif never := self._never([judged.instrument]):  # decided now, not traded: DecideStage
                        resumed[account_id] = self._held(desk, prices)
                elif judged and outcome.orders and judged.instrument not in prices:  # decided: orders not sent?
                    never = not_sent(
                        bench, desk, outcome.orders, partial(self._never, [judged.instrument]), self.dry_run
                    )
                if never:
                    given_up[account_id] = no_session_price(never, judged=True)
                    no_session[account_id] = never
                continue
            prepared = self._prepare(desk, prices)
            if isinstance(prepared, Unpriced):
                deferred[account_id] = prepared.why
            elif isinstance(prepared, NoSessionPrice):
                skips[account_id] = prepared.why
                no_session[account_id] = prepared.symbols
            elif isinstance(prepared, str):
                skips[account_id] = prepared
            else:
                asking.append(prepared)
        result = context.with_values(
            (PRICES, prices),
            (PRICE_AGES, self._ages(prices)),
            (LAST_CLOSES, last_bars(self._ended)),
            (STORED, stored),
            (RESUMED, resumed),
            (ASKING, asking),
            (SKIPS, skips),
            (DEFERRED, deferred),
            (NO_SESSION, no_session),
            (NOT_SENT, given_up),
        )
        return result if asking or skips or given_up else result.with_loaded(self.name)

    def _resume(self, desk: Desk, instrument: str, prices: dict[str, float]) -> Resumed | str:
        """A judgement an earlier run stored and did not decide (it stopped: a budget, an owner waited for, a crash),
        decided by this run: its account looked at and its instrument's last bar checked as `_prepare` does for one
        judged now, so the gate sizes it off the same checks (a split the broker applied since, a suspect close)."""
        bench = self.bench
        valued = self._splits.read_at(desk.account.id, prices, bench.market.calendar, bench.now)
        snapshot, observed = look_at(desk.broker, valued)
        seen = look(bench.events, desk.broker, snapshot, valued, observed=observed)
        self._splits.record(seen, desk.broker.name, bench.now, valued, bench.run_id)
        price = prices[instrument]
        splits = self._splits.splits(desk.account.id)
        if splits and before_a_split(bench.market.calendar, bench.now, instrument, price, splits):
            return f"{instrument} (split at the broker after this run's prices: decided at the next run)"
        quote = self._quotes.get(instrument)
        if quote is None or quote.kind == "close":
            indicator_values(
                bench.market, instrument, bench.now, price, 0.0, held=self._indicators, suspects=self._suspects
            )
            return Resumed(seen.managed, self._suspects.get(instrument), self._age(instrument, price))
        return Resumed(seen.managed)

    def _held(self, desk: Desk, prices: dict[str, float]) -> Resumed:
        """What the account holds now, a read of its broker, for a judgement decided not traded (NOT_SENT)."""
        bench = self.bench
        valued = self._splits.read_at(desk.account.id, prices, bench.market.calendar, bench.now)
        return Resumed(look_at(desk.broker, valued)[0])

    def _prepare(self, desk: Desk, prices: dict[str, float]) -> Prepared | str | Unpriced | NoSessionPrice:
        """The account ready to be judged, or why there is nothing to judge, or what it holds without a price."""
        bench = self.bench
        if desk.account.role is AccountRole.FLAT:
            return "FLAT baseline: never trades"
        if (held := self._week_held.get(desk.account.id)) is not None:  # its week's trade is not its position yet
            return week_held_skip(held)
        # One look at the broker's account, orders and fills (in that order, as reconciliation reads them) serves the
        # reconciliation, the queue check and the valuation: nothing between them changes the broker's books. Valued in
        # the new shares of a split an earlier look recorded (a paper account holding it is split from midnight on).
        valued = self._splits.read_at(desk.account.id, prices, bench.market.calendar, bench.now)
        if not self.dry_run:  # an order that can never fill is ended before the queue check (week_gate.py `ready`)
            desk.broker.record_canceled(run_id=bench.run_id)
        snapshot, observed = look_at(desk.broker, valued)
        # Before anything of the look is recorded (valuation, stop and indicators read the prices of what is held).
        unpriced = [s for s, p in snapshot.positions.items() if p.qty and s in self._problems and s not in self._ended]
        if unpriced:
            lasting = {s: why for s in unpriced if (why := self._lasting(s)) is not None}
            if lasting:  # no wait mends it before the deadline: said and stored now, judged again next checkpoint
                return unpriced_for_good(lasting)
            if never := self._never(unpriced):
                return NoSessionPrice(no_session_price(never), never)
            return Unpriced("; ".join(f"{s} ({self._problems[s]})" for s in unpriced))
        # reconcile_account's look, kept whole: its order ids serve the valuation too.
        seen = look(bench.events, desk.broker, snapshot, valued, observed=observed)
        self._splits.record(seen, desk.broker.name, bench.now, valued, bench.run_id)
        if not self.dry_run:
            occasion = f"checkpoint {self.slot.day} {self.slot.time}"
            record_differences(
                bench.events,
                desk.account.id,
                seen.differences,
                occasion=occasion,
                week_id=bench.week_id,
                run_id=bench.run_id,
            )
        account = seen.managed
        # Orders of llmtrade's whose cancel is under way, and no other: a cancel Alpaca may leave pending for hours
        # (alpacahq/Alpaca-API #111, #199). Such an order may still fill, so nothing is traded while it is there, but
        # the position is held: its stop is checked and, when it holds, said (`stop_waits`), not left unchecked.
        stuck = canceling_only(observed.orders)
        if queued_order_ids(desk, observed.orders) and not stuck:
            if bench.market.calendar.is_open(bench.now):
                # Not for the open: a paper order sent in session on daily prices only fills at the close (paper.py).
                return (
                    "orders still queued, not filled yet (one sent in session on a symbol with daily prices only "
                    "fills at the session's close): nothing to judge yet"
                )
            return "orders still queued for the open: nothing to judge yet"
        if not self.dry_run:
            value_account(
                bench.events,
                desk,
                account,
                bench.config,
                occasion=f"checkpoint {self.slot.day} {self.slot.label}",
                week_id=bench.week_id,
                run_id=bench.run_id,
                observed=observed,
                ours=seen.planned,
                last_closes=last_bars(self._ended),
            )
        chair = desk.account.role is AccountRole.CHAIRMAN  # the week's frozen events: read once per checkpoint
        if chair not in self._frozen:
            self._frozen[chair] = frozen_events(bench.events, bench.week_id, desk.account.role)
        frozen = frozen_trade(bench.events, bench.week_id, desk, bench.config, found=self._frozen[chair])
        if frozen is None:
            return no_trade(bench, desk, account)
        splits = self._splits.splits(desk.account.id)
        frozen = through_splits(frozen, splits, bench.now)
        position = account.positions.get(frozen.instrument)
        if position is None or position.qty == 0:
            return f"flat: no {frozen.instrument} position held"
        price = prices.get(frozen.instrument)
        if frozen.instrument in self._ended:  # its own trade's prices ended: nothing to judge it by
            return unpriced_for_good({frozen.instrument: self._ended[frozen.instrument][1]})
        if price is None:
            # Held, yet priced by no provider though asked (the look above found none of its symbols unpriced): waited
            # for as any held symbol without a price is, never judged nor valued at a made-up price.
            return Unpriced(f"{frozen.instrument} (no price now)")
        if splits and before_a_split(bench.market.calendar, bench.now, frozen.instrument, price, splits):
            # The broker split the position before the open; this run's price (the last close) and the bars are
            # still in the old shares: a stop moved by the split would fire, the P/L read +300%. Its next prices are.
            return f"{frozen.instrument} split at the broker after this checkpoint's prices: judged at the next one"
        pnl_pct = (price / position.avg_price - 1) * (1 if position.qty > 0 else -1)
        values = indicator_values(
            bench.market, frozen.instrument, bench.now, price, pnl_pct, held=self._indicators, suspects=self._suspects
        )
        before = conviction_now(bench.events, bench.week_id, desk.account.id, frozen)
        if before == 0 or (before > 0) != (position.qty > 0):
            before = 1 if position.qty > 0 else -1  # the position is the truth; conviction follows its side
        # After a FLIP the frozen stop and thresholds argue for the other side: they no longer apply.
        flipped = (position.qty > 0) != (frozen.conviction > 0)
        rule = frozen.invalidation.rule
        observed = values.get(rule.indicator)
        triggered = not flipped and observed is not None and rule.holds(observed)
        if stuck:
            return stop_waits(frozen.instrument, rule.describe(), observed, triggered, stuck)
        quote = self._quotes.get(frozen.instrument)
        # While the market is closed the price is the last bar's close (no quote: the closes themselves).
        suspect = self._suspects.get(frozen.instrument) if quote is None or quote.kind == "close" else None
        age = self._age(frozen.instrument, price)
        return Prepared(desk, account, frozen, values, before, pnl_pct, triggered, flipped, quote, suspect, age)

    def _ages(self, prices: dict[str, float]) -> dict[str, PriceAge]:
        """`_age` of every price now that is a last close (`PRICE_AGES`): the gate counts another position's stale mark
        the careful way (risk/stale.py `StaleMarks`), and a leg sent later than it was sized is checked again. None read
        in session: every quote is of today then."""
        quotes = self._quotes
        if quotes and not any(q.kind == "close" for q in quotes.values()):
            return {}
        return {s: age for s, price in prices.items() if (age := self._age(s, price)) is not None}

    def _age(self, symbol: str, price: float) -> PriceAge | None:
        """How old `symbol`'s price now is when it is a last close of before the last complete session (a quiet
        symbol's: its feed saw no trade of it since), from what this run has read already (no read of its own): the
        quote's day when it is a close (stamped at that session's close), else, without a quote service, the day of the
        indicators' last bar when the price is that bar's close (not today's open). A quote of today (a trade, a
        path point, the day's open) is of now: None."""
        quote = self._quotes.get(symbol)
        if quote is not None:
            day = new_york_date(quote.as_of) if quote.kind == "close" else None
        else:
            indicators = self._indicators.get(symbol)
            day = indicators.asof_day if indicators is not None and indicators.close == price else None
        if day is None:
            return None
        return close_age(symbol, day, self.bench.market.calendar.last_completed_session(self.bench.now))

    def _ended_held(self, prices: dict[str, float]) -> dict[str, tuple[Bar, str]]:
        """Each symbol some account may hold without a price now whose prices ended (market/ended_prices.py), with its
        last bar and why: the checkpoint's valuation, and the one after a fill of its orders, value it there, as the
        week start and status do. An account holding one was skipped whole ("no price to wait for"), its own trade's
        stop never checked and the account never valued; it is judged on its trade, unless that trade is the symbol.
        Reads the feed only when such a symbol is held."""
        bench = self.bench
        if not self._problems:
            return {}
        unpriced = sorted(s for s in self._problems if s not in prices)
        return held_ended(bench.market, unpriced, in_play(bench.events), bench.now)

    def _never(self, unpriced: list[str]) -> dict[str, str]:
        """Of `unpriced` (held, without a price now), each that no provider can price in this session, and why.

        Skipped now, not waited for, though the folder is read afresh at every look (a file that appears is read, and
        rows added to one: csv_quotes.py keys its read on the file's size and time), so a process of the user's writing
        intraday rows during the day would be seen. A symbol with no intraday file at all and no daily row of today
        has no such process: a trial's every in-session checkpoint waited for it to its deadline (exit 75 at every
        wake-up) and closed it not judged all the same. So each checkpoint says it at its first wake-up, records the
        skip, and the next one looks again (a file written meanwhile is read then); one whose intraday file is there
        without today's rows yet is still waited for (its writer is late). Never judged on the last daily close: that
        price is of yesterday's session, read as today's it would move no stop and trade at a stale price."""
        quotes = self.bench.quotes
        asked = [s for s in unpriced if s not in self._never_seen]
        if asked and quotes is not None:
            found = quotes.never_in_session(asked, self.bench.now)
            self._never_seen.update({s: found.get(s) for s in asked})
        return {s: why for s in unpriced if (why := self._never_seen.get(s)) is not None}

    def _lasting(self, symbol: str) -> str | None:
        """Why `symbol`, held and without a price now, will not have one by waiting, or None when waiting may bring it
        (market/held_prices.py `prices_ended`: the daily feed decides). Waiting on such a symbol, every rerun to the
        deadline, and every checkpoint after, would wait the same way in silence (exit 75 is not mailed) while nothing
        of the account is judged."""
        return prices_ended(self.bench.market, symbol, self.bench.now)
