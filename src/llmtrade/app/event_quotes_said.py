"""An account's instrument without a price now, at run-due's look for a move (app/event_checkpoints.py): said once.

Each wake-up in session asks for the price of every account's instrument; one that has none (a symbol halted, its
quotes stale from then on; an intraday file that cannot be read) was warned at every wake-up, so cron mailed a line
every five minutes to the close, each naming its own time (no two alike). Now it is recorded when said
(EventQuoteFailureSaid on the account's own stream, appended at the version read), said again only for another
instrument of the account, and its end -- a later wake-up having a price -- said once too. Between, a run-due without
--quiet still says it lasts, with that wake-up's reason.
"""

from __future__ import annotations

from llmtrade.app.container import Container
from llmtrade.domain.checkpoints import EventQuoteFailureSaid
from llmtrade.domain.streams import event_quotes_stream
from llmtrade.domain.wording import market_time
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.head_append import append_after


def say_no_price(app: Container, events: EventStore, account_id: str, symbol: str, error: str) -> None:
    """`account_id`'s instrument `symbol` has no price now (`error`): warned unless it was said to have none since it
    last had one."""
    stream = event_quotes_stream(account_id)
    said = events.read_stream(stream)
    last = EventQuoteFailureSaid.from_event(said[-1]) if said else None
    if last is not None and last.error is not None and last.symbol == symbol:
        since = market_time(said[-1].occurred_at)
        app.say(f"{account_id}: still no price for {symbol} now, none since {since}, no event checkpoint ({error})")
        return
    recorded = EventQuoteFailureSaid(account_id=account_id, symbol=symbol, error=error)
    if append_after(events, stream, said, recorded):  # else another wake-up recorded it at the same moment: it says it
        app.warning(f"{account_id}: no price for {symbol} now, no event checkpoint ({error})")


def say_priced(app: Container, events: EventStore, account_id: str, symbol: str) -> None:
    """`account_id`'s instrument `symbol` has a price now: said once when it was said to have none."""
    stream = event_quotes_stream(account_id)
    said = events.read_stream(stream)
    last = EventQuoteFailureSaid.from_event(said[-1]) if said else None
    if last is None or last.error is None:
        return
    recorded = EventQuoteFailureSaid(account_id=account_id, symbol=symbol, error=None)
    # Another instrument's now (a new week's): the one said to have none is not the account's any more; ended unsaid.
    if append_after(events, stream, said, recorded) and last.symbol == symbol:
        since = market_time(said[-1].occurred_at)
        app.warning(f"{account_id}: {symbol} has a price again (none since {since}): event checkpoints watch it again")
