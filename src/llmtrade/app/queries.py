"""Read-only questions: each account's standing, the last runs, usage, which jobs are due.

Queries open storage as a draft view and fetch prices without recording them, so asking writes
nothing: whatever a broker does while valuing an account stays in this process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from llmtrade.analytics.curves import stretch_round_trips
from llmtrade.app.baselines import spy_return
from llmtrade.app.clock_behind import clock_behind
from llmtrade.app.config_books import books_notes
from llmtrade.app.container import Container
from llmtrade.app.killed_runs import lease_held
from llmtrade.app.last_runs import last_runs
from llmtrade.app.missed_weeks import unrun_weeks
from llmtrade.app.results import (
    AccountStanding,
    DifferenceLine,
    StatusResult,
    StatusUsage,
    UsageSum,
)
from llmtrade.app.session_prices import session_prices_note
from llmtrade.app.starting_cash import cash_warnings, changed_cash
from llmtrade.app.status_alerts import alerts_not_delivered
from llmtrade.app.status_drawdown import Closed, Closing, closing_equity
from llmtrade.app.status_jobs import checkpoints_missed, closings_put_off, event_checkpoint_lines, jobs_not_done
from llmtrade.app.status_prices import (
    at_last_close,
    ended_held,
    universe_unpriced,
    unpriced,
    unpriced_orders,
    unread_prices,
)
from llmtrade.app.status_week import week_pnl
from llmtrade.app.unrecorded_commands import not_recorded_yet
from llmtrade.app.unrecorded_ends import left as ends_left
from llmtrade.app.week_mode import as_books_priced, mixed_books_note
from llmtrade.brokers.fills import look_at
from llmtrade.brokers.reconcile import look, our_order_ids
from llmtrade.brokers.split_positions import in_new_shares
from llmtrade.config.models import BENCHMARK
from llmtrade.discovery.universe import held_outside, in_play
from llmtrade.domain.call_costs import budget_counted, cost_unknown, spent_usd
from llmtrade.domain.checkpoints import (
    AccountValued,
)
from llmtrade.domain.events import (
    LLMCallCompleted,
    LLMCallFailed,
    StoredEvent,
    rules_answer,
)
from llmtrade.domain.ledger import BooksReset, Split
from llmtrade.domain.market import Bar
from llmtrade.domain.reconciliation import Difference, ReconciliationDifferenceFound, is_ours
from llmtrade.domain.trading import AccountSnapshot, Fill
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import LlmtradeError, MarketDataError
from llmtrade.market.calendar import new_york_date
from llmtrade.market.daily_bars import DailyBars
from llmtrade.market.held_prices import not_final, readable_bars_or_before
from llmtrade.market.metrics import hit_rate, max_drawdown, total_return
from llmtrade.market.splits import unrecorded_gap
from llmtrade.risk.controls import breaker_state, trading_enabled
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.resets import recorded_resets
from llmtrade.storage.splits import recorded_splits
from llmtrade.workflows.account_reset import stretch_fills
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.week_holds import held_this_week, status_note


def status(app: Container) -> StatusResult:
    """Every account's standing, the controls, the last runs, and what the models cost."""
    now = app.clock.now()
    config = app.loaded.config
    week_id = week_id_for(new_york_date(now))
    warnings: list[str] = []  # said on stderr, and carried in the result (`status --json` has no stderr to parse)
    asked = app  # the prices set now: what the next week begins on (books_notes, below)
    with app.storage(persist=False) as storage:
        events = storage.events
        app = as_books_priced(app, events)  # the books' kind of prices: the synthetic demo's on its own market
        live = app.trading_is_live(events)
        market = app.market(storage, live=live, record=False)
        desks = app.desks(storage, market, live=live)
        valued = events.read(type=AccountValued.event_type())
        behind = clock_behind((e.occurred_at for e in valued), now, "status")
        if behind is not None:
            warnings.append(behind)
        first = events.read(type=AccountValued.event_type(), limit=1)
        wait = None
        orders_only: list[str] = []  # the unpriced symbols, when none of them is held (only an order is queued)
        unread: list[LlmtradeError] = []  # why positions are valued at cost: the read of all, or a held symbol's
        failures: dict[str, LlmtradeError] = {}
        ended: dict[str, tuple[Bar, str]] = {}  # held symbols whose prices ended: valued at their last close
        try:
            # Held symbols outside the universe too, each asked apart: one no provider has is said, not fatal.
            series, missing, asof, note = _priced(
                market, config.assets.symbols, held_outside(config, events), now, failures
            )
            ended = ended_held(market, in_play(events), missing, failures, asof)
            series = {**series, **{s: [bar] for s, (bar, _) in ended.items()}}
            prices = _in_new_shares(series, recorded_splits(events), now)
            bought = market.bars_asof([BENCHMARK], first[0].occurred_at, sessions=10).bars if first else {}
            spy_start = (bought[BENCHMARK][-1].day, bought[BENCHMARK][-1].close) if bought.get(BENCHMARK) else None
        except LlmtradeError as exc:
            warnings.append(f"prices unavailable ({exc}); positions are valued at cost")
            prices, spy_start, series, missing, asof, note = {}, None, {}, {}, now, None
            unread.append(exc)
        spy_end = (series[BENCHMARK][-1].day, prices[BENCHMARK]) if series.get(BENCHMARK) else None
        # The leaderboard's SPY baseline over these closes (its slippage and commission paid), not SPY's bare move.
        spy = spy_return(config, spy_start, spy_end) if spy_start and spy_end else None
        closed = {s: app.calendar.session_close(bars[-1].day) for s, bars in series.items() if bars}
        marks = Marks(prices, closed, recorded_splits(events), now)
        paper_bps = config.accounts.paper.slippage_bps
        # Only brokers that keep their own fills report them (today the paper broker); others count none.
        fills = {desk.account.id: _our_fills(events, desk) for desk in desks}
        closing, said = closing_equity(app, storage, market, asof, fills, series, ended)
        warnings += said
        # A starting_cash changed under an account's books (jobs refuse it; said below): its figures here count from
        # the new cash, and so must its week's start, recorded from the old (a trial: week P/L +899,978.46 beside a
        # total of 0.0%).
        changed = changed_cash(app, events)
        moved = {c.account.id: c.account.starting_cash - c.began for c in changed}
        rows = [
            _standing(events, desk, fills[desk.account.id], marks, closing, week_id, paper_bps, moved) for desk in desks
        ]
        # An account whose week the weekly run held back (an order still open at its broker): its figures are last
        # week's, not the week's trade, and status said nothing of it.
        week_held = held_this_week(events, week_id)
        for row in rows:
            row["week_held"] = status_note(week_held[row["account_id"]]) if row["account_id"] in week_held else None
        held = {p.symbol for row in rows for p in row["positions"]}
        warnings += unrecorded_splits(app.bar_cache(storage), events, series, held)
        if prices:  # else "prices unavailable" said it of every position
            # With a symbol some account holds or has an order in (its fill not recorded yet: no position shows it).
            playing = in_play(events)
            warnings += unpriced(rows, prices, missing) + at_last_close(rows, ended)
            warnings += universe_unpriced(market, config.assets.symbols, held | playing, missing, failures, asof)
            at_cost = sorted(
                {p.symbol for row in rows for p in row["positions"] if p.symbol not in prices}
                | {s for s in missing if s in playing}
            )
            unread += [failures.get(s) or MarketDataError(f"no provider had {s}") for s in at_cost]
            warnings += unpriced_orders(rows, missing, [s for s in at_cost if s not in held])
            # No position is at cost when only queued orders lack their price: said so, not as positions at cost.
            orders_only = [] if held.intersection(at_cost) else at_cost
        wait, failed = unread_prices(unread)
        # An account taken out of accounts.yaml has no row: what its books still hold is said, not dropped unseen, as
        # `config validate` says it (app/config_books.py).
        warnings += books_notes(asked, events)
        # In-session checkpoints the prices set cannot judge (a CSV folder of daily files only), as `config validate`.
        warnings += filter(None, [session_prices_note(app, live=live)])
        warnings += cash_warnings(app, events, changed)
        warnings = [*filter(None, [mixed_books_note(events)]), *warnings]  # every figure below mixes them: said first
        for warning in warnings:
            app.warning(warning)
        # No "vs FLAT" or "vs SPY" here: a difference of two totals without its uncertainty, trades and costs reads as
        # a verdict (a trial). The leaderboard compares, with intervals; status says where the books stand.
        accounts = [AccountStanding(**row) for row in rows]
        enabled, why = trading_enabled(events)
        home = app.settings.home
        runs = last_runs(events, lease_held(storage), None if app.database is not None else partial(ends_left, home))
        # Every model call, whether its run finished, failed or was killed: all of them cost money.
        calls = events.read(type=[LLMCallCompleted.event_type(), LLMCallFailed.event_type()])
        fired_now = event_checkpoint_lines(events, week_id)
        put_off = closings_put_off(events, week_id)
        missed = checkpoints_missed(events, week_id)
        # With the failures left in the home that no job command has reached the database to record since.
        not_done = jobs_not_done(
            events, week_id, [] if app.database is not None else not_recorded_yet(app.settings.home)
        )
        undelivered = alerts_not_delivered(events, week_id)
        # Said by a wake-up or not (cron broken says nothing): a week the books skipped is no silent gap.
        not_run = unrun_weeks(config.schedule, app.calendar, events, now)
    return StatusResult(
        asof=now.isoformat(),
        week_id=week_id,
        trading_enabled=enabled,
        kill_switch_reason=why,
        valued_at=max((bars[-1].day for bars in series.values() if bars), default=None),
        valued_note=note,
        at_last_close={s: bar.day for s, (bar, _) in ended.items()},
        synthetic=any(bars[-1].synthetic for bars in series.values() if bars),
        prices_wait=wait,
        prices_failed=failed,
        unpriced_orders=orders_only,
        spy_return_since_start=spy,
        accounts=accounts,
        last_runs=runs,
        usage=StatusUsage(this_week=usage([e for e in calls if e.week_id == week_id]), to_date=usage(calls)),
        event_checkpoints=fired_now,
        closings_put_off=put_off,
        checkpoints_missed=missed,
        jobs_not_done=not_done,
        alerts_not_delivered=undelivered,
        weeks_not_run=not_run,
        warnings=warnings,
    )


