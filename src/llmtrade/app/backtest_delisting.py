"""A backtest symbol whose prices end before the range does: delisted, merged away, an ETF closed.

Refusing it (the validator's stale tail) made the user drop it, and the backtest silently became survivor-only:
the symbols that died during the range, often after the falls that killed them, were never offered. So a file that
ends early is taken as the symbol's delisting on its last bar's day:
- said at the start and recorded once (PricesEndEarly); the benchmark, which every week reads, is refused instead;
- its bars are valid through that day (MarketData.ends), so every read before it works as for any symbol;
- a week whose as-of session is its last day or later does not offer it (BacktestContainer.offered): an order then
  would fill at a session it never had;
- when its last session closes, every position in it is closed at that close, as holders of a delisted share are
  paid out: a run `delisting` sends each account's closing order in that session's last second, priced at the
  close (the paper broker fills an order in session at the quote it is handed), recorded as orders and fills are,
  then DelistingSettled; for what is held net of the orders queued in it (a checkpoint's close sent in that session on
  daily prices only fills at the same close a second later). No valuation after it reads a price after the last bar:
  nothing is left holding it. An interrupted settlement's rerun reads each close back from the broker, a close that
  did not fill stops the backtest unsettled, and orders in the symbol left undone (refused, a leg held back) are
  abandoned, never sent after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from llmtrade.app.due_jobs import done_keys
from llmtrade.brokers.order_plan import client_order_id
from llmtrade.domain import streams
from llmtrade.domain.backtests import delisted
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import DelistingSettled, PricesEndEarly, Quote
from llmtrade.domain.runs import RunStarted, new_run_id
from llmtrade.domain.streams import ORDERS, run_stream, week_stream
from llmtrade.domain.trading import Order, OrderStatus, PlanAbandoned, Side
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import LlmtradeError, MarketDataError, OperationalError, UsageError
from llmtrade.llm.records import UsageTotals
from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.service import MarketData
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import revaluer, send_orders
from llmtrade.workflows.legs import unfinished_orders

if TYPE_CHECKING:
    from llmtrade.app.backtest_container import BacktestContainer
    from llmtrade.clock import SteppingClock
    from llmtrade.workflows.desk import Desk
    from llmtrade.workflows.schedule import Job

COMMAND = "delisting"


def find_delisted(market: MarketData, symbols: Sequence[str], first: date, last: date) -> dict[str, date]:
    """Each of `symbols` whose bars (the first provider's: a backtest reads one) end inside first..last before its last
    session, with its last bar's day. A synthetic market never delists; a provider that fails here says so at the
    fetch that follows."""
    sessions = market.calendar.sessions_between(first, last)
    provider = market.providers[0]
    if not sessions or provider.synthetic:
        return {}
    try:
        bars = provider.daily_bars(list(symbols), first, last)
    except LlmtradeError:
        return {}
    ends = {
        s: max(b.day for b in rows if b.day <= last) for s, rows in bars.items() if any(b.day <= last for b in rows)
    }
    return {s: day for s, day in ends.items() if sessions[0] <= day < sessions[-1]}


def refuse_ended_inside_weeks_run(
    app: BacktestContainer,
    storage: Storage,
    ends: Mapping[str, date],
    jobs: Iterable[Job],
    where: Callable[[str], str | None],
) -> None:
    """UsageError when a delisting of `ends` (this start's, found on its files over its range) is not one the weeks
    already run took (no PricesEndEarly of it) and its last session closed before one of their jobs ran.

    A file that did not grow with the others (a weekly download that missed it) while --to moved on ends where the
    weeks run stopped reading: a backtest run afresh on these files takes the symbol as delisted there, and settles it
    at that close, before the jobs after it (the week's postmortem), no longer offering it. The weeks run held it as
    trading; this start would settle it only at its first job, out of session (a position held never filled: exit 1
    after every rerun), on other books than the fresh run's. Refused before any job: the file is to be grown."""
    if not ends:
        return
    done = done_keys(storage.events)
    ran = [job.at for job in jobs if job.key in done]
    if not ran:
        return
    last_ran = max(ran)
    taken = delisted(storage.events.read_stream(streams.BACKTEST))
    for symbol, day in sorted(ends.items(), key=lambda item: (item[1], item[0])):
        if symbol in taken or app.calendar.session_close(day) > last_ran:
            continue  # taken as delisted then, or settled after the weeks run as in a run afresh
        file = where(symbol)
        named = Path(file).name if file else f"{symbol}'s prices"
        raise UsageError(
            f"{named} ends at {day}, before this range does, so a backtest run afresh on these files takes {symbol} as "
            f"delisted that day and closes every position in it at that close, inside the weeks this backtest already "
            f"ran (to {last_ran.astimezone(NEW_YORK):%Y-%m-%d %H:%M} New York), which took it as trading on: give "
            f"{named} its later rows (as the other files were given), or run this range under a new --name"
        )


def ended_message(symbol: str, last: date, where: str | None) -> str:
    """What a universe symbol whose prices end before the range does means for the backtest (`where`: its file; the
    benchmark's is refused: backtest_benchmark.py)."""
    place = f" ({where})" if where else ""
    return (
        f"prices end early: {symbol}'s{place} last bar is {last}, before the range ends: taken as delisted that day. "
        f"It is offered to the committee while it has a later session to trade in; every position in it is closed "
        f"at its close of {last} when that session ends (DelistingSettled), and nothing is valued from a later price. "
        "If it still traded, give the file its later history"
    )


def record_delisted(
    app: BacktestContainer, storage: Storage, ends: Mapping[str, date], where: Mapping[str, str | None]
) -> None:
    """Say each delisting of `ends` and record it once per backtest (PricesEndEarly on the backtest stream)."""
    known = set(delisted(storage.events.read_stream(streams.BACKTEST)))  # as they stand (domain/backtests.py)
    fresh = [
        NewEvent.of(PricesEndEarly(symbol=s, last_day=day, where=where.get(s)), stream=streams.BACKTEST)
        for s, day in sorted(ends.items())
        if s not in known
    ]
    if fresh:
        storage.events.append(fresh)
    for symbol, day in sorted(ends.items()):
        app.warning(ended_message(symbol, day, where.get(symbol)))


def settle_due(app: BacktestContainer, clock: SteppingClock, before: datetime) -> None:
    """Close every position in each delisted symbol whose last session closes at or before `before` (the next job's
    instant) and is not settled yet, in that session's last second."""
    if not app.delisted:
        return
    with app.storage() as storage:
        settled = {
            DelistingSettled.from_event(e).symbol
            for e in storage.events.read_stream(streams.BACKTEST)
            if e.type == DelistingSettled.event_type()
        }
    for symbol, last in sorted(app.delisted.items(), key=lambda item: (item[1], item[0])):
        closes = app.calendar.session_close(last)
        if symbol in settled or closes > before:
            continue
        clock.set(max(clock.now(), closes - timedelta(seconds=1)))  # in session: filled at the quote handed over
        _settle(app, symbol, last)


def _abandon_undone(
    storage: Storage, desk: Desk, symbol: str, week_id: date, run_id: str, prices: Mapping[str, float]
) -> None:
    """Abandon the account's orders in `symbol` left undone on the week's orders stream (refused, or an opening leg
    held back for its close): every later checkpoint of the week sends them again while valid, and sent after the
    last session one is queued for an open the symbol never has, never fills, and stops every later weekly run."""
    own = client_order_id(week_id, desk.account.id, symbol, COMMAND)
    stream = week_stream(week_id, ORDERS)
    left = [
        o.client_order_id
        for o in unfinished_orders(storage.events, stream, desk.account.id)
        if o.symbol == symbol and o.client_order_id != own
    ]
    if not left:
        return
    held = desk.broker.account(prices).positions
    gone = PlanAbandoned(
        account_id=desk.account.id,
        broker=desk.broker.name,
        reason=f"{symbol} delisted: its last session has closed, nothing in it can be traded",
        client_order_ids=left,
        planned_positions={},
        actual_positions={s: p.qty for s, p in held.items() if p.qty},
        whole_plan=False,  # the symbol's orders only: the plans' orders in other symbols still go, each once
    )
    storage.events.append(
        [NewEvent.of(gone, stream=stream, week_id=week_id, run_id=run_id, account_id=desk.account.id)]
    )


def _closing_order(desk: Desk, symbol: str, week_id: date, prices: Mapping[str, float]) -> Order | None:
    """The account's closing order of `symbol`'s delisting: the one an interrupted settlement left at the broker (its
    fill made the account flat, so the position no longer says what was closed), else one for the position held;
    None when it holds none and no such order was sent."""
    client_id = client_order_id(week_id, desk.account.id, symbol, COMMAND)
    side: Side
    if (earlier := desk.broker.find(client_id)) is not None:
        queued = [(o.side, o.qty) for o in desk.broker.open_orders() if o.client_order_id == client_id]
        filled = [(f.side, f.qty) for f in desk.broker.fills() if f.client_order_id == client_id]
        if not queued and not filled:  # canceled: its client_order_id cannot be sent again
            raise OperationalError(
                f"delisting of {symbol}: account {desk.account.id}'s close {client_id} is {earlier.status.value} at "
                "the broker, neither filled nor queued; the position cannot be settled"
            )
        side, qty = (queued or filled)[0]
    else:
        held = desk.broker.account(prices).positions.get(symbol)
        # Net of the orders queued in it: a checkpoint's close sent in this session on daily prices only fills at this
        # very close (brokers/paper.py), a second after this order; closing the whole position too sold it twice.
        queued = sum(o.qty if o.side is Side.BUY else -o.qty for o in desk.broker.open_orders() if o.symbol == symbol)
        left = (0 if held is None else held.qty) + queued
        if left == 0:
            return None
        side, qty = (Side.SELL if left > 0 else Side.BUY), abs(left)
    return Order(
        client_order_id=client_id,
        account_id=desk.account.id,
        week_id=week_id,
        symbol=symbol,
        side=side,
        qty=qty,
        intent="close",
    )


def held_closes(market: MarketData, desks: Sequence[Desk], quote: Quote, last: date) -> dict[str, float]:
    """The price of every symbol an account of `desks` holds at the settlement's instant, `last`'s last second: the
    delisted one's is `quote` (its close), every other one's its close of `last`. The valuation after each close's fill
    is handed them all: given the delisted symbol's alone, it valued the account's other positions at their cost, and
    the breaker saw that equity. A held symbol with no bar that session (none can have one: a symbol delisted earlier
    is settled, nothing holds it) is left to the valuation, which says it is at cost."""
    held = {s for desk in desks for s, p in desk.broker.account({}).positions.items() if p.qty} - {quote.symbol}
    prices = {quote.symbol: quote.price}
    if held:
        series = market.bars(sorted(held), last, last).bars
        prices |= {s: rows[-1].close for s in sorted(held) if (rows := series.get(s)) and rows[-1].day == last}
    return prices


class _LastClose:
    """The quote source of a delisting's closing orders: `symbol`'s last close, observed now (QuoteSource)."""

    def __init__(self, quote: Quote):
        self._quote = quote

    def quote(self, symbol: str, now: datetime | None = None) -> Quote:
        if symbol != self._quote.symbol:
            raise MarketDataError(f"a delisting of {self._quote.symbol} prices nothing else ({symbol})")
        return self._quote

    def quotes(self, symbols: Sequence[str], now: datetime | None = None) -> dict[str, Quote]:
        return {s: self.quote(s, now) for s in symbols}

    def priced(self, symbols: Sequence[str], now: datetime | None = None) -> tuple[dict[str, Quote], dict[str, str]]:
        return self.quotes(symbols, now), {}

    def never_in_session(self, symbols: Sequence[str], now: datetime | None = None) -> dict[str, str]:
        return {}


def _settle(app: BacktestContainer, symbol: str, last: date) -> None:
    """Close every account's position in `symbol` at `last`'s close, as one run `delisting` of its own."""
    from llmtrade.app.runs import RunLog  # the app's runs, as jobs open them

    now = app.clock.now()
    week_id = week_id_for(last)
    with app.storage() as storage:
        market = app.market(storage, record=False)
        [bar] = market.bars([symbol], last, last).bars[symbol]
        source = market.providers[0]
        quote = Quote(symbol=symbol, price=bar.close, as_of=now, provider=source.name, kind="close")
        quote = quote.model_copy(update={"synthetic": source.synthetic})
        # A settlement a kill cut short (its start stored, no end) goes on as the same run, as if never stopped: the
        # books of a resumed backtest are then those of an uninterrupted one, byte for byte.
        cut_short = _cut_short(storage, symbol)
        run_id = cut_short or new_run_id(now)
        run = RunLog(storage.events, run_id=run_id, command=COMMAND, week_id=week_id, timer=app.timer())
        if cut_short is None:
            run.started(
                arguments={"symbol": symbol, "last_day": last.isoformat()},
                mode=app.mode.value,
                mode_reason="a backtest symbol's last session closed",
                config_source=app.loaded.source,
            )
        try:
            closed = _close_all(app, storage, market, quote, last, week_id, run_id)
        except LlmtradeError as exc:
            run.failed(exc)  # a rerun settles it: the run that stopped says why
            raise
        settled = DelistingSettled(symbol=symbol, last_day=last, close=bar.close, closed=closed)
        storage.events.append([NewEvent.of(settled, stream=streams.BACKTEST, week_id=week_id, run_id=run_id)])
        run.finished(UsageTotals(), degraded=False)
    app.warning(
        f"delisted: {symbol}'s last session {last} has closed: "
        + (
            ", ".join(f"{account} closed {qty:+d} at {bar.close:.2f}" for account, qty in closed.items())
            if closed
            else "no account held it beyond the closes already queued for that close"
        )
    )


def _cut_short(storage: Storage, symbol: str) -> str | None:
    """The run id of `symbol`'s settlement that recorded its start and neither its end nor its failure (a process
    killed inside it), else None. A failed one stays failed: its rerun is a run of its own."""
    for started in storage.events.read(type=RunStarted.event_type()):
        arguments = started.payload.get("arguments") or {}
        if started.payload.get("command") != COMMAND or arguments.get("symbol") != symbol or started.run_id is None:
            continue
        if [e.type for e in storage.events.read_stream(run_stream(started.run_id))] == [RunStarted.event_type()]:
            return started.run_id
    return None


def _close_all(
    app: BacktestContainer,
    storage: Storage,
    market: MarketData,
    quote: Quote,
    last: date,
    week_id: date,
    run_id: str,
) -> dict[str, int]:
    """Send every account's close of `quote.symbol` at `quote` (its last close, of session `last`); account -> the
    signed shares closed. Raises OperationalError, before anything says it is settled, when a close did not fill."""
    symbol = quote.symbol
    closed: dict[str, int] = {}
    unfilled: list[str] = []
    stream = week_stream(week_id, ORDERS)
    desks = app.desks(storage, market, quotes=_LastClose(quote))  # type: ignore[arg-type]
    prices = held_closes(market, desks, quote, last)
    for desk in desks:
        _abandon_undone(storage, desk, symbol, week_id, run_id, prices)
        order = _closing_order(desk, symbol, week_id, prices)
        if order is None:
            continue
        after_fill = revaluer(storage.events, desk, app.loaded.config, prices, week_id=week_id, run_id=run_id)
        # Sends it unless the stream holds it; one the broker holds but the stream does not is recorded from the
        # broker's answer (the same client_order_id hands back the order it has).
        send_orders(
            storage.events,
            desk.broker,
            [order],
            stream=stream,
            week_id=week_id,
            run_id=run_id,
            after_fill=after_fill,
        )
        done = desk.broker.find(order.client_order_id)
        if done is None or done.status is not OrderStatus.FILLED:
            state = done.status.value if done else "not sent: see its OrderBlocked"
            unfilled.append(f"{desk.account.id}'s {order.side.value} of {order.qty} ({state})")
            continue
        closed[desk.account.id] = order.qty if order.side is Side.SELL else -order.qty
    if unfilled:
        # Settled, the symbol is never priced again: a position left in it would be held with no price. A rerun
        # sends what is left (a kill switch's block, a refusal) and settles then.
        raise OperationalError(
            f"delisting of {symbol} at its last close {quote.price:.2f} is not settled: {', '.join(unfilled)} did not "
            "fill; run the backtest again to resume it once the order can be sent"
        )
    return closed
