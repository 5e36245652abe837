"""An order of llmtrade's that filled more shares than llmtrade sent it for: recorded once with its fill, and said.

Alpaca gives the replacement of a part filled order (a person's "edit" in its dashboard, PATCH /v2/orders/{id}) the
quantity the request names, or else the old order's whole quantity, not what was left to fill: a sell of 10 that
filled 4, replaced with its 10 (a new limit price, say), sells 10 more, 14 in all (alpacahq/Alpaca-API #165, open;
https://docs.alpaca.markets/reference/patchorderbyorderid-1: each order reports its own fills, none carried). The
adapter folds the chain into the plan's order (brokers/alpaca_chains.py) and its 14 are booked as the order's fill,
which is what happened; but the run said only that the order was replaced outside llmtrade, so a user found the
account short 4 (or over-long, for a buy) with no word of it.

A single order its broker reports filled beyond its quantity (a malformed answer: Alpaca's filled_qty past the order's
qty) was booked so too, silently. So where a fill is booked (brokers/fills.py `new_fill_events`), a fill of more
shares than the order's OrderSubmitted sent, replaced or not, is recorded as OrderOverfilled in the same write as the
fill (once, whoever books it: a crash cannot leave the fill booked and the excess unsaid), said as a warning by the
run that recorded it (`overfilled_notes`), and alerted once (alerts/incidents.py). Nothing is sent to correct it: no
order leaves llmtrade without the risk gate, and the next plan starts from what the account holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from fractions import Fraction

from llmtrade.brokers.per_store import RunNotes
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import Split
from llmtrade.domain.streams import overfill_stream
from llmtrade.domain.trading import Fill, Order, OrderOverfilled, Side
from llmtrade.market.calendar import NEW_YORK
from llmtrade.storage.event_store import EventStore

# run_id -> a line per order that run recorded as overfilled, in this process: what `overfilled_notes` says.
_NOTES = RunNotes()


def overfill_event(
    order: Order | None,
    fill: Fill,
    *,
    broker: str,
    week_id: date | None,
    run_id: str | None,
    splits: Callable[[], Sequence[Split]] = tuple,
    sent_at: datetime | None = None,
) -> NewEvent | None:
    """The OrderOverfilled of `fill`, to go with its OrderFilled (its own write-once stream, at version 0), when it is
    more shares than `order` (the order as llmtrade sent it; None when no OrderSubmitted names it) was sent for, in the
    shares of the splits recorded since it was sent (`splits`, read only for a fill of another qty: `scaled_qty`;
    `sent_at`: when it was sent, `OrderSubmitted.sent_at`, None when not known)."""
    if order is None or fill.shares() == order.qty:
        return None
    # Read for a fill of another number of shares only: 5 of 10 sent scaled to 2 at a 1-for-5 is 3 too many.
    recorded = splits()
    meant = scaled_qty(order, fill, recorded, sent_at)
    if fill.shares() <= meant:
        return None
    filled = format(fill.shares().normalize(), "f")
    said = OrderOverfilled(
        account_id=order.account_id,
        client_order_id=order.client_order_id,
        broker=broker,
        symbol=order.symbol,
        side=order.side,
        meant=order.qty,
        filled=filled,
        note=_note(order, fill, broker, filled, _said_qty(order, meant, fill.filled_at, recorded, sent_at)),
        # Said by the alert as the run says it: "56 of 40 filled, 10 sent before the 4-for-1 split", not "56 of 10".
        part="" if meant == order.qty else part_filled(order, filled, fill.filled_at, recorded, sent_at),
    )
    stream = overfill_stream(order.account_id, order.client_order_id)
    return NewEvent.of(said, stream=stream, week_id=week_id, account_id=order.account_id, run_id=run_id)


def scaled_qty(order: Order, fill: Fill, splits: Sequence[Split], sent_at: datetime | None = None) -> Fraction:
    """`order`'s qty in the shares its `fill` is in: times each recorded split of its symbol whose ex-day came after the
    order's week began and no later than the fill. Alpaca scales an open order's qty at a split (alpacahq/alpaca-py
    #469): an order queued over the ex-day's midnight (sent in the evening for the next open) fills 40 for the 10 sent
    at a 4-for-1, which is the order, not 30 more shares than the plan meant (an alert, and the user told to trade them
    back). One sent after the split (`sent_at`, when known: `open_at`) was sized in the new shares and is not scaled
    (`scales`): replaced by hand with its qty times the split's ratio, its 40 were let pass unsaid."""
    return qty_at(order, fill.filled_at, splits, sent_at)


def qty_at(order: Order, until: datetime, splits: Sequence[Split], sent_at: datetime | None = None) -> Fraction:
    """`order`'s qty in the shares of `until` (`scaled_qty`'s rule: each recorded split of its symbol that `scales` it
    by `until`). The one scaling of every reading of an order's size against what its broker reports (the overfill
    here, the end of an order filled short in brokers/order_ends.py)."""
    qty = Fraction(order.qty)
    for split in splits:
        if scales(split, order, until, sent_at):
            qty *= split.ratio
    return qty


def scales(split: Split, order: Order, until: datetime, sent_at: datetime | None = None) -> bool:
    """Whether `split` may have scaled `order` by `until`: of its symbol, by `until`, and the order perhaps open at it
    (`open_at`; `sent_at`: `OrderSubmitted.sent_at`, or Alpaca's submitted_at). Alpaca scales only an order open at the
    split (alpacahq/alpaca-py #469): one sent after it was sized in the new shares (2 of 10 bought after a 1-for-5 were
    read as the order whole, its end never recorded). When it is not known when the order was sent, any split after its
    week began (a week's orders are sent in it). Alpaca knows no week of llmtrade's: an order known sent before its
    week began (queued on a Friday evening for Monday's open) is scaled by a split it was open at all the same."""
    if split.symbol != order.symbol or split.at > until:
        return False
    if sent_at is None:
        return datetime.combine(order.week_id, time(), tzinfo=NEW_YORK) < split.at
    return open_at(split, sent_at)


def open_at(split: Split, sent_at: datetime) -> bool:
    """Whether an order sent at `sent_at` may have been open at `split`: sent before its ex-day's midnight (`at`), yes;
    on or after the midnight of the last session it may have come on (`latest`, or the ex-day when certain), no, it was
    sized in the new shares; in between (an ex-day uncertain, the split perhaps not come yet) only if the split was
    recorded at or after the order was sent (`known_at`: llmtrade records a split once its broker applied it). Read
    by when it was recorded alone, a split recorded days late (a provider's restated history) was taken as having
    scaled orders sent after its ex-day: a buy of 10 sent the day after a 1-for-5, 4 filled, was said filled whole
    (the 2 it never was). One instant for both (a fixed clock stamps them so) cannot tell, and counts."""
    if sent_at < split.at:
        return True
    if sent_at >= datetime.combine(split.latest or split.at.date(), time(), tzinfo=NEW_YORK):
        return False
    return split.known_at is None or split.known_at >= sent_at


def part_filled(
    order: Order, filled: int | str, until: datetime, splits: Sequence[Split], sent_at: datetime | None = None
) -> str:
    """How much of `order` its `filled` shares are, in the shares of `until` (`qty_at`): "4 of 10 filled", or, across a
    split recorded since it was sent, its new size with the qty sent named: "1 of 2 filled, 10 sent before the 1-for-5
    split". Said against the qty as sent, 1 Alpaca filled of an order it scaled to 2 read "1 of 10 filled"."""
    meant = qty_at(order, until, splits, sent_at)
    if meant == order.qty:
        return _of(filled, order.qty)
    named = ", ".join(s.named() for s in splits if scales(s, order, until, sent_at))
    # Alpaca keeps whole shares of an order it scales, the fraction rounded away (10 at a 1-for-3 is 3).
    return f"{filled} of {int(meant)} filled, {order.qty} sent before the {named} split"


def overfill_part(over: OrderOverfilled) -> str:
    """How much of its order an overfill's fill is, as `part_filled` said it when it was recorded (its `part`: "56 of
    40 filled, 10 sent before the 4-for-1 split"), or "14 of 10 filled" when no split came between (or for one recorded
    before `part` was)."""
    return over.part or _of(over.filled, over.meant)


def _of(filled: int | str, qty: int) -> str:
    return f"{filled} of {qty} filled"


def filled_whole(filled: int | Fraction, meant: Fraction) -> bool:
    """Whether `filled` shares are the whole of an order `meant` for that many (`qty_at`): a split's scaling may leave a
    fraction of a share the broker rounds away (10 at a 1-for-3 is an order for 3), so within a share below it."""
    return filled > meant - 1


def _said_qty(
    order: Order, meant: Fraction, until: datetime, splits: Sequence[Split], sent_at: datetime | None
) -> tuple[int, str]:
    """The whole shares `order` was for in its fill's shares (`meant`: Alpaca rounds a split's fraction away) and how
    they are said: "10 llmtrade sent it for", or across a split recorded since it was sent "40 it was for in the
    shares of the 4-for-1 split (10 sent before it)"."""
    if meant == order.qty:
        return order.qty, f"{order.qty} llmtrade sent it for"
    named = ", ".join(s.named() for s in splits if scales(s, order, until, sent_at))
    return int(meant), f"{int(meant)} it was for in the shares of the {named} split ({order.qty} sent before it)"


def _note(order: Order, fill: Fill, broker: str, filled: str, meant: tuple[int, str]) -> str:
    # The excess in the fill's shares: 56 sold of 10 sent scaled to 40 at a 4-for-1 are 16 too many, not 46.
    extra = format((fill.shares() - meant[0]).normalize(), "f")
    done = "bought" if order.side is Side.BUY else "sold"
    how = (
        (
            f"it was replaced outside llmtrade by order {fill.replaced_by}, and {broker} gave the replacement a "
            "quantity of its own, not what was left after the shares filled before it (alpacahq/Alpaca-API #165), so "
            "the order and its replacement(s) filled more than the order"
        )
        if fill.replaced_by
        # Never replaced: an answer no broker should give (Alpaca's filled_qty past the order's qty). Taken as the
        # account's trades, as the broker's positions will show them, and said rather than booked without a word.
        else _unrecorded_split(order, fill, broker, filled)
        if meant[0] == order.qty
        else f"{broker} reported more shares filled than the order was for, an answer it should never give"
    )
    return (
        f"order {order.intent} {order.side.value} {order.qty} {order.symbol} ({order.client_order_id}) filled "
        f"{filled} shares at {broker}, more than the {meant[1]}: {how}. The {filled} are "
        f"booked as the order's fill (what happened at {broker}): {extra} more shares {done} than the plan meant, "
        f"so the account's {order.symbol} position now differs from its plan. Nothing is sent to correct it (no "
        f"order goes out without the risk gate): look at {order.symbol} in the account in {broker}'s dashboard and "
        f"trade the {extra} shares back by hand if they are not wanted, or leave them to the next weekly plan, "
        "which starts from what the account holds"
    )


def _unrecorded_split(order: Order, fill: Fill, broker: str, filled: str) -> str:
    """Why an order never replaced filled more shares than sent, with no split recorded since it was sent: Alpaca's
    filled_qty is never past its own order's qty, but it scales an open order's qty itself at a split
    (alpacahq/alpaca-py #469). A buy of 10 queued over a 4-for-1 fills 40, and a look may book them before the split
    is recorded (bought from flat, no position shows it): said as "an answer it should never give", the user was told
    to trade 30 shares back, the plan's 10 in the new shares. Written once, with the fill: it names the split it may
    be."""
    said = f"{broker} reported more shares filled than the order was for"
    ratio = Fraction(fill.shares()) / order.qty
    if ratio.denominator > 5:  # no split's ratio (3-for-2, 5-for-4, 4-for-1 ...): 13 of 10 is no split's doing
        return f"{said}, an answer it should never give"
    return (
        f"{said}: it fills no order past its qty, but it scales an open order's qty itself at a split "
        f"(alpacahq/alpaca-py #469), the {filled} are the {order.qty} sent at a {ratio.numerator}-for-"
        f"{ratio.denominator} split's ratio, and no split of {order.symbol} is recorded (yet). If {order.symbol} "
        f"split so before the order filled, they are the plan's {order.qty} in the new shares, nothing to trade "
        "back (the split is recorded when a look sees it, and the books apply it)"
    )


def keep_overfilled(events: EventStore, run_id: str | None, appended: Sequence[NewEvent]) -> None:
    """Keep, for `overfilled_notes`, a line per OrderOverfilled among `appended` (just stored by run `run_id`)."""
    kind = OrderOverfilled.event_type()
    lines = tuple(f"account {e.payload['account_id']}'s {e.payload['note']}" for e in appended if e.type == kind)
    _NOTES.add(events, run_id, lines)


def overfilled_notes(events: EventStore, run_id: str) -> list[str]:
    """One line per order run `run_id` recorded (in this process) as filled beyond what llmtrade sent it for: said by
    the run as a warning (the trade happened; the position differs from the plan). Reads nothing."""
    return _NOTES.said(events, run_id)
