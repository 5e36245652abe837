"""The weekly run's risk gate for one account at a time: reconciled with its broker and valued at the week's start,
the breaker asked, its intent sized by the gate (risk/gate.py) against the account as the week roll leaves it, and the
orders planned. The stages that run it over every account are in workflows/trading_stages.py."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from functools import partial

from llmtrade.brokers.fills import Observed, look_at
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.brokers.reconcile import look
from llmtrade.brokers.reconcile_records import record_differences
from llmtrade.config.models import Config
from llmtrade.discovery.universe import held_outside, in_play
from llmtrade.domain.account_events import AccountWeekHeld
from llmtrade.domain.events import EventPayload
from llmtrade.domain.market import Bar, PriceAge
from llmtrade.domain.research import MarketSnapshot
from llmtrade.domain.trading import (
    AccountSnapshot,
    BrokerOrder,
    OrdersPlanned,
    RiskChecked,
    RiskVerdict,
    TradeIntended,
    TradeIntent,
)
from llmtrade.errors import BrokerUnavailable, LlmtradeError, TemporaryError
from llmtrade.market.ended_prices import held_ended, last_bars
from llmtrade.market.failures import own_words
from llmtrade.market.held_prices import HELD_SESSIONS, held_bars
from llmtrade.market.jumps import last_suspect
from llmtrade.market.service import MarketData
from llmtrade.market.snapshot import close_age, price_age
from llmtrade.risk import gate as risk
from llmtrade.risk.controls import halted, shadow_symbols
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.projections import WEEK_START
from llmtrade.workflows.broker_splits import SeenSplits
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import queued_order_ids, value_account
from llmtrade.workflows.roll_sizing import after_roll, sold_ages, unsold_note
from llmtrade.workflows.shadow import record_shadow_trade
from llmtrade.workflows.week_holds import CANCELING, WHEN, held_note, labelled, unanswered_note


class WeekGate:
    """Sizing one account's intent at the week's start: reconcile, value, the breaker, the gate, the orders. The base
    of the weekly run's risk stages (workflows/trading_stages.py); `overlaps` is the stage's (pipeline/stage.py)."""

    def __init__(
        self,
        desks: list[Desk],
        config: Config,
        events: EventStore,
        week_id: date,
        *,
        dry_run: bool = False,
        overlaps: bool = False,
        market: MarketData | None = None,
    ):
        self.overlaps = overlaps
        self.desks = desks
        self.config = config
        self.events = events
        self.week_id = week_id
        self.dry_run = dry_run
        self.market = market  # prices what is held outside the universe (`held_prices`)
        self._held: dict[str, float] = {}
        # What the last bar of each of those looks like when it is not a price to size off (market/jumps.py).
        self._held_suspect: dict[str, str] = {}
        self._held_days: dict[str, date] = {}  # the day of each one's last close: a quiet symbol's is sessions old
        # Those of them whose prices ended for good (a feed that answers they stop, or that it has none), with why: a
        # roll's close of one could never fill (brokers/paper_expiry.py), so it is not sent and not counted as sold.
        self._held_ended: dict[str, str] = {}
        # The last bar of each held symbol without a close now whose prices ended: the week start values it there, as
        # the leaderboard and the postmortem do (never a price the roll or the risk gate sizes off).
        self._last_bars: dict[str, Bar] = {}
        self.splits = SeenSplits(events, week_id, dry_run=dry_run)
        self.queued: list[str] = []
        self.unsold: list[str] = []  # `unsold_note`s of the plans made here: said as warnings, the run degraded
        # A real run's accounts with orders of llmtrade's open at their broker (queued, or a cancel under way), by
        # account id: each is held back alone (`held_note`), the others trade their week; only when every account that
        # trades is held does the run stop (`wait_for_queued`), its one message naming them all.
        self.held: dict[str, AccountWeekHeld] = {}
        self.unanswered: dict[str, BrokerUnavailable] = {}  # those of them held because their broker did not answer

    def held_prices(self, snapshot: MarketSnapshot) -> None:
        """Read the snapshot session's closes of every symbol held outside the universe (the snapshot has the
        universe's only), before any account is looked at: the week roll sells them and the week start values them at
        these, where they were taken at cost (an operator's trial). One no provider has stays at cost, and its
        valuation says so (AccountValued.at_cost); one whose prices ended is valued at its last close, said so
        (AccountValued.at_last_close: `_ended_closes`). A last close of theirs the next session has not confirmed is
        suspect, as a universe symbol's (`MarketSnapshot.suspect`): the roll's money is not sized off it. A halted
        account's shadow book is rolled at these too: what it holds outside the universe is read with them."""
        shadows = sorted({s for desk in self.desks for s in shadow_symbols(self.events, desk.account.id)})
        held = dict.fromkeys([*held_outside(self.config, self.events), *shadows])
        extra = [s for s in held if s not in snapshot.indicators and s not in snapshot.left_out]
        # A universe symbol the snapshot left out, its prices having ended, is one whose close could never fill, as a
        # symbol held outside the universe whose feed answers so: its close was sent all the same, failing the run in
        # session at every retry (no quote will come, exit 75), queued for an open that never comes before it.
        left_out = dict(snapshot.left_out)
        if self.market is None or not extra:
            self._held, self._held_suspect, self._held_ended, self._held_days = {}, {}, left_out, {}
            self._ended_closes(snapshot)
            return
        errors: dict[str, LlmtradeError] = {}
        bars = held_bars(self.market, extra, snapshot.asof, sessions=HELD_SESSIONS, errors=errors)[0]
        self._held_ended = left_out | {s: own_words(e) for s, e in errors.items() if not isinstance(e, TemporaryError)}
        self._held = {s: b[-1].close for s, b in bars.items()}
        self._held_days = {s: b[-1].day for s, b in bars.items()}
        self._held_suspect = {s: jump.looks_like() for s, b in bars.items() if (jump := last_suspect(s, b)) is not None}
        self._ended_closes(snapshot)

    def _ended_closes(self, snapshot: MarketSnapshot) -> None:
        """The last bar of each symbol some account holds that has no close in this week's prices (`closes`) and whose
        prices ended (market/ended_prices.py): a symbol the snapshot left out, or one held outside the universe."""
        self._last_bars = {}
        if self.market is None:
            return
        held = in_play(self.events)
        unpriced = [s for s in sorted(held) if s not in snapshot.indicators and s not in self._held]
        self._last_bars = last_bars(held_ended(self.market, unpriced, held, snapshot.asof))

    def last_closes(self) -> dict[str, Bar]:
        """The last bar of each held symbol without a close in this week's prices whose prices ended (`held_prices`):
        where the week start values it, and so the valuation after each of the week's fills (execution.py
        LAST_CLOSES). Never a price to size or trade at."""
        return dict(self._last_bars)

    def _age(self, snapshot: MarketSnapshot, symbol: str) -> PriceAge | None:
        """How old the close the roll sells `symbol` at is (a universe symbol's in the snapshot, or one held outside
        it: `held_prices`), when it is not of the snapshot's session (risk/stale.py)."""
        day = self._held_days.get(symbol)
        return close_age(symbol, day, snapshot.session) if day is not None else price_age(snapshot, symbol)

    def closes(self, snapshot: MarketSnapshot, account_id: str = "") -> dict[str, float]:
        """The weekly run's prices: the snapshot's closes and those of the symbols held outside the universe
        (`held_prices`), in the new shares of a split an earlier look recorded."""
        closes = {s: ind.close for s, ind in snapshot.indicators.items()} | self._held
        return self.splits.in_new_shares(account_id, closes, snapshot.session, snapshot.asof)

    def wait_for_queued(self, trading: Collection[str]) -> None:
        """Raises TemporaryError (exit 75) when every account in `trading` (those with an intent: the FLAT baseline
        never waits) is `held`, naming each and its orders: none of the week would trade, and the run after they fill
        runs it whole (the quick start's Tuesday-evening orders, queued for Wednesday's open). One held among accounts
        that can trade holds itself alone: the run goes on, and says it (`held_note`)."""
        # The FLAT baseline held (its broker not answering) is not why the week waits, nor named: it has no orders.
        waiting = {a: h for a, h in self.held.items() if a in trading}
        if not waiting or not set(trading) <= set(waiting):
            return
        if unanswered := [e for a, e in self.unanswered.items() if a in waiting]:
            raise unanswered[0]  # a broker that did not answer: its own failure, as before (when to try again)
        said = "; ".join(f"account {a} still has orders queued ({', '.join(labelled(h))})" for a, h in waiting.items())
        # A cancel under way ends when the broker carries it out, not at the open: Alpaca can leave one pending_cancel
        # for hours (alpacahq/Alpaca-API #111, #199), and "they fill at the open" sent the user to wait for what would
        # not come.
        also = (
            f"; one whose cancel is under way ({CANCELING}) waits for the broker to carry it out (it may still fill), "
            "which Alpaca can leave undone for hours: if it stays so, cancel it in Alpaca's dashboard or ask Alpaca's "
            "support to clear it; the week waits until it has ended"
            if any(h.canceling for h in waiting.values())
            else ""
        )
        raise TemporaryError(f"{said}: they fill at {WHEN}; run again after they fill{also}")

    def _value(
        self, desk: Desk, account: AccountSnapshot, run_id: str, observed: Observed, ours: frozenset[str]
    ) -> None:
        if self.dry_run:
            return  # a dry run leaves no trace on accounts or breakers
        value_account(
            self.events,
            desk,
            account,
            self.config,
            occasion=WEEK_START,
            week_id=self.week_id,
            run_id=run_id,
            observed=observed,
            ours=ours,
            last_closes=self._last_bars,
        )

    def ready(
        self, desk: Desk, snapshot: MarketSnapshot, run_id: str, *, trades: bool = True
    ) -> AccountSnapshot | None:
        """`_ready`, or None for an account of a real run whose broker did not answer (BrokerUnavailable: unreachable,
        its rate limit used up, a look torn by fills): held back alone (`held`), as one with an order still open
        there, nothing judged or recorded from it; the next run of the week asks it again. The FLAT baseline (`trades`
        False) too: it trades nothing, so its broker down held every account's week (exit 75 at every wake-up); held,
        it is not valued at the week's start until its broker answers (`plan` with `ends_hold`). A dry run's account is
        never held: its failure stops the run."""
        try:
            return self._ready(desk, snapshot, run_id, trades=trades)
        except BrokerUnavailable as error:
            if self.dry_run:
                raise
            self._unanswered(desk, error, flat=not trades)
            return None

    def _unanswered(
        self, desk: Desk, error: BrokerUnavailable, short: str = "", *, flat: bool = False
    ) -> AccountWeekHeld:
        """The account `held` for its broker not answering (`error`; `short`: whether it may short that symbol; `flat`:
        the FLAT baseline, not valued), or for its orders of llmtrade's open there when the broker answers that (asked
        now, nothing recorded): an account with one open whose asset endpoint (or a read of its look) failed was held
        as "its broker did not answer", the user told to wait for the broker, not for its order (nor of a cancel stuck
        at Alpaca for hours), the alert saying so too."""
        account_id = desk.account.id
        try:
            orders = [] if flat else desk.broker.open_orders()  # the FLAT baseline has none to wait for
        except BrokerUnavailable:
            orders = []  # not answered either: held for what it did not answer
        if queued := queued_order_ids(desk, orders):
            self._hold_for_orders(desk, queued, orders)
            return self.held[account_id]
        self.unanswered[account_id] = error
        self.held[account_id] = AccountWeekHeld(
            account_id=account_id,
            broker=desk.broker.name,
            orders=[],
            canceling=[],
            reason=unanswered_note(account_id, desk.broker.name, error, short=short, flat=flat),
        )
        return self.held[account_id]

    def _hold_for_orders(self, desk: Desk, queued: list[str], orders: Sequence[BrokerOrder]) -> None:
        """The account `held` for its orders of llmtrade's open at its broker (`queued`, read among `orders`, the
        broker's open orders: those whose cancel is under way said so)."""
        canceling = {o.client_order_id for o in orders if o.canceling}
        stuck = [i for i in queued if i in canceling]
        self.held[desk.account.id] = AccountWeekHeld(
            account_id=desk.account.id,
            broker=desk.broker.name,
            orders=queued,
            canceling=stuck,
            reason=held_note(desk.account.id, queued, stuck),
        )

    def _may_short(self, desk: Desk, intent: TradeIntent | None) -> bool | None:
        """Whether the broker lets the account short a SHORT intent's instrument (True for any other); None when it did
        not answer in a real run: the account is `held` alone, as one whose look failed (the whole run stopped, 75)."""
        if intent is None or intent.direction != "SHORT":
            return True
        try:
            return desk.broker.is_shortable(intent.instrument)
        except BrokerUnavailable as error:
            if self.dry_run:
                raise
            self._unanswered(desk, error, intent.instrument)
            return None

    def _ready(self, desk: Desk, snapshot: MarketSnapshot, run_id: str, *, trades: bool) -> AccountSnapshot:
        """The account as llmtrade manages it at the week's start: reconciled with its broker and valued (each
        recorded once, unless dry). Nothing here depends on the week's intent. An account that `trades` with orders
        of llmtrade's open at its broker (queued, or a cancel under way) is neither valued nor sized but `held`
        (AccountWeekHeld): `plan` plans nothing for it and the others go on; when every account that trades is held,
        the run stops once all are looked at (`wait_for_queued`, exit 75). A dry run sends nothing, so nothing can be
        doubled: it goes on, sized from the positions before they fill, and says so."""
        prices = self.closes(snapshot)  # in the new shares of a split an earlier desk's look recorded
        if not self.dry_run:
            # Orders the broker ends itself (a split between, a paper order whose price will never come) are recorded
            # before the look: one that can never fill is not waited for (exit 75 at every wake-up, every account's
            # week held back), and the run says it (brokers/order_ends.py `ended_notes`).
            desk.broker.record_canceled(run_id=run_id)
        # One look at the broker's account, orders and fills (in that order, as reconciliation reads them) serves the
        # reconciliation, the queue check and the valuation, as a checkpoint's (nothing between them changes the books).
        account, observed = look_at(desk.broker, prices)
        seen = look(self.events, desk.broker, account, prices, observed=observed)
        self.splits.record(seen, desk.broker.name, snapshot.asof, prices, run_id)
        if not self.dry_run:
            record_differences(
                self.events,
                account.account_id,
                seen.differences,
                occasion=WEEK_START,
                week_id=self.week_id,
                run_id=run_id,
            )
        # Only what llmtrade manages: a position made by hand is reported, and left out of everything.
        before = seen.managed
        if trades:
            queued = queued_order_ids(desk, observed.orders)
            if queued:
                # Planning against positions that queued orders are about to change would double them. Temporary, not
                # a fault to fix: orders placed after the close (the quick start run on a Tuesday evening) fill at the
                # open, and run-due exited 1 at every wake-up until then (found by the new-user trial).
                # A dry run (of a past week, say, while this week's orders wait for the open) exited 75 for them.
                ids = ", ".join(queued)
                if not self.dry_run:
                    self._hold_for_orders(desk, queued, observed.orders)
                    return before  # neither valued nor sized: held alone (`plan`), the others go on
                said = f"account {desk.account.id} has orders queued ({ids}): they fill at {WHEN}; this dry run"
                self.queued.append(f"{said} sized it from the positions held now, before they fill")
        self._value(desk, before, run_id, observed, seen.planned)  # the FLAT baseline is valued too
        return before

    def plan(
        self,
        desk: Desk,
        intent: TradeIntent | None,
        snapshot: MarketSnapshot,
        run_id: str,
        *,
        before: AccountSnapshot | None = None,
        ends_hold: bool = False,
    ) -> list[EventPayload]:
        """The account's TradeIntended, RiskChecked and OrdersPlanned (none for the FLAT baseline, which is only
        valued, but an empty OrdersPlanned when it `ends_hold`: the one record that ends its AccountWeekHeld, else held
        all week). Records the reconciliation, the week-start valuation (both by `ready`, unless `before` is its
        answer already) and a halted account's shadow trade (each once) unless dry. Only its AccountWeekHeld while
        the account has orders of llmtrade's open at its broker (one may still fill) or its broker did not answer
        (`held`)."""
        shortable: bool | None = None
        if before is None or (self.dry_run and not self.splits.looked(desk.account.id)):
            # Before the look that values it: a week-start valuation gives a week never planned a postmortem row.
            if (shortable := self._may_short(desk, intent)) is None:
                return [self.held[desk.account.id]]
            before = self.ready(desk, snapshot, run_id, trades=intent is not None)  # records (or keeps) splits seen
        if before is None or desk.account.id in self.held:
            return [self.held[desk.account.id]]
        prices = self.closes(snapshot, desk.account.id)
        if intent is None:
            empty = OrdersPlanned(
                account_id=desk.account.id, broker=desk.broker.name, orders=[], positions_before=before.positions
            )
            return [empty] if ends_hold else []
        stop, why = halted(self.events, desk.account.id)
        # Held symbols whose prices ended: their close would be queued and never fill (it expires at the next look),
        # so none is sent, and the week is sized as still holding them, with no money from their sale. Said once.
        unsold = {s: self._held_ended[s] for s, p in before.positions.items() if p.qty and s in self._held_ended}
        for symbol, ended in unsold.items():
            qty = before.positions[symbol].qty
            settles = desk.broker.settles_at_price
            self.unsold.append(unsold_note(desk.account.id, symbol, qty, ended, settles=settles))
        if intent.direction == "FLAT" and not intent.instrument:
            verdict = RiskVerdict(
                account_id=desk.account.id,
                instrument="",
                target_qty=0,
                approved=True,  # closing everything only reduces risk, halted or not
                reason="no pitch: flat for the week" + (f" (halted: {why})" if stop else ""),
                price=1.0,
                adjustments=[],
                shadow_qty=0 if stop else None,
            )
        else:
            if shortable is None and (shortable := self._may_short(desk, intent)) is None:
                return [self.held[desk.account.id]]  # the chairman's account, looked at before the decision
            suspect = snapshot.suspect | self._held_suspect
            # Kept unsold at the lower of cost and last close (after_roll); counted in its class at the larger (gate).
            ended = {s: b.close for s, b in self._last_bars.items() if s in unsold and s in before.at_cost}
            verdict = risk.check(
                intent,
                after_roll(before, intent.instrument, prices, unsold, ended),
                prices.get(intent.instrument, 0.0),
                assets=self.config.assets,
                risk=self.config.risk,
                prices=prices,
                broker_shortable=shortable,
                halted=stop,
                halt_reason=why,
                suspect=snapshot.suspect.get(intent.instrument),
                # Sold at their last close (after_roll), held positions' closes are the money the trade is sized from.
                suspect_held={s: suspect[s] for s in before.positions if s in suspect},
                age=price_age(snapshot, intent.instrument),  # a quiet symbol's close, sessions old (risk/stale.py)
                # The same of the closes the roll sells what else is held at (after_roll): that money sizes the trade.
                held_ages=sold_ages(before, intent.instrument, unsold, partial(self._age, snapshot)),
                ended_closes=ended,
            )
        if stop and not self.dry_run:
            record_shadow_trade(
                self.events,
                desk,
                self.config,
                verdict,
                prices,
                roll=True,
                source=f"week {self.week_id}",
                at=snapshot.asof,
                week_id=self.week_id,
                run_id=run_id,
            )
        # A halted account's verdict is already cut to what reduces risk; its roll still closes.
        rolled = {s: p for s, p in before.positions.items() if s not in unsold}
        orders = plan_orders(self.week_id, desk.account.id, rolled, verdict.instrument, verdict.target_qty)
        return [
            TradeIntended(intent=intent),
            RiskChecked(verdict=verdict),
            OrdersPlanned(
                account_id=desk.account.id, broker=desk.broker.name, orders=orders, positions_before=before.positions
            ),
        ]
