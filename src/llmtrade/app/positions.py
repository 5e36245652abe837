"""What llmtrade manages at each account's broker: list, adopt a position made by hand, release one.

llmtrade trades only what it opened and what the user adopted (domain/reconciliation.py). `adopt`
hands it the shares of a symbol it holds at the broker but does not manage (all of them, signed);
`release` takes back every share of a symbol it manages, which also clears a ledger quantity the
broker no longer holds. Both are events on the account's `managed:` stream, appended at the version
read, so two hands at once cannot both adopt the same shares. Listing is a read: it writes nothing.

Between a session's close and the minute its bar is final at a provider (market/held_prices.py `bars_or_before`)
listing and releasing look at the broker at the session before's closes, as `status` values, since neither records a
price; adopting is refused (exit 75) until the close is final, since the close it records is where llmtrade's gains
and losses on the shares start: the session before's would hand it the day's move, made before it held them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from llmtrade.app.clock_guard import refuse_wrong_clock
from llmtrade.app.container import Container
from llmtrade.app.orphaned_positions import orphan_line, orphaned_holdings
from llmtrade.app.position_results import ManagedAccount, ManagedAccounts, PositionChange
from llmtrade.app.results import DifferenceLine
from llmtrade.app.status_prices import universe_unpriced
from llmtrade.app.week_mode import as_books_priced
from llmtrade.brokers.reconcile import Reconciliation, look_now
from llmtrade.config.models import BENCHMARK
from llmtrade.discovery.universe import held_outside, in_play
from llmtrade.domain.events import NewEvent
from llmtrade.domain.reconciliation import PositionAdopted, PositionReleased, managed_qty
from llmtrade.domain.streams import managed_stream
from llmtrade.errors import BarNotComplete, ConcurrencyError, LlmtradeError, TemporaryError, UsageError
from llmtrade.market.held_prices import HELD_SESSIONS, not_final, readable_bars_or_before
from llmtrade.storage.event_store import EventStore


def known_account(app: Container, account_id: str) -> None:
    """UsageError for an account not in accounts.yaml (saying what its books still hold, when they hold any)."""
    accounts = app.loaded.config.accounts
    if accounts.account(account_id) is None:
        # An account taken out of accounts.yaml while its books hold a position: what it holds and what to do, not
        # only "no account" (a trial's `positions list acct_4` said nothing of the short it still held).
        with app.storage(persist=False) as storage:
            held = orphaned_holdings(storage.events, {a.id for a in accounts.accounts}).get(account_id)
        if held:
            raise UsageError(orphan_line(account_id, held))
        raise UsageError.unknown(
            f"no account {account_id!r} in accounts.yaml", account_id, [a.id for a in accounts.accounts], otherwise=""
        )


@dataclass(frozen=True)
class _Look:
    """Every account reconciled now, by account id (`seen`), with the store to write to, each account's `managed:`
    stream version as it was before the look (`heads`, the version to append at), the closes it was valued at, and
    why those are the session before's (`pending`, see the module's docstring)."""

    events: EventStore
    seen: dict[str, Reconciliation]
    heads: dict[str, int]
    prices: dict[str, float]
    pending: BarNotComplete | None
    # What to say of each universe symbol held by nobody that has no price, and what the weekly run does with it
    # (app/status_prices.py `universe_unpriced`): a listing said nothing of a CSV file the weekly run stopped on.
    unpriced: Callable[[], list[str]]


@contextmanager
def _looking(app: Container, *, persist: bool) -> Iterator[_Look]:
    """Every account reconciled now (a read): see `_Look`."""
    config = app.loaded.config
    with app.storage(persist=persist) as storage:
        heads = {a.id: storage.events.stream_version(managed_stream(a.id)) for a in config.accounts.accounts}
        app = as_books_priced(app, storage.events)  # valued on the books' kind of prices
        live = app.trading_is_live(storage.events)
        market = app.market(storage, live=live, record=False)  # its price fetches are not this command's record
        held = held_outside(config, storage.events)
        errors: dict[str, LlmtradeError] = {}
        bars, missing, asof, pending = readable_bars_or_before(
            market,
            config.assets.symbols,
            held,
            app.clock.now(),
            anchor=BENCHMARK,
            sessions=HELD_SESSIONS,
            errors=errors,
        )
        prices = {s: b[-1].close for s, b in bars.items() if b}
        seen = {d.account.id: look_now(storage.events, d.broker, prices) for d in app.desks(storage, market, live=live)}
        holding = in_play(storage.events) | {s for r in seen.values() for s in r.managed.positions}

        def unpriced() -> list[str]:
            return universe_unpriced(market, config.assets.symbols, holding, missing, errors, asof)

        yield _Look(storage.events, seen, heads, prices, pending, unpriced)


def listing(app: Container, account_id: str | None = None) -> ManagedAccounts:
    """Each account's managed positions and its differences with the broker now. Writes nothing."""
    if account_id is not None:
        known_account(app, account_id)
    with _looking(app, persist=False) as found:
        if found.pending is not None:  # said as `status` says it, on stderr: the --json document is the accounts
            before = app.calendar.previous_session(found.pending.session)
            app.warning(f"valued at the close of {before}: {not_final(found.pending)}")
        for said in found.unpriced():
            app.warning(said)
        return ManagedAccounts(
            [
                ManagedAccount(
                    account_id=aid,
                    managed=list(r.managed.positions.values()),
                    broker=list(r.account.positions.values()),
                    differences=[DifferenceLine(difference=d, recorded_at=None) for d in r.differences],
                )
                for aid, r in found.seen.items()
                if account_id is None or aid == account_id
            ]
        )