def _priced(
    market: DailyBars, universe: Sequence[str], held: Sequence[str], now: datetime, errors: dict[str, LlmtradeError]
) -> tuple[dict[str, list[Bar]], dict[str, str], datetime, str | None]:
    """The bars status values at, what held symbol has none and why (`errors`: filled in with each one's failure), the
    instant they are the last closes at, and why that is not `now` (market/held_prices.py `bars_or_before`: a hand-run
    status valued every position at cost while the last session's bar was not final anywhere, where the closes before
    are the honest answer)."""
    series, missing, asof, pending = readable_bars_or_before(
        market, universe, held, now, anchor=BENCHMARK, sessions=10, errors=errors
    )
    return series, missing, asof, None if pending is None else not_final(pending)


def unrecorded_splits(
    cache: BarCache, events: EventStore, series: Mapping[str, Sequence[Bar]], held: set[str]
) -> list[str]:
    """What to say of each held symbol whose newest prices gap by a split's factor from the books' (the cache's) last
    close, no split recorded there (market/splits.py `unrecorded_gap`): a read records nothing, so until the next run
    does, the books hold the old shares valued at the new price (a 4-for-1 reads as a 75% loss)."""
    recorded = recorded_splits(events)
    said: list[str] = []
    for symbol in sorted(held & series.keys()):
        found = unrecorded_gap(cache, series[symbol])
        if found is None:
            continue
        last, after, ratio = found
        if any(s.symbol == symbol and last.day < s.at.date() <= after.day for s in recorded):
            continue
        said.append(
            f"{symbol} looks split {ratio.numerator}-for-{ratio.denominator} on {after.day}: it opened at"
            f" {after.open:g} against a last close of {last.close:g} on {last.day}, and no split is recorded yet. Its"
            " positions show the old shares at the new price until the next run (run-due, a checkpoint) records it"
        )
    return said


