"""The local paper broker: simulated fills, a ledger kept as events, balances rebuilt from them.

Market orders fill at the next session's open when the market is closed, and at the quote at the
time of the order when it is open (QuoteSource: the quote service, whose price is never stamped after
now), or, when that quote is no price to trade at now (a symbol with daily prices only: its session's open,
Quote.tradable), at the session's close, the first price after the order; the fill's `price_source` says which
("synthetic synthetic-path", "daily open", "daily close", ...). With no current price
(MarketDataUnavailable, exit 75) the order is not taken: it is never filled at a made-up price.
Slippage moves every fill against the trader; commission is per order.

Why reads write nothing: the ledger stream (`paper:{account}`) holds what the broker was told, the
accepted orders and the cancels. A fill is a deterministic function of an accepted order, the
calendar and the opening price of its fill day (plus slippage and commission), so `account()`,
`find()`, `open_orders()` and `fills()` derive fills instead of appending them; a read that wrote
would make `status` and dry runs change the database, and two readers would race to write the same
fill. Putting fills in the audit log is a separate, explicit, idempotent write (brokers/fills.py).
An order that fills at once (submitted while the market is open) is pinned by
`submit` itself, a write, so the price recorded with the order is the one every read sees. Once a
fill is recorded (or was written to the ledger by an older version), the recorded fill
is the fact and is used as is: a later revision of the price data cannot move a booked trade, and
no price needs looking up again.

The book is a running fold of the ledger (EventStore.fold): a read folds only the ledger events new since
the last one, keeps the recorded fills in fill order with the account after them, and derives only the
fills of orders still pending (neither recorded nor canceled), so a read costs what is new and pending,
not the account's history.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from contextlib import suppress
from datetime import date, datetime

from llmtrade.brokers.fills import Observed
from llmtrade.brokers.paper_book import (
    BOOK_TYPES,
    Book,
    advance,
    broker_id,
    crossing,
    ledger_of,
    record_split_cancels,
    result,
    split_cancels,
    start_book,
)
from llmtrade.brokers.paper_expiry import Ended, expiry_reasons, past_their_day, record_expired
from llmtrade.brokers.paper_fills import PendingFills
from llmtrade.brokers.paper_opens import OpeningPrices, SessionOpens
from llmtrade.brokers.protocol import CancelAnswer
from llmtrade.clock import Clock
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.ledger import Ledger, Split, fold, with_splits
from llmtrade.domain.market import Quote
from llmtrade.domain.records import assembled
from llmtrade.domain.streams import fill_stream, ledger_stream
from llmtrade.domain.trading import (
    AccountSnapshot,
    BrokerOrder,
    Fill,
    Order,
    OrderFilled,
    OrderResult,
    OrderStatus,
    PaperOrderAccepted,
    PaperOrderCanceled,
)
from llmtrade.errors import ConcurrencyError
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.quote_provider import QuoteSource
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits

_SNAPSHOT_FIELDS = frozenset(AccountSnapshot.model_fields)


class PaperBroker:
    name = "paper"
    settles_at_price = True  # its books are llmtrade's own: a position whose prices ended may be closed by `settle`
    records_own_ends = True  # a split's cancel: `record_canceled`; the breaker's: cancel_opening_orders

    def __init__(
        self,
        account_id: str,
        *,
        starting_cash: float,
        events: EventStore,
        clock: Clock,
        calendar: TradingCalendar,
        prices: OpeningPrices,
        slippage_bps: float = 5.0,
        commission_per_order: float = 0.0,
        shortable: frozenset[str] | None = None,
        quotes: QuoteSource | None = None,
        ended: Ended | None = None,
    ):
        self.account_id = account_id
        self.starting_cash = starting_cash
        self._events = events
        self._clock = clock
        self._calendar = calendar
        self._shortable = shortable
        # None: in-session orders fill at the session's open (the daily-bar behaviour older ledgers used).
        self._quotes = quotes
        # Why a symbol's prices will not come by waiting, or None (market/held_prices.py `prices_ended`): an order
        # whose open never comes is expired (`record_canceled`). None: orders wait for their price as long as it takes.
        self._ended = ended
        self._opens = SessionOpens(prices)
        self._pending_fills = PendingFills(account_id, slippage=slippage_bps / 10_000, commission=commission_per_order)
        self._ledger = ledger_stream(account_id)
        # The ledger with the splits recorded folded in, for the look it was made for (the book, the fills derived on
        # it, the splits): a split touches every fill after it, so the book's running fold of fills cannot carry it.
        self._split_ledger: tuple[tuple[object, ...], Ledger] | None = None

    # ------------------------------------------------------------------ Broker

    def account(self, prices: Mapping[str, float]) -> AccountSnapshot:
        book = self._book()
        derived, splits = self._derived(book)
        return self._account(book, self._in_fill_order(book, derived), prices, splits)

    def look_at(self, prices: Mapping[str, float]) -> tuple[AccountSnapshot, Observed]:
        """`account(prices)`, then what `fills.observe` reads (open orders, fills), from one read of the book at one
        instant: each of the three reads folded the ledger and derived the pending fills again. `version` names the
        look (the book, which is never changed, and the fills derived on it): an equal version is the same account,
        orders and fills, whatever the prices (brokers/fills.py `look_at`). A read: writes nothing."""
        book = self._book()
        derived, splits = self._derived(book)
        ordered = self._in_fill_order(book, derived)
        account = self._account(book, ordered, prices, splits)
        orders = tuple(self._open(book, derived, splits))
        observed = Observed(
            # Nothing derived (most looks): the book's own tuple of recorded fills, the very object the last look
            # handed out while no fill is recorded, so what is carried from look to look (fill_view, the breaker's
            # trades) knows it by identity instead of comparing the account's every fill again.
            fills=book.booked_fills if not ordered else self._sorted_fills(book, ordered),
            working=frozenset(o.client_order_id for o in orders),
            orders=orders,
            version=(book.serial, tuple(f for _, f in ordered)),
        )
        return account, observed

    @staticmethod
    def _in_fill_order(book: Book, derived: Mapping[str, Fill]) -> list[tuple[tuple[datetime, int], Fill]]:
        return sorted(((f.filled_at, book.rank[cid]), f) for cid, f in derived.items())

    def _account(
        self,
        book: Book,
        derived: list[tuple[tuple[datetime, int], Fill]],
        prices: Mapping[str, float],
        splits: tuple[Split, ...],
    ) -> AccountSnapshot:
        """The account from `book` and its `derived` fills (in fill order) through `splits`, valued at `prices`."""
        if splits:
            ledger = self._with_splits(book, derived, splits)
        elif book.folding is not None and not derived:
            ledger = ledger_of(book.folding)  # the usual look: nothing pending has filled, the recorded fold is all
        elif book.folding is not None and (not book.booked or derived[0][0] > book.booked[-1][0]):
            # What is derived fills after everything recorded, so the recorded fills' running fold carries on over
            # it (the same sums in the same order as a fold of every fill).
            ledger = book.folding.advance(f for _, f in derived).ledger()
        else:
            ledger = fold(self._sorted_fills(book, derived), self.starting_cash)
        positions = ledger.positions
        marks = {s: prices.get(s, p.avg_price) for s, p in positions.items()}
        exposure = sum(abs(p.qty) * marks[s] for s, p in positions.items())
        equity = ledger.cash + sum(p.qty * marks[s] for s, p in positions.items())
        unrealized = sum(p.qty * (marks[s] - p.avg_price) for s, p in positions.items())
        # Every value already has its field's type (floats made floats as validation would, the ledger's own validated
        # positions, copied as validation copies a dict): built as validation would build it, without checking again.
        values = {
            "account_id": self.account_id,
            "cash": float(round(ledger.cash, 2)),
            "equity": float(round(equity, 2)),
            "buying_power": float(round(max(0.0, equity - exposure), 2)),
            "positions": dict(positions),
            "realized_pnl": float(round(ledger.realized_pnl, 2)),
            "unrealized_pnl": float(round(unrealized, 2)),
            "at_cost": sorted(s for s, p in positions.items() if p.qty and s not in prices),
            "fractions": {},  # the paper broker holds whole shares only
            "broker_pnl": {},  # it holds only what `prices` (or the cost) values
            "broker_account": None,  # its books are events here: no account elsewhere to name
        }
        if type(self.account_id) is not str:
            return AccountSnapshot(**values)
        return assembled(AccountSnapshot, values, set(_SNAPSHOT_FIELDS))

    def _with_splits(
        self, book: Book, derived: list[tuple[tuple[datetime, int], Fill]], splits: tuple[Split, ...]
    ) -> Ledger:
        """The account's every fill with the splits merged in by time (domain/ledger.py), once per look that differs."""
        key = (book.serial, tuple(id(f) for _, f in derived), splits)
        if self._split_ledger is None or self._split_ledger[0] != key:
            self._split_ledger = (key, fold(with_splits(self._sorted_fills(book, derived), splits), self.starting_cash))
        return self._split_ledger[1]

    def submit(self, order: Order) -> OrderResult:
        return self._take(order, None)

    def settle(self, order: Order, quote: Quote) -> OrderResult:
        """Fill `order` now at `quote`, in session or not: a symbol whose prices ended has no open to queue for."""
        return self._take(order, quote)

    def _take(self, order: Order, settled_at: Quote | None) -> OrderResult:
        book = self._book()
        if order.client_order_id not in book.accepted:
            now = self._clock.now()
            if settled_at is not None:
                accepted = PaperOrderAccepted(order=order, fill_after=now, quote=settled_at)
            elif self._calendar.is_open(now):
                # The price now, taken before the order is: MarketDataUnavailable leaves it untaken (a rerun sends it).
                quote = self._quotes.quote(order.symbol, now) if self._quotes is not None else None
                closes = self._calendar.session_close(new_york_date(now))
                later = self._clock.now()
                if later >= closes:
                    # The session closed while its price was asked (the provider's answer took that long): the order is
                    # taken after the close, and fills at the next open as any order taken then. Filled at a print of
                    # before the close, its fill was stamped before its order's record, or past the close.
                    accepted = PaperOrderAccepted(order=order, fill_after=self._calendar.next_open(later))
                elif quote is None or quote.tradable:
                    # Filled once the price is in hand, at the clock read then: on the machine's clock the quote
                    # service takes a print stamped after `now` (the provider answering takes time), and the fill
                    # was stamped before the print it was priced at. Nor before the print itself: one stamped by a
                    # provider's clock a few seconds ahead of ours is taken (LIVE_SLACK), and a fill at our clock was
                    # stamped before the trade it used. A chosen clock reads the same instant again and takes no print
                    # after it. Never past the session's close, after which no print is taken (market/quotes.py).
                    # Nor before the order's own record, stamped by the store after this (paper_fills.py `of`).
                    filled = min(max(now, later, quote.as_of), closes) if quote is not None else now
                    accepted = PaperOrderAccepted(order=order, fill_after=filled, quote=quote)
                else:  # the session's open, all a symbol with daily prices only has: the next price is its close
                    accepted = PaperOrderAccepted(order=order, fill_after=closes, at_close=True)
            else:
                accepted = PaperOrderAccepted(order=order, fill_after=self._calendar.next_open(now))
            # At the head we read: two processes submitting the same id cannot both append it. If someone
            # appended first and it was this order, the lookup below finds it.
            with suppress(ConcurrencyError):
                self._append(accepted, order.week_id, expected=book.version)
        book = self._book()
        if order.client_order_id not in book.accepted:
            # The ledger moved under us with other orders: try again from its new head.
            return self._take(order, settled_at)
        derived, splits = self._derived(book)
        if order.client_order_id in derived:
            # Filled at once (the market is open): submit is a write, so the fill is pinned now. The
            # price the caller records with the order is then the price every later read sees, even
            # if the data feed answers differently or not at all afterwards.
            self._pin(derived[order.client_order_id], order.week_id)
        return result(book, order.client_order_id, derived, splits)  # idempotent: a rerun gets the same order

    def find(self, client_order_id: str) -> OrderResult | None:
        book = self._book()
        if client_order_id not in book.accepted:
            return None
        return result(book, client_order_id, *self._derived(book))

    def open_orders(self) -> list[BrokerOrder]:
        """Orders accepted, neither filled nor canceled: queued for their fill time or for its price."""
        book = self._book()
        return self._open(book, *self._derived(book))

    def _open(self, book: Book, derived: Mapping[str, Fill], splits: tuple[Split, ...]) -> list[BrokerOrder]:
        return [
            BrokerOrder(
                client_order_id=cid,
                symbol=a.order.symbol,
                side=a.order.side,
                qty=a.order.qty,
                status=OrderStatus.ACCEPTED,
                broker_order_id=broker_id(cid),
                submitted_at=book.accepted_at[cid],
            )
            for cid, a in ((cid, book.accepted[cid]) for cid in book.pending)
            if cid not in derived and not (splits and crossing(book, cid, splits))
        ]

    def fills(self, since: datetime | None = None) -> list[Fill]:
        book = self._book()
        fills = self._sorted_fills(book, self._in_fill_order(book, self._derived(book)[0]))
        return fills if since is None else [f for f in fills if f.filled_at >= since]

    @staticmethod
    def _sorted_fills(book: Book, derived: list[tuple[tuple[datetime, int], Fill]]) -> list[Fill]:
        """Every fill in fill order: by fill time, then by acceptance (orders queued for one open fill in
        the order sent). `derived` is sorted the same way; booked fills already are."""
        if not derived:
            return list(book.booked_fills)
        if not book.booked or derived[0][0] > book.booked[-1][0]:
            return [*book.booked_fills, *(f for _, f in derived)]  # the usual case: what is derived fills last
        return [f for _, f in heapq.merge(book.booked, derived, key=lambda kf: kf[0])]

    def cancel(self, client_order_id: str) -> CancelAnswer | None:
        """Cancel a queued order before its fill time; after it, the order has filled (or will, once its
        opening price is known), so the cancel comes too late and the order's state is returned, not asked."""
        book = self._book()
        if client_order_id not in book.accepted:
            return None
        derived, splits = self._derived(book)
        pending = book.accepted[client_order_id]
        now = self._clock.now()
        if client_order_id in book.pending and client_order_id not in derived and now < pending.fill_after:
            canceled = PaperOrderCanceled(client_order_id=client_order_id, canceled_at=now)
            try:
                self._append(canceled, pending.order.week_id, expected=book.version)
            except ConcurrencyError:
                return self.cancel(client_order_id)  # the ledger moved: decide again on what it says now
            found = self.find(client_order_id)
            return None if found is None else CancelAnswer(found, asked=True)
        return CancelAnswer(result(book, client_order_id, derived, splits), asked=False)

    def record_canceled(self, *, run_id: str | None) -> list[str]:
        """Record, once, each queued order a split cancels (paper_book.py `split_cancels`; a read only derives it) and
        each one expired because its price will never come (`_expired`). A write, made where a job records the
        account's fills (brokers/fills.py) and before a job looks for orders still queued; a rerun writes nothing. The
        ids canceled now (paper_book.py `record_split_cancels`: when another writer got there first)."""
        splits = recorded_splits(self._events)
        canceled = []
        if splits:  # the usual call: no split, nothing to look at
            canceled = record_split_cancels(
                self._events,
                self._book,
                lambda book: split_cancels(book, self.account_id, splits, self._clock.now(), run_id),
            )
        return canceled + self._expired(run_id)

    def _expired(self, run_id: str | None) -> list[str]:
        """Expire, once, each queued order that can never fill (brokers/paper_expiry.py); the ids expired now."""
        if self._ended is None:
            return []
        book, now = self._book(), self._clock.now()
        stuck = past_their_day(book, self._calendar, now)
        if not stuck:
            return []  # the usual call: every order queued is for a session not over yet
        reasons = expiry_reasons(book, stuck, *self._derived(book), self._ended, now)
        return record_expired(self._events, self._book, self.account_id, reasons, now, run_id) if reasons else []

    def is_shortable(self, symbol: str) -> bool:
        return self._shortable is None or symbol in self._shortable

    # ------------------------------------------------------------------ internals

    def _book(self) -> Book:
        # One memoised fold of the ledger stream and this account's OrderFilled events (on fill streams).
        return self._events.fold(
            ("paper-book", self.name, self.starting_cash),
            account_id=self.account_id,
            types=BOOK_TYPES,
            start=start_book(self.starting_cash),
            step=self._step,
        )

    def _step(self, book: Book, new: list[StoredEvent]) -> Book:
        return advance(book, new, self._events, self._ledger, self.name)

    def _derived(self, book: Book) -> tuple[dict[str, Fill], tuple[Split, ...]]:
        """The fills of the pending orders whose time has come and whose price is known, by order, and the splits
        recorded, read once for the look: again only if it asked the market for an opening price, which records the
        split an open gapped by (market/service.py `confirm_splits`), so the rest of the look cancels the order."""
        splits = recorded_splits(self._events)
        asked = self._opens.asked
        now = self._clock.now()
        fills: dict[str, Fill] = {}
        self._pending_fills.keep_only(book.pending)
        for cid in book.pending:
            pending = book.accepted[cid]
            # One priced at a quote in hand fills at once: its stamp is the print's, which a provider's clock a few
            # seconds ahead of ours puts after our `now` (`_take`), and the order is no less filled for it.
            due = pending.fill_after <= now or pending.quote is not None
            if due and not (splits and crossing(book, cid, splits)):
                fill = self._pending_fills.of(pending, book.accepted_at[cid], splits, self._opens)
                if fill is not None:
                    fills[cid] = fill
        return fills, (splits if self._opens.asked == asked else recorded_splits(self._events))

    def _append(self, payload: PaperOrderAccepted | PaperOrderCanceled, week_id: date, *, expected: int) -> None:
        stream = ledger_stream(self.account_id)
        self._events.append(
            [NewEvent.of(payload, stream=stream, week_id=week_id, account_id=self.account_id)],
            expected_versions={stream: expected},
        )

    def _pin(self, fill: Fill, week_id: date) -> None:
        """Record `fill` once, on its own write-once stream (as brokers/fills.py does)."""
        stream = fill_stream(self.account_id, fill.client_order_id)
        with suppress(ConcurrencyError):  # another process pinned it first: same order, same fill
            self._events.append(
                [
                    NewEvent.of(
                        OrderFilled(fill=fill, broker=self.name),
                        stream=stream,
                        week_id=week_id,
                        account_id=self.account_id,
                    )
                ],
                expected_versions={stream: 0},
            )
