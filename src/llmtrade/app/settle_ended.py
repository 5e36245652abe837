"""`positions settle`: close, on the paper broker, a held position in a symbol whose prices ended.

A symbol whose daily prices ended (a CSV file no longer written, a ticker delisted) has no open for an order to fill
at: the weekly roll no longer sends a close of it (it would never fill), so nothing closed it, its cost stayed tied up
for good and it was valued at its last close everywhere; `positions release` only hands it out of llmtrade's books. A
backtest settles such a position at its last close (app/backtest_delisting.py); this is the same close for the live
books, asked for by hand: the broker fills the closing order at once at the symbol's last close, or at the price the
user gives (a cash-out), recorded as any order and fill are (OrderSubmitted on the week's orders stream, the broker's
OrderFilled), so `status`, the leaderboard and the report read it as any other close, and the account is valued after
it as execution values one after every fill (its circuit breaker sees the trade).

Only a broker whose books are llmtrade's own settles (`Broker.settles_at_price`): at Alpaca the broker holds the
position, and only a trade there closes it. The order's client_order_id is named after the symbol's last day, so a
rerun finds the order it sent and sends nothing (never twice); a settlement holds the week's lock, as the week's jobs
do, so two at once never both find no order, and none closes a position under a job sizing orders on the account.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from llmtrade.app.clock_guard import refuse_wrong_clock
from llmtrade.app.container import Container
from llmtrade.app.position_results import PositionSettled
from llmtrade.app.positions import known_account
from llmtrade.app.week_mode import as_books_priced
from llmtrade.brokers.fills import look_at
from llmtrade.brokers.order_plan import client_order_id
from llmtrade.brokers.reconcile import look, look_now
from llmtrade.config.models import BENCHMARK
from llmtrade.discovery.universe import held_outside, in_play
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import Bar, Quote
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import Fill, Order, OrderStatus, OrderSubmitted, Side
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import ConcurrencyError, LlmtradeError, OperationalError, TemporaryError, UsageError
from llmtrade.market.calendar import new_york_date
from llmtrade.market.ended_prices import ended_last_bars, held_ended, last_bars
from llmtrade.market.held_prices import closes_with_held
from llmtrade.market.service import MarketData
from llmtrade.risk.controls import trading_enabled
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.valuation import value_account
from llmtrade.workflows.weekly import week_lock

_RECORD_ATTEMPTS = 5  # a stream other jobs append to as well: a few tries, then a rerun records it
# A given price this many times the last close (or under its FAR-th) is refused without --confirm-price: acquisitions
# pay premiums of tens of percent and a failed company's holders get a fraction, while a slipped decimal point is 10x.
FAR = 3.0
INTENT = "settle"  # the client_order_id's last part: `lt-<last day's week>-<account>-<symbol>-settle`


def settle(
    app: Container, account_id: str, symbol: str, price: float | None = None, *, confirm_price: bool = False
) -> PositionSettled:
    """Close `account_id`'s managed position in `symbol`, whose prices ended, at its last close or at `price`.

    UsageError (exit 2): an unknown account, a price not above 0, `confirm_price` without a price (these three before
    the clock is checked), a broker that does not settle (Alpaca), an account llmtrade manages none of it in (asked
    before the market is), a symbol that still has prices (trade it instead), a `price` more than `FAR` times from the
    last close either way without `confirm_price`. Run again, it answers what the first run did (`earlier`) and sends
    nothing."""
    known_account(app, account_id)
    symbol = symbol.upper()
    if price is not None and not (math.isfinite(price) and price > 0):  # `--price inf` parses as a float
        raise UsageError(f"--price must be a finite number above 0, not {price:g}")
    if confirm_price and price is None:  # it confirms nothing alone: ignored, a mistyped command settled unasked
        raise UsageError(
            "--confirm-price confirms a --price far from the last close, and no --price was given: add the price "
            "(--price P --confirm-price), or leave both out to settle at the last close"
        )
    # What was typed is checked above, before the clock: it needs none, and is the cheaper to put right.
    refuse_wrong_clock(app, "positions settle")
    with app.storage() as storage:
        now = app.clock.now()
        week_id = week_id_for(new_york_date(now))
        # The week's lock, as its jobs hold it (workflows/weekly.py `week_lock`): a second settle of the same books at
        # the same moment stops (exit 75) before it looks at the broker, instead of both finding no order, both
        # closing and both recording it; a run-weekly or checkpoint sizing the week's orders on the account's cash
        # is not moved under by a settlement either.
        with week_lock(storage.conn, week_id, "positions settle", rerun=f"positions settle {account_id} {symbol}"):
            bar, fill, earlier = _settle(app, storage, account_id, symbol, price, now, week_id, confirm_price)
    return PositionSettled(
        account_id=account_id,
        symbol=symbol,
        qty=fill.qty if fill.side is Side.SELL else -fill.qty,
        client_order_id=fill.client_order_id,
        price=fill.price,
        last_day=bar.day,
        given=fill.price_source.startswith("given"),
        earlier=earlier,
    )


def _settle(
    app: Container,
    storage: Storage,
    account_id: str,
    symbol: str,
    price: float | None,
    now: datetime,
    week_id: date,
    confirm_price: bool,
) -> tuple[Bar, Fill, bool]:
    """The settlement under the week's lock: its last bar, its fill, and whether an earlier run had sent it."""
    app = as_books_priced(app, storage.events)  # the books' kind of prices, as status values them
    live = app.trading_is_live(storage.events)
    market = app.market(storage, live=live, record=False)
    [desk] = [d for d in app.desks(storage, market, live=live) if d.account.id == account_id]
    broker = desk.broker
    if not broker.settles_at_price:
        raise UsageError(
            f"{account_id} trades at {broker.name}, which holds its positions: close {symbol} there (sell it, or "
            f"wait for the broker's cash-out of a delisting); llmtrade's books follow the broker's fills"
        )
    # What was typed first, then the market: an account that holds none of the symbol is told so, not that the
    # symbol's prices go on ("trade it instead" of a position it does not have). A position closed by an earlier
    # settlement is none now either: a rerun goes on to find that order (the account had fills in the symbol).
    held_now = look_now(storage.events, broker, {}).managed.positions.get(symbol)
    if (held_now is None or held_now.qty == 0) and not any(f.symbol == symbol for f in broker.fills()):
        raise UsageError(f"llmtrade manages no {symbol} in {account_id}: nothing to settle")
    ended = ended_last_bars(market, [symbol], now).get(symbol)
    if ended is None:
        if held_now is None or held_now.qty == 0:
            raise UsageError(f"llmtrade manages no {symbol} in {account_id}: nothing to settle")
        raise UsageError(
            f"{symbol}'s prices have not ended (its feed has a recent close, or none at all): trade it instead; "
            "`positions settle` closes only a held symbol whose prices ended"
        )
    bar, _why = ended
    cid = client_order_id(week_id_for(bar.day), account_id, symbol, INTENT)
    earlier = broker.find(cid)
    if earlier is None:
        enabled, why = trading_enabled(storage.events)
        if not enabled:  # the kill switch holds every order, a bookkeeping close too (README: trading disable)
            raise UsageError(
                f"trading is disabled ({why}): no order is placed, a settlement neither; "
                "`llmtrade trading enable`, then settle"
            )
        # Asked, not assumed: an order in the symbol still open at the broker (a close queued for an open before the
        # prices were taken as ended) would sell the same shares again if its open came after all (a file only late).
        # The broker first records its own ends, as a job's look does: one whose session passed without its open is
        # expired now, not left to fill late on top of the settlement.
        for ended_now in broker.record_canceled(run_id=None):
            app.warning(f"{account_id}'s order {ended_now} was ended unfilled by {broker.name} (QueuedOrderCanceled)")
        queued = next((o for o in broker.open_orders() if o.symbol == symbol), None)
        if queued is not None:
            raise TemporaryError(
                f"{account_id}: {queued.side.value} {queued.qty} {symbol} ({queued.client_order_id}) is open at "
                f"{broker.name}: a settlement now would close what it closes once more if it filled; it fills or "
                "expires after its session (a weekly run or checkpoint records which), then settle. Nothing was sent"
            )
        held = look_now(storage.events, broker, {symbol: bar.close}).managed.positions.get(symbol)
        if held is None or held.qty == 0:
            raise UsageError(f"llmtrade manages no {symbol} in {account_id}: nothing to settle")
        if price is not None and not confirm_price:
            _refuse_far_price(symbol, price, bar)
        side, qty = (Side.SELL if held.qty > 0 else Side.BUY), abs(held.qty)
        # "last close" / "given close": the fill's price_source says where the settlement's price came from.
        quote = Quote(
            symbol=symbol, price=price or bar.close, as_of=now, provider="given" if price else "last", kind="close"
        )
        done = broker.settle(_order(cid, account_id, week_id, symbol, side, qty), quote)
    else:
        done = earlier
    fills = [f for f in broker.fills() if f.client_order_id == cid]
    fill = fills[0] if fills else None
    if done.status is not OrderStatus.FILLED or fill is None:
        raise OperationalError(f"{account_id}'s settlement {cid} of {symbol} is {done.status.value}, not filled")
    # The week it was sent and filled in (a settlement fills as it is taken), as its fill and the broker's ledger hold
    # it: a rerun after a kill may come in a later week than the run that sent it.
    order = _order(cid, account_id, week_id_for(new_york_date(fill.filled_at)), symbol, fill.side, fill.qty)
    if _record(storage.events, OrderSubmitted(order=order, broker=broker.name, result=done)):
        # Recorded now: this run sent it, or its run was killed before the record (and so before the valuation). A
        # rerun of a settlement recorded earlier values nothing again; a kill between the two leaves it to the next
        # job, which values the account before it plans any order.
        _value_after_fill(app, storage, market, desk, week_id, now)
    return bar, fill, earlier is not None