def _in_new_shares(series: Mapping[str, Sequence[Bar]], splits: Sequence[Split], now: datetime) -> dict[str, float]:
    """Each symbol's last close, put in the new shares of a split recorded since and come by `now`: a split an Alpaca
    position showed before the open is recorded while the close is the old shares', and every paper account holding
    the symbol is split from the ex-day's midnight (200 shares at the old close: four times their worth)."""
    last = {s: bars[-1] for s, bars in series.items() if bars}
    return {s: in_new_shares({s: bar.close}, splits, bar.day, now)[s] for s, bar in last.items()}


@dataclass(frozen=True)
class Marks:
    """What `status` values positions at: each symbol's last close (`closes`, in today's shares), or, for an account
    filled in it since that close (`closed`: when each close was), its latest fill's price.

    A position opened at today's open valued at yesterday's close showed a P/L the account never made (a new user:
    "week P/L -25.34" for a week with no close yet): the fill is the latest price the account has seen for it. (A
    trade closed since that close still counts in the hit rate: status is now, the leaderboard its last close.)"""

    closes: dict[str, float]
    closed: dict[str, datetime]
    splits: Sequence[Split]
    now: datetime

    def of(self, fills: Sequence[Fill]) -> dict[str, float]:
        marks = dict(self.closes)
        for fill in sorted(fills, key=lambda f: f.filled_at):
            close = self.closed.get(fill.symbol)
            if close is not None and fill.filled_at > close:
                day = new_york_date(fill.filled_at)
                marks[fill.symbol] = in_new_shares({fill.symbol: fill.price}, self.splits, day, self.now)[fill.symbol]
        return marks


