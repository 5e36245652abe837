"""The books as the leaderboard marks them: the recorded fills, the sessions the trading runs span, and each symbol's
close at each session, priced as the runs were (real or synthetic).

The leaderboard (app/leaderboard.py) ranks these curves; `status` marks the same books at the same closes for each
account's maximum drawdown (app/status_drawdown.py), from what the bar cache holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from llmtrade.analytics import curves
from llmtrade.app.container import Container
from llmtrade.app.ended_closes import bars_past_ended
from llmtrade.app.price_basis import sources_of
from llmtrade.brokers.reconcile import adoptions, our_order_ids
from llmtrade.domain import streams
from llmtrade.domain.backtests import delisted, listed_late
from llmtrade.domain.events import StageCompleted, StageDeferred, StoredEvent
from llmtrade.domain.market import Bar, MarketDataFetched
from llmtrade.domain.reconciliation import OUR_ORDER_PREFIX, PositionAdopted, is_ours
from llmtrade.domain.runs import RunFailed, RunFinished, RunKilled, RunStarted
from llmtrade.domain.trading import Fill, OrderFilled, Side
from llmtrade.errors import NoTradingYet, UsageError
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.validation import validate_bars
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore

TRADING_COMMANDS = frozenset({"run-weekly", "checkpoint", "postmortem", "run-due"})
PAPER = "paper"  # the paper broker's name on its fills (brokers/paper.py)
# The leaderboard's reads of the books, each by type alone: the fills, the runs, the price fetches.
FILL_TYPES = [OrderFilled.event_type()]
# RunKilled: the failure note says which unended runs a later run found killed (app/killed_runs.py).
RUN_TYPES = [RunStarted.event_type(), RunFinished.event_type(), RunFailed.event_type(), RunKilled.event_type()]
FETCH_TYPES = [MarketDataFetched.event_type()]


def trading_runs(events: EventStore) -> list[StoredEvent]:
    """The run events (started, ended) of the commands that trade."""
    return [e for e in events.read(type=RUN_TYPES) if e.payload.get("command") in TRADING_COMMANDS]


# The leaderboard's read of the runs' waits (`with_waits`), followed from a backtest's start as the others are
# (leaderboard.py `follow_books`).
DEFERRED_TYPES = [StageDeferred.event_type()]


def with_waits(events: EventStore, runs: list[StoredEvent]) -> list[StoredEvent]:
    """`runs` (trading_runs) with their StageDeferred: what tells a run that stopped to wait from one that failed
    (report_runs.WAITED; the leaderboard's note called a checkpoint waiting for a price a failed run)."""
    ids = {e.run_id for e in runs if e.run_id}
    return [*runs, *(e for e in events.read(type=DEFERRED_TYPES) if e.run_id in ids)]


def valuing_runs(events: EventStore, runs: Sequence[StoredEvent]) -> list[StoredEvent]:
    """`runs` (trading_runs) less the latest ones that redid nothing: finished with every stage loaded from the stored
    week (`postmortem --week D` of a week done, read by hand). Such a run looked at no account, so the close after it is
    none a run valued: a reader's trial read an old postmortem one evening, and the leaderboard ended at that day's
    close without an order filled at it (queued for the close, recorded by the next run), the account shown flat there
    while `status` held it. Only the runs after the last that did work are read again, a few streams."""
    ends = [e for e in runs if e.type in (RunFinished.event_type(), RunFailed.event_type(), RunKilled.event_type())]
    idle: set[str] = set()
    for end in sorted(ends, key=lambda e: e.id, reverse=True):
        if end.run_id is None or not redid_nothing(events, end):
            break
        idle.add(end.run_id)
    return [e for e in runs if e.run_id not in idle]


def redid_nothing(events: EventStore, end: StoredEvent) -> bool:
    """Whether the run `end` ended (its RunFinished, RunFailed or RunKilled) finished with its every stage completed
    loaded from the stored week (none redone): a read of what was done. A run whose end says it asked for an answer
    (a model's or the offline rules') redid something, no stage of it loaded whole: its stream is not read (a
    backtest's leaderboard reads no event from PostgreSQL, and status's last runs read one stream less a job)."""
    if end.run_id is None or end.type != RunFinished.event_type() or end.payload.get("llm_calls"):
        return False
    done = [e for e in events.read_stream(streams.run_stream(end.run_id)) if e.type == StageCompleted.event_type()]
    return bool(done) and all(StageCompleted.from_event(e).loaded for e in done)


def sessions_of(calendar: TradingCalendar, first_at: datetime, last_at: datetime) -> list[date]:
    """The books' sessions: from the last one closed at the first trading instant to the last closed at the last."""
    start = calendar.last_completed_session(first_at) or calendar.next_session(calendar.first_day)
    end = max(start, calendar.last_completed_session(last_at) or start)
    return calendar.sessions_between(start, end)


def closes_of(
    app: Container,
    storage: Storage,
    symbols: list[str],
    sessions: list[date],
    run_ids: set[str],
    ended: dict[str, date | None] | None = None,
) -> tuple[curves.Closes, bool, set[str]]:
    """Each symbol's close at each session, whether they are synthetic, and their providers, priced as the books were.

    The books' trading runs (`run_ids`) recorded what priced them (MarketDataFetched: real or synthetic
    prices; a `market bars` look of another kind is not theirs). Bars of that
    kind in the bar cache covering the range come first (a backtest fetches its history into its cache up
    front, whatever folder or provider it came from); else the market service, in the mode the accounts
    were traded. Raises UsageError when that gives the other kind: valuing a real-priced backtest
    at synthetic prices (or the reverse) would rank fiction.

    Live books (no backtest record): a symbol whose prices ended (app/ended_closes.py `bars_past_ended`) has its closes
    to its last bar in the range, none when it has no bar there; `ended`, when given, is filled in with each such
    symbol's last day (None: none in the range). A backtest's are its record's (PricesEndEarly)."""
    start, end = sessions[0], sessions[-1]
    # A backtest's delisted symbols end at their last bar (PricesEndEarly): their closes stop there, and EQUAL_WEIGHT
    # keeps what it held of them at that close.
    stream = storage.events.read_stream(streams.BACKTEST)
    ends = delisted(stream)
    # Its symbols listed after these sessions (PricesBeginLate) have no close in them (EQUAL_WEIGHT leaves them out).
    unlisted = [s for s, first in listed_late(stream).items() if first > end and s in symbols]
    if unlisted:
        closes, synthetic, sources = closes_of(
            app, storage, [s for s in symbols if s not in unlisted], sessions, run_ids, ended
        )
        return {**closes, **{s: {} for s in unlisted}}, synthetic, sources
    priced = priced_synthetic(storage.events, run_ids)
    if priced is not None:
        # The container's cache: a backtest's holds the bars it prefetched in memory (storage/bar_cache.py).
        cache = app.bar_cache(storage)
        if cache.covers(symbols, start, end, synthetic=priced):
            # A range the cache has seen pass validation is not validated again, as the market service reads it.
            vouched = cache.vouched(symbols, start, end, synthetic=priced)
            cached = cache.read(symbols, start, end, synthetic=priced, trusted=vouched)
            if vouched or not validate_bars(cached, sessions, ends=ends):
                return _by_day(cached), priced, sources_of(cached)
    market = app.market(storage, live=app.trading_is_live(storage.events), record=False)
    market.ends = ends
    gone: dict[str, date | None] = {}
    series = market.bars(symbols, start, end) if stream else bars_past_ended(market, symbols, start, end, gone)
    if ended is not None:
        ended.update(gone)
    if priced is not None and series.synthetic != priced:
        raise _other_kind(storage.events, run_ids, priced, series.provider, start, end)
    unpriced = {s: {} for s, day in gone.items() if day is None}  # ended before the range: no close in it
    return {**_by_day(series.bars), **unpriced}, series.synthetic, sources_of(series.bars)


def _other_kind(
    events: EventStore, run_ids: set[str], priced: bool, provider: str, start: date, end: date
) -> UsageError:
    """The refusal of books priced with one kind of prices read with the other (`provider`'s) at hand: the
    configuration the command was given is not the one the books were run with, so the user gives it (exit 2; a new
    user's `leaderboard` without its config exited 1, as an operational failure), told by which option or variable."""
    fetched = [e for e in events.read(type=FETCH_TYPES) if e.run_id in run_ids]  # the refusal alone reads it again
    by = MarketDataFetched.from_event(fetched[-1]).provider
    if priced:
        give = (
            "give the synthetic market they were run with: --offline, or LLMTRADE_MARKET_PROVIDERS=synthetic "
            "(or --config DIR of the config they were run with, its assets.yaml naming no csv_dir)"
        )
    else:
        give = (
            "give the configuration they were run with: --config DIR (its assets.yaml market_data.csv_dir), or the CSV "
            "folder as LLMTRADE_MARKET_CSV_DIR=FOLDER, or the providers as LLMTRADE_MARKET_PROVIDERS with their keys "
            "set (ALPACA_DATA_KEY, ALPACA_DATA_SECRET)"
        )
    kinds = {True: "synthetic", False: "real"}
    return UsageError(
        f"the books were priced with {kinds[priced]} prices ({by}), but only {kinds[not priced]} ones ({provider}) "
        f"are at hand for {start}..{end}: {give}"
    )


def priced_synthetic(events: EventStore, run_ids: set[str]) -> bool | None:
    """Whether the trading runs' latest recorded price fetch was synthetic; None when none recorded one."""
    fetched = [e for e in events.read(type=FETCH_TYPES) if e.run_id in run_ids]
    return MarketDataFetched.from_event(fetched[-1]).synthetic if fetched else None


def _by_day(bars: Mapping[str, Sequence[Bar]]) -> curves.Closes:
    return {symbol: {bar.day: bar.close for bar in series} for symbol, series in bars.items()}


def fills_of(events: EventStore, accounts: set[str]) -> tuple[list[Fill], dict[str, set[str]], set[str]]:
    """Every recorded fill of llmtrade's own orders (`is_ours`) in the configured accounts, once per order, in the
    order recorded; the brokers that filled each account's orders; and every account that has a fill, configured or
    not. A trade made by hand at the broker is recorded too (the audit log), but it is the user's, not the account's:
    left out of its books (README: Reconciliation), as shares adopted or released by hand come in by `handed_over`."""
    found: dict[tuple[str, str], Fill] = {}
    brokers: dict[str, set[str]] = {}
    traded: set[str] = set()
    planned: dict[str, frozenset[str]] = {}
    for event in events.read(type=FILL_TYPES):
        filled = OrderFilled.from_event(event)
        fill = filled.fill
        traded.add(fill.account_id)
        if fill.account_id not in accounts:
            continue
        if not fill.client_order_id.startswith(OUR_ORDER_PREFIX):  # the rare id of another format: one read per account
            if fill.account_id not in planned:
                planned[fill.account_id] = our_order_ids(events, fill.account_id)
            if not is_ours(fill.client_order_id, planned[fill.account_id]):
                continue
        found.setdefault((fill.account_id, fill.client_order_id), fill)
        brokers.setdefault(fill.account_id, set()).add(filled.broker)
    return list(found.values()), brokers, traded


def adopted_symbols(events: EventStore, accounts: set[str]) -> set[str]:
    """The symbols of the shares adopted by hand into the accounts (`llmtrade positions adopt`): their closes mark the
    books too."""
    return {change.symbol for account in sorted(accounts) for change, _ in adoptions(events, account)}


def handed_over(events: EventStore, accounts: set[str], closes: curves.Closes) -> list[Fill]:
    """The shares adopted into the accounts and released from them by hand, as fills of the books: an adoption at the
    market price it was adopted at (what they made before is not the account's), a release at the symbol's last close
    on or before its day (`closes`; else the price they were adopted at), when the books stop holding them."""
    out: list[Fill] = []
    for account in sorted(accounts):
        adopted: dict[str, float] = {}
        for n, (change, at) in enumerate(adoptions(events, account)):
            if change.qty == 0:
                continue
            took = isinstance(change, PositionAdopted)
            if took:
                adopted[change.symbol] = change.price
                price = change.price
            else:
                day = new_york_date(at)
                marks = [c for d, c in sorted(closes.get(change.symbol, {}).items()) if d <= day]
                price = marks[-1] if marks else adopted.get(change.symbol, 0.0)
                if price <= 0:
                    continue  # released before any price of it is known: nothing to take out at
            side = Side.BUY if (change.qty > 0) == took else Side.SELL
            out.append(
                Fill(
                    client_order_id=f"{'adopted' if took else 'released'}-{account}-{n}",
                    account_id=account,
                    symbol=change.symbol,
                    side=side,
                    qty=abs(change.qty),
                    price=price,
                    filled_at=at,
                    price_source="adopted" if took else "released at the close",
                )
            )
    return out


def span_of(run_times: list[datetime], fills: Sequence[Fill], first: str) -> tuple[datetime, datetime]:
    """When the books start and end: the first and last trading run's event or fill. `first`: what to do
    when there is none ("run `llmtrade run-weekly` first")."""
    times = [*run_times, *(f.filled_at for f in fills)]
    if not times:
        raise NoTradingYet(
            f"no trading in these books yet: no weekly run, checkpoint or fill to rank ({first})", first=first
        )
    return min(times), max(times)