def adopt(app: Container, account_id: str, symbol: str) -> PositionChange:
    """Hand llmtrade the shares of `symbol` it holds at the broker but does not manage.

    Raises UsageError for an unknown account or when every share is already managed (or none is held)."""
    known_account(app, account_id)
    symbol = symbol.upper()
    refuse_wrong_clock(app, "positions adopt")
    with _looking(app, persist=True) as look:
        found = look.seen[account_id]
        held = found.account.positions.get(symbol)
        broker_qty = held.qty if held else 0
        ledger_qty = found.ledger.qty(symbol)
        free = broker_qty - managed_qty(broker_qty, ledger_qty)
        if held is None or free == 0:
            raise UsageError(f"{account_id} holds no {symbol} at its broker that llmtrade does not manage already")
        if ledger_qty and (ledger_qty > 0) != (broker_qty > 0):
            raise UsageError(
                f"{account_id}: llmtrade's records hold {ledger_qty} {symbol} but the broker {broker_qty}; "
                f"`llmtrade positions release {account_id} {symbol}` first, then adopt"
            )
        if look.pending is not None:
            raise TemporaryError(
                f"{account_id}: adopting {symbol} records its last close as where llmtrade's gains and losses on it "
                f"start, and {not_final(look.pending)}: nothing was adopted; run it again once the close is final"
            )
        adopted = broker_qty - ledger_qty  # after this the ledger holds exactly what the broker does
        price = look.prices.get(symbol, held.avg_price)  # what the shares made before today is not the PM's
        payload = PositionAdopted(
            account_id=account_id, symbol=symbol, qty=adopted, avg_price=held.avg_price, price=price
        )
        _append(look.events, account_id, payload, look.heads[account_id])
    return PositionChange(action="adopted", account_id=account_id, symbol=symbol, qty=adopted, managed_qty=broker_qty)


def release(app: Container, account_id: str, symbol: str) -> PositionChange:
    """Take back every share of `symbol` from llmtrade: it will leave them alone from now on.

    Raises UsageError for an unknown account or a symbol llmtrade's records hold none of."""
    known_account(app, account_id)
    symbol = symbol.upper()
    refuse_wrong_clock(app, "positions release")
    with _looking(app, persist=True) as look:  # at the session before's closes too: a release records no price
        ledger_qty = look.seen[account_id].ledger.qty(symbol)
        if ledger_qty == 0:
            raise UsageError(f"llmtrade manages no {symbol} in {account_id}: nothing to release")
        _append(
            look.events,
            account_id,
            PositionReleased(account_id=account_id, symbol=symbol, qty=ledger_qty),
            look.heads[account_id],
        )
    return PositionChange(action="released", account_id=account_id, symbol=symbol, qty=ledger_qty, managed_qty=0)


def _append(events: EventStore, account_id: str, payload: PositionAdopted | PositionReleased, head: int) -> None:
    stream = managed_stream(account_id)
    event = NewEvent.of(payload, stream=stream, account_id=account_id)
    try:
        events.append([event], expected_versions={stream: head})
    except ConcurrencyError as exc:
        raise TemporaryError(
            f"{account_id}'s managed positions changed while this command ran (another adopt or release); "
            "run it again to act on what it finds then"
        ) from exc