def _standing(
    events: EventStore,
    desk: Desk,
    fills: list[Fill],
    marks: Marks,
    closing: Closing,
    week_id: date,
    paper_bps: float,
    moved: Mapping[str, float],
) -> dict:
    """`fills`: the account's as its broker reports them; `closing`: its equity at the books' closes (app/
    status_drawdown.py; None: a close is missing, its drawdown not shown; absent: no trading yet); `moved`: by account,
    how far accounts.yaml's starting_cash is from what its books began with (app/starting_cash.py)."""
    prices = marks.of(fills)
    # Only what llmtrade manages counts: a position made by hand is listed as a difference, not credited.
    snapshot, observed = look_at(desk.broker, prices)  # one look: the open orders are those of these positions
    seen = look(events, desk.broker, snapshot, prices, observed=observed)
    account = seen.managed
    start_cash = desk.account.starting_cash
    resets = recorded_resets(events, desk.account.id).get(desk.account.id, ())
    closed = closing.get(desk.account.id, Closed((start_cash,)))
    # A paper account reset at the broker (workflows/account_reset.py) is no return: the books are chained across it,
    # as the leaderboard's curve is (its scales), else (a close missing) from the valuations before each reset.
    scales = closed.scales if closed is not None and len(closed.scales) == len(resets) + 1 else None
    scales = scales or valued_scales(start_cash, resets)
    now = account.equity * scales[-1]  # in the dollars of the books' first stretch
    # Round trips (a resize is not a trade) from the books' fills across every reset, as the leaderboard's curve counts
    # them: Alpaca lists none from before a reset, whose closed trades would leave the hit rate and the trade count.
    booked = _booked_fills(events, desk, fills)
    trades = [t.pnl for t in stretch_round_trips(booked, recorded_splits(events), resets)]
    breaker, _ = breaker_state(events, desk.account.id, start_cash)
    return {
        "account_id": desk.account.id,
        "name": desk.account.name,
        "role": desk.account.role.value,
        "broker": desk.broker.name,
        "equity": account.equity,
        "cash": account.cash,
        "week_pnl": week_pnl(
            events, week_id, desk.account.id, resets, scales, now, moved.get(desk.account.id, 0.0), closed=closed
        ),
        "total_return": total_return(start_cash, now),
        "max_drawdown": _drawdown(None if closed is None else closed.equity, account, now),
        "hit_rate": hit_rate(trades),
        "trades": len(trades),
        "commissions_usd": round(sum(f.commission for f in booked), 2),
        # As the leaderboard estimates it: only the paper broker's rate is known (another's is in its prices).
        "slippage_usd": (
            round(sum(f.qty * f.price for f in booked) * paper_bps / 10_000, 2) if desk.broker.name == "paper" else None
        ),
        "positions": list(account.positions.values()),
        # llmtrade's orders the broker holds unfilled (queued for the open, or for the close of a session priced at its
        # open): a position shown "-" at 15:55 was about to change, and nothing said so (a trial).
        "open_orders": [o for o in observed.orders if o.client_order_id in seen.planned],
        "halted": breaker.halted,
        "breaker_reason": breaker.reason,
        "differences": difference_lines(events, desk.account.id, seen.differences),
    }


