"""Paper orders that can never fill: their symbol's prices ended for good.

A paper order fills at its fill day's open (brokers/paper.py). When that open never comes, because the symbol's
prices stop (its CSV file no longer written, a ticker delisted or renamed), the order stayed queued for ever: every
weekly run after waited on it (exit 75 at each wake-up, silent under -q after the first) and held back every account's
week, and each checkpoint skipped its account ("orders still queued"). A broker's day order unfilled at the close
expires (Alpaca's `expired`, recorded by brokers/order_ends.py): so does this one, once its fill day's session has
closed without its open and the daily feed says none will come (market/held_prices.py `prices_ended`: the symbol's
prices stop before the last session closed, or it has none). A price only late (today's row not written yet, a feed
not reached) is waited for as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from llmtrade.brokers.order_ends import keep_end_note
from llmtrade.brokers.paper_book import Book, cancel_events, crossing, record_split_cancels
from llmtrade.domain.ledger import Split
from llmtrade.domain.trading import Fill, OrderStatus
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.storage.event_store import EventStore

# symbol, now -> why its prices will not come by waiting, or None
Ended = Callable[[str, datetime], str | None]


def past_their_day(book: Book, calendar: TradingCalendar, now: datetime) -> list[str]:
    """The pending orders of `book` whose fill day's session has closed by `now` (client order ids): the only ones
    that may never fill. Reads nothing: most looks find none and ask the market nothing."""
    return [cid for cid in book.pending if calendar.session_close(new_york_date(book.accepted[cid].fill_after)) <= now]


def expiry_reasons(
    book: Book,
    stuck: list[str],
    derived: Mapping[str, Fill],
    splits: tuple[Split, ...],
    ended: Ended,
    now: datetime,
) -> dict[str, str]:
    """Of `stuck` (`past_their_day`), the orders neither filled (`derived`: their open is known) nor canceled by a
    split, whose symbol `ended` says gets no price by waiting: client order id -> why the order expires. Asks `ended`
    once per symbol."""
    why_of: dict[str, str | None] = {}
    reasons: dict[str, str] = {}
    for cid in stuck:
        if cid in derived or (splits and crossing(book, cid, splits)):
            continue  # it fills (its price is known), or a split cancels it
        accepted = book.accepted[cid]
        symbol = accepted.order.symbol
        if symbol not in why_of:
            why_of[symbol] = ended(symbol, now)
        why = why_of[symbol]
        if why is not None:
            day = new_york_date(accepted.fill_after)
            which = "closing" if accepted.at_close else "opening"
            reasons[cid] = f"expired unfilled: {symbol} has no {which} price on {day} and none will come ({why})"
    return reasons


def record_expired(
    events: EventStore,
    book: Callable[[], Book],
    account_id: str,
    reasons: Mapping[str, str],
    now: datetime,
    run_id: str | None,
) -> list[str]:
    """Expire, once, each order `reasons` names (`expiry_reasons`): PaperOrderCanceled on the ledger, and
    QueuedOrderCanceled 'rejected' with its reason on the order's write-once stream (never filled nor sent again), as a
    split's cancel is (paper_book.py `record_split_cancels`); kept for the run that recorded it to say
    (brokers/order_ends.py `ended_notes`). The ids expired now."""
    orders = {cid: o.order for cid, o in book().accepted.items() if cid in reasons}
    expired = record_split_cancels(
        events,
        book,
        lambda now_book: cancel_events(
            now_book,
            account_id,
            {c: r for c, r in reasons.items() if c in now_book.pending},
            OrderStatus.REJECTED,
            now,
            run_id,
        ),
    )
    for cid in expired:
        keep_end_note(events, run_id, orders[cid], reasons[cid])
    return expired