def _refuse_far_price(symbol: str, price: float, bar: Bar) -> None:
    """UsageError when `price` is more than `FAR` times the last close or less than its `FAR`th: a settlement cannot
    be undone, and a slipped decimal point (2737 for 27.37) would book a gain or a loss that never was."""
    ratio = price / bar.close
    if 1 / FAR <= ratio <= FAR:
        return
    raise UsageError(
        f"--price {price:g} is {ratio:.3g} times {symbol}'s last close {bar.close:g} ({bar.day}): a settlement cannot "
        "be undone; if that is the price paid (a cash-out), give --confirm-price too"
    )


def _value_after_fill(
    app: Container, storage: Storage, market: MarketData, desk: Desk, week_id: date, now: datetime
) -> None:
    """Value the account after the settlement's fill, as execution does after every fill (workflows/execution.py
    `revaluer`): its circuit breaker sees the trade (a cash-out under the cost is a loss; a drawdown past the limit
    halts the account and cancels its queued opening orders before their open), and the latest AccountValued (the
    metrics' equity, the drawdown alert) is the account after it. At the last closes, as `status` values it. Never at
    a made-up price: when a held symbol has no price now the valuation is left to the next job, which values the
    account before it plans any order, and said."""
    config = app.loaded.config
    events = storage.events
    account_id = desk.account.id
    later = f"{account_id} was not valued after the settlement: its next weekly run or checkpoint values it"
    try:
        prices, missing = closes_with_held(
            market, config.assets.symbols, held_outside(config, events), now, anchor=BENCHMARK
        )
    except LlmtradeError as exc:
        app.warning(f"{later} ({exc})")
        return
    ended = held_ended(market, missing, in_play(events), now)
    account, observed = look_at(desk.broker, prices)
    managed = look(events, desk.broker, account, prices, observed=observed).managed
    unpriced = [s for s in managed.at_cost if s not in ended]
    if unpriced:
        app.warning(f"{later} ({', '.join(unpriced)} without a price now)")
        return
    value_account(
        events,
        desk,
        managed,
        config,
        occasion="after fill",
        week_id=week_id,
        run_id=None,
        observed=observed,
        last_closes=last_bars(ended),
    )