def valued_scales(start_cash: float, resets: Sequence[BooksReset]) -> tuple[float, ...]:
    """The books' dollars per dollar of each stretch between resets (analytics/curves.py Track.scales) from the
    valuations alone: each stretch ends at the last valuation before its reset (None: none, as it began)."""
    scales, began = [1.0], start_cash
    for reset in resets:
        ended = scales[-1] * (reset.last_equity if reset.last_equity is not None else began)
        scales.append(ended / reset.balance if reset.balance > 0 and ended > 0 else scales[-1])
        began = reset.balance
    return tuple(scales)


def _our_fills(events: EventStore, desk: Desk) -> list[Fill]:
    ours = our_order_ids(events, desk.account.id)
    return [f for f in desk.broker.fills() if is_ours(f.client_order_id, ours)]


def _booked_fills(events: EventStore, desk: Desk, listed: Sequence[Fill]) -> list[Fill]:
    """The account's own fills: those its broker lists (`listed`: the latest, a working order's still growing), and
    those recorded (OrderFilled) that it no longer lists (a paper account reset at Alpaca wipes its order history)."""
    shown = {f.client_order_id for f in listed}
    return [*listed, *(f for f in stretch_fills(events, desk, None, None) if f.client_order_id not in shown)]


def _drawdown(closing: Sequence[float] | None, account: AccountSnapshot, now: float) -> float | None:
    """Peak to trough over the daily closes, then now; over the closes alone when a position has no price now (valued
    at its cost, which is no point on the curve); None when a close is missing."""
    if closing is None:
        return None
    return max_drawdown(list(closing) if account.at_cost else [*closing, now])


def difference_lines(events: EventStore, account_id: str, live: list[Difference]) -> list[DifferenceLine]:
    """The account's differences now, each with when it was first recorded (None: not yet)."""
    found = events.read(account_id=account_id, type=ReconciliationDifferenceFound.event_type())
    first = {ReconciliationDifferenceFound.from_event(e).difference.key(): e.occurred_at.isoformat() for e in found}
    return [DifferenceLine(difference=d, recorded_at=first.get(d.key())) for d in live]


def usage(records: list[StoredEvent]) -> UsageSum:
    """The calls among `records` (LLMCallCompleted and LLMCallFailed): what the budget counts, so a failed call a reply
    came back to (a truncated or empty answer: billed) is in the tokens and the cost."""
    answers = [e for e in records if e.type == LLMCallCompleted.event_type()]
    calls = [e for e in answers if not rules_answer(e.payload)]
    billed = [e for e in records if e.type != LLMCallCompleted.event_type() and budget_counted(e.payload)]
    spent = calls + billed
    return UsageSum(
        calls=len(calls),
        rules_answers=len(answers) - len(calls),
        prompt_tokens=sum(e.payload.get("prompt_tokens") or 0 for e in spent),
        completion_tokens=sum(e.payload.get("completion_tokens") or 0 for e in spent),
        cost_usd=round(sum(spent_usd(e.payload) for e in spent), 6),
        failed_calls=len(billed),
        unknown_cost_calls=sum(1 for e in spent if cost_unknown(e.payload)),
    )
