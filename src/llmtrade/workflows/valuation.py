"""Valuing an account: its new fills into the audit log, its equity, and its circuit breaker.

The weekly risk gate values every account at the week start and execution after every fill, so the
breaker sees each trade before the next order. What one valuation writes (the new fills, each on
its write-once stream; the valuation, once per named occasion; the breaker's change, at the
version it was computed from) goes in one transaction: the six accounts of a week start cost six
commits, not one per record. The batch carries every one of those expected versions, so it is
stored whole or not at all; when any of them was taken (a rerun finding its valuation there,
another process recording the same fill or breaker change) it is written the careful way, each
record on its own with its own race handling (brokers/fills.py, risk/controls.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import date

from llmtrade.brokers.fill_view import view_of
from llmtrade.brokers.fills import (
    Observed,
    keep_replaced,
    new_fill_events,
    observe,
    record_new_fills,
    record_valuation,
    valuation_event,
)
from llmtrade.brokers.order_ends import record_order_ends
from llmtrade.brokers.overfills import keep_overfilled
from llmtrade.brokers.per_store import PerStore
from llmtrade.brokers.reconcile import our_order_ids
from llmtrade.config.models import Config
from llmtrade.domain.breaker import BreakerState
from llmtrade.domain.market import Bar
from llmtrade.domain.trading import AccountSnapshot, Fill
from llmtrade.errors import ConcurrencyError
from llmtrade.risk.breaker_head import appended
from llmtrade.risk.controls import breaker_change, breaker_events, evaluate_breaker
from llmtrade.risk.halt_cancels import cancel_opening_orders, settle_unanswered
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.account_reset import reset_found
from llmtrade.workflows.desk import Desk


def value_account(
    events: EventStore,
    desk: Desk,
    account: AccountSnapshot,
    config: Config,
    *,
    occasion: str,
    week_id: date,
    run_id: str | None,
    observed: Observed | None = None,
    ours: frozenset[str] | None = None,
    last_closes: Mapping[str, Bar] | None = None,
) -> None:
    """Record the account's equity and its new fills, and let its circuit breaker see both. `last_closes`: the last
    bar of held symbols whose prices ended (market/ended_prices.py), each one `account` values at cost valued at its
    close instead and named so (AccountValued.at_last_close).

    Broker reads write nothing, so this (a write path: week start, checkpoints, after each fill) is
    where the broker's fills reach the audit log, once per order. A halt cancels the account's
    queued orders that would open or add. `observed`: the look at the broker (`fills.observe`) taken with
    `account` when the caller has one (a checkpoint's reconciliation); `ours`: `our_order_ids` as that
    reconciliation counted them (nothing between the two writes an order). Raises what the broker's reads and
    the store raise."""
    # The broker's own cancel records first (a split's, at the paper broker), as record_new_fills has it: the order
    # ends recorded below must never take their streams.
    desk.broker.record_canceled(run_id=run_id)
    account, at_last = marked_at(account, last_closes or {})
    # One look at the broker serves the audit log and the breaker.
    observed = observed if observed is not None else observe(desk.broker)
    ours = ours if ours is not None else our_order_ids(events, account.account_id)
    name, account_id = desk.broker.name, account.account_id
    kept = _VALUED.get(events, name, account_id, observed, ours)
    # Trades made by hand are not its; the split is carried on from the last look (it costs what is new).
    fills = kept if kept is not None else view_of(name, account_id, observed.fills).ours(ours)
    starting = desk.account.starting_cash
    breaker = config.risk.circuit_breaker
    # A breaker cancel a killed process left unanswered is settled from the order before the breaker's change is
    # worked out: a resume in it takes back only the requests never made (risk/halt_cancels.py).
    settle_unanswered(events, desk.broker, observed.orders, week_id=week_id, run_id=run_id)
    reset = reset_found(events, desk, account_id, account.equity, observed, named=account.broker_account)
    state, changes, version = breaker_change(
        events, account_id, starting_equity=starting, equity=account.equity, fills=fills, config=breaker, reset=reset
    )
    # The same look as the last valuation's, whose new fills were all recorded: the audit log holds them still.
    found = [] if kept is not None else new_fill_events(events, desk.broker, observed, week_id=week_id, run_id=run_id)
    new = [event for _, written in found for event in written]
    valued, at = valuation_event(account, occasion=occasion, week_id=week_id, run_id=run_id, at_last_close=at_last)
    batch = [*new, valued, *breaker_events(account_id, changes, week_id=week_id, run_id=run_id)]
    expected = {event.stream: 0 for event in new} | (at or {})
    if changes:
        expected[batch[-1].stream] = version
    try:
        stored = events.append(batch, expected_versions=expected)
    except ConcurrencyError:
        _VALUED.forget(events, name, account_id)
        state = _one_by_one(
            events, desk, account, config, occasion=occasion, week_id=week_id, run_id=run_id, at_last_close=at_last
        )
    else:
        appended(events, account_id, stored)  # the breaker's head as the append left it: not read back
        _VALUED.keep(events, name, account_id, observed, ours, fills)
        keep_replaced(events, run_id, [fill for fill, _ in found])  # filled through a replacement: said by the run
        keep_overfilled(events, run_id, new)  # filled beyond what was sent: said by the run
        record_order_ends(events, desk.broker, observed, run_id=run_id)  # after their fills, as record_new_fills does
    if state.halted:
        cancel_opening_orders(events, desk.broker, account.positions, state.reason, week_id=week_id, run_id=run_id)


class _Valued:
    """What the last valuation of each broker's account made of its look, when the look had a version
    (fills.Observed): llmtrade's own fills among the broker's, and that every fill not still working was then in
    the audit log (its new ones were just appended with the valuation). A later look with the same version lists
    the same fills and working orders, and the audit log only grows, so neither needs working out again for the
    same ids planned. A broker without a version (any remote one) is worked out at every valuation. Kept per store:
    what a draft appended is in no other store."""

    def __init__(self) -> None:
        self._kept: PerStore[_Seen] = PerStore()

    def get(
        self, events: EventStore, broker: str, account_id: str, observed: Observed, ours: frozenset[str]
    ) -> Sequence[Fill] | None:
        """The account's own fills (shared: not to be changed) when this look is the last valuation's, else None."""
        if observed.version is None:
            return None
        kept = self._kept.get(events, (broker, account_id))
        if kept is None or kept[0] != observed.version or not (kept[1] is ours or kept[1] == ours):
            return None
        return kept[2]

    def keep(
        self,
        events: EventStore,
        broker: str,
        account_id: str,
        observed: Observed,
        ours: frozenset[str],
        fills: Sequence[Fill],
    ) -> None:
        if observed.version is None:
            return
        self._kept.put(events, (broker, account_id), (observed.version, ours, fills))

    def forget(self, events: EventStore, broker: str, account_id: str) -> None:
        self._kept.pop(events, (broker, account_id))


# (the look's version, the ids planned then, the account's own fills)
_Seen = tuple[Hashable, frozenset[str], Sequence[Fill]]
_VALUED = _Valued()


def _one_by_one(
    events: EventStore,
    desk: Desk,
    account: AccountSnapshot,
    config: Config,
    *,
    occasion: str,
    week_id: date,
    run_id: str | None,
    at_last_close: Mapping[str, date],
) -> BreakerState:
    """The valuation written record by record, each once whoever else is writing it; the breaker's state."""
    observed = observe(desk.broker)
    ours = our_order_ids(events, account.account_id)
    record_new_fills(events, desk.broker, week_id=week_id, run_id=run_id, observed=observed)
    reset = reset_found(events, desk, account.account_id, account.equity, observed, named=account.broker_account)
    # Once per occasion.
    record_valuation(events, account, occasion=occasion, week_id=week_id, run_id=run_id, at_last_close=at_last_close)
    return evaluate_breaker(
        events,
        account.account_id,
        starting_equity=desk.account.starting_cash,
        equity=account.equity,
        fills=view_of(desk.broker.name, account.account_id, observed.fills).ours(ours),
        config=config.risk.circuit_breaker,
        week_id=week_id,
        run_id=run_id,
        reset=reset,
    )


def marked_at(account: AccountSnapshot, closes: Mapping[str, Bar]) -> tuple[AccountSnapshot, dict[str, date]]:
    """`account` with each symbol it holds at cost (`at_cost`) that `closes` has (symbol -> its last bar, its prices
    having ended) valued at that bar's close, as the leaderboard marks it: equity and unrealised P/L in USD; and those
    symbols, with their close's day. Buying power is left as the broker gave it: nothing is sized off these closes."""
    marked = {s: bar for s, bar in closes.items() if s in account.at_cost and account.positions.get(s) is not None}
    marked = {s: bar for s, bar in marked.items() if account.positions[s].qty}
    if not marked:
        return account, {}
    change = sum(account.positions[s].qty * (bar.close - account.positions[s].avg_price) for s, bar in marked.items())
    unrealized = None if account.unrealized_pnl is None else round(account.unrealized_pnl + change, 2)
    update = {
        "equity": round(account.equity + change, 2),
        "unrealized_pnl": unrealized,
        "at_cost": [s for s in account.at_cost if s not in marked],
    }
    return account.model_copy(update=update), {s: bar.day for s, bar in marked.items()}