def _order(cid: str, account_id: str, week_id: date, symbol: str, side: Side, qty: int) -> Order:
    return Order(
        client_order_id=cid, account_id=account_id, week_id=week_id, symbol=symbol, side=side, qty=qty, intent="close"
    )


def _record(events: EventStore, submitted: OrderSubmitted) -> bool:
    """Record the settlement's order once, on its week's orders stream: a run killed after the broker's fill and
    before this leaves it to the rerun, which finds the broker's order (`earlier`) and records it then. True when
    recorded now.

    Appended at the orders stream's version read before the look for it (ConcurrencyError otherwise, then looked for
    again): the week's lock keeps two settles apart only while they share a week, and two started on either side of
    Wednesday 00:00 New York take two weeks' locks while their order (named after the symbol's last day, recorded in
    its fill's week) is one."""
    order = submitted.order
    cid = order.client_order_id
    stream = week_stream(order.week_id, ORDERS)
    for _ in range(_RECORD_ATTEMPTS):
        version = events.stream_version(stream)
        known = events.read(type=OrderSubmitted.event_type(), account_id=order.account_id)
        if any(events.payload(OrderSubmitted, e).order.client_order_id == cid for e in known):
            return False
        new = NewEvent.of(submitted, stream=stream, week_id=order.week_id, account_id=order.account_id)
        try:
            events.append([new], expected_versions={stream: version})
        except ConcurrencyError:
            continue  # another writer took the week's orders stream first (another settle's record?): look again
        return True
    raise TemporaryError(
        f"{order.account_id}'s settlement {cid} was filled, but the week's orders stream kept moving while it was "
        f"recorded; run positions settle {order.account_id} {order.symbol} again to record it (nothing is sent again)"
    )
