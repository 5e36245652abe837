"""The leaderboard: every account and baseline over the books' sessions, with honest uncertainty.

Read-only. The books are the store's events: the accounts' fills (OrderFilled) and the runs that traded
(run-weekly, checkpoint, postmortem, run-due). The range is point-in-time:
- it starts at the last session closed when the first trading run (or fill) happened: every account
  still holds its starting cash then, and the baselines buy at that close;
- it ends at the last session closed when the last trading run (or fill) happened: a close no run had
  seen yet is not in the books, and neither is any fill after it.
Closes are of the kind the books' runs were priced with (real or synthetic: app/marked_books.py `closes_of`), from
the bar cache first, and never past the end. A live universe symbol whose prices ended is read to its last bar, as a
backtest's delisted one is, and said (app/ended_closes.py).

`trials` (the deflated Sharpe's N) is the number of accounts compared: the PM accounts and the chairman's
(a deterministic rules PM, when configured with an account, is one of them). A sweep of configurations
will pass more. The FLAT account is the hurdle, not a trial.

Knowledge cutoffs: the weeks are split into two periods at the models' latest cutoff, and a note says which
part is evidence (app/cutoff_periods.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from llmtrade.analytics import draws, metrics
from llmtrade.analytics.paired import pairing
from llmtrade.analytics.records import EXCESS_NOTE, RISK_FREE, TURNOVER_NOTE, Leaderboard
from llmtrade.analytics.standings import (
    holding,
    intraday_note,
    open_trades_note,
    short_note,
    standings,
    wiped_note,
    within_sessions,
)
from llmtrade.app.account_spans import late_rows, late_starts, models_notes, removed_note, short_spans, span_note
from llmtrade.app.backtest_config import reading_config
from llmtrade.app.backtest_lock import held_elsewhere
from llmtrade.app.baseline_universe import (
    UNIVERSE_TYPES,
    snapshot_universes,
    universe_note,
    weekly_closes,
    weekly_universes,
)
from llmtrade.app.baselines import TRIAL_ROLES
from llmtrade.app.board_notes import (
    fill_price_notes,
    flat_account_note,
    levels_note,
    missing_figure_notes,
    range_note,
    reset_notes,
    same_books_notes,
    undecided_note,
)
from llmtrade.app.board_tracks import fee_notes, tracks_of
from llmtrade.app.board_verdict import verdict
from llmtrade.app.books_empty import nothing_to_rank
from llmtrade.app.books_named import BACKTESTS, held
from llmtrade.app.clock_behind import clock_behind
from llmtrade.app.container import Container
from llmtrade.app.cutoff_periods import (
    cutoff_periods,
    last_weeks_decided,
    latest_cutoff,
    offline_note,
    split_at,
    trading_modes,
)
from llmtrade.app.ended_closes import ended_note, left_out_weeks, tradable_weeks
from llmtrade.app.marked_books import (
    DEFERRED_TYPES,
    FETCH_TYPES,
    FILL_TYPES,
    RUN_TYPES,
    adopted_symbols,
    closes_of,
    fills_of,
    handed_over,
    sessions_of,
    span_of,
    trading_runs,
    valuing_runs,
    with_waits,
)
from llmtrade.app.open_week import open_week_note
from llmtrade.app.price_basis import CSV, SYNTHETIC, adjusted_beside, csv_folder, price_basis, snapshot_provider
from llmtrade.app.report_controls import TYPES as CONTROL_TYPES
from llmtrade.app.report_controls import control_lines, halt_notes
from llmtrade.app.report_runs import failure_note, run_lines
from llmtrade.app.starting_cash import cash_warnings
from llmtrade.app.sweep_member import sweep_named, sweep_note
from llmtrade.app.week_mode import mixed_books_note
from llmtrade.config.models import AccountRole, Config
from llmtrade.domain import streams
from llmtrade.domain.audit_notes import audit_note
from llmtrade.domain.backtests import again, delisted_note, jumps_note, unfinished, week_not_done
from llmtrade.domain.wording import counted
from llmtrade.errors import NoTradingYet, UsageError
from llmtrade.llm.gateway import LLMMode
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.database import backtest_database, database_exists, locate
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.resets import RESET_TYPES, recorded_resets
from llmtrade.storage.snapshot_reads import one_snapshot
from llmtrade.storage.splits import recorded_splits


def follow_books(events: EventStore) -> None:
    """Ask the leaderboard's reads once now, so that a store which keeps copies of what it reads (a backtest's sole
    writer, storage/event_copies.py) keeps these current from its own appends, and the leaderboard at the end reads
    them from memory: at 520 weeks some 52,000 events (fills, runs, price fetches) that were otherwise read back and
    built again, the largest part of the leaderboard's time. The same events either way: a copy answers as the
    database does. Best called while the books are short (a fresh backtest's: empty)."""
    for types in (FILL_TYPES, RUN_TYPES, FETCH_TYPES, DEFERRED_TYPES, list(CONTROL_TYPES), UNIVERSE_TYPES, RESET_TYPES):
        events.read(type=types)
    # Its record of the backtest too: read by no week, it is kept apart from the closed weeks' streams a backtest drops.
    events.keep_stream(streams.BACKTEST)


def books(
    app: Container, backtest: str | None, *, option: str = "--backtest", figures: bool = True
) -> tuple[Container, str]:
    """Where the books are read: `app` itself for the live books, or a copy opening the backtest named
    `backtest` (its own database); and the source's label ("live", "backtest NAME").

    Raises UsageError (exit 2) for a backtest that does not exist, without creating its database; the message
    says what to do with `option`, the command's option that named it; and, when the reader makes `figures` of the
    books, for a config given that is not the one the backtest ran with (`reading_config`). A reader of its events
    alone (`events`, `trace`) computes nothing with the config: a trial with LLMTRADE_CONFIG_DIR exported could not
    list a backtest run under another."""
    if backtest is None:
        return app, "live"
    name = backtest_database(backtest)
    if not database_exists(locate(app.settings), name):
        live = option == "--backtest"
        instead = "or leave out --backtest for the live books" if live else f"or name another with {option}"
        sweep = sweep_named(app.settings, backtest)  # a sweep's name given for one of its runs'
        there = held(app.settings, BACKTESTS, backtest, "backtest")
        raise UsageError(
            f"no backtest named {backtest!r} (no database {name}); "
            # The command given whole: `llmtrade backtest --name X` alone is refused (it needs --from, --to and a
            # mode), so a newcomer following the hint met another error (found checking the README on a fresh home).
            + (
                sweep
                or f"{there}; run `llmtrade backtest --from D --to D --offline --name {backtest}` first, {instead}"
            )
        )
    reader, recorded = reading_config(replace(app, database=name), backtest, refuse=figures)
    if recorded != backtest:  # another spelling of its name (case, - or _): its books are labelled as it recorded
        app.say(
            f"{option} {backtest}: these are the books of backtest {recorded} (names that differ only in case or - "
            f"and _ share one database, {name}); they are shown as {recorded}"
        )
    return reader, f"backtest {recorded}"


def leaderboard(app: Container, *, backtest: str | None = None, versus: str | None = None) -> Leaderboard:
    """The leaderboard of the live books, or of the backtest named `backtest` (its own database); with
    `versus` (another backtest's name), also each account's weekly-return difference between the two books
    with its interval (`Leaderboard.paired`, analytics/paired.py), e.g. a backtest with memory on versus the
    same weeks with memory off.

    Read-only: storage is a draft view and no fetch is recorded. The live books with no trading yet are answered as
    that state (app/books_empty.py), not refused. Raises UsageError (exit 2) for a backtest that does not exist (without
    creating its database), `versus` naming the same books, books with nothing to rank yet, or books with no week in
    common with them."""
    # Names that differ only in case or - and _ name one database, so the same books.
    if versus is not None and backtest is not None and backtest_database(versus) == backtest_database(backtest):
        raise UsageError(
            f"--versus {versus} names the same books as --backtest {backtest}: compare two different backtests"
        )
    books_app, source = books(app, backtest)
    other_app, other_source = books(app, versus, option="--versus") if versus is not None else (None, "")
    with draws.drawn_apart(draws.import_pending()):  # arch imported, and its draws made, on the other core
        # One snapshot of a backtest's database: one still running commits a week between two reads. Live books are
        # left as they were: a live run commits its events in many transactions, and their reads may fetch and cache
        # prices, a write a snapshot could refuse for a concurrent one.
        with books_app.storage(persist=False) as storage, one_snapshot(storage.conn, backtest is not None):
            try:
                board = with_sweep_note(app, build_leaderboard(books_app, storage, source=source), backtest)
            except NoTradingYet as empty:
                if backtest is not None:  # a backtest's books are its command's: nothing in them says what stopped it
                    raise
                if versus is not None:  # the pairing asked for is none: said, not left out of an exit 0 (a trial)
                    raise UsageError(
                        f"--versus {versus}: the live books have no trading yet, so no week to pair with {versus}'s "
                        f"(no weekly run, checkpoint or fill); {empty.first}"
                    ) from None
                return nothing_to_rank(app, empty)
        if other_app is None:
            return board
        with other_app.storage(persist=False) as storage, one_snapshot(storage.conn, True):
            try:
                other = build_leaderboard(other_app, storage, source=other_source)
            except NoTradingYet as empty:  # nothing to compare with: said of the books --versus names
                raise UsageError(f"--versus {versus}: {empty}") from None
    paired = pairing(board, other)
    if other.unfinished:  # a trial found a comparison with a backtest that failed its audit said nothing of it
        paired = paired.model_copy(update={"notes": (f"{other.source}: {other.unfinished}", *paired.notes)})
    return board.model_copy(update={"paired": paired})


def with_sweep_note(app: Container, board: Leaderboard, backtest: str | None) -> Leaderboard:
    """`board` with a note when its books are a sweep's run (app/sweep_member.py): the sweep deflates its DSR for all
    the sweep's trials. Said by the reading commands only: the leaderboard a run hands its sweep is the run's own."""
    note = sweep_note(app.settings, board.source.removeprefix("backtest "), board.trials) if backtest else None
    return board.model_copy(update={"notes": (*board.notes, note)}) if note else board


def build_leaderboard(app: Container, storage: Storage, *, source: str) -> Leaderboard:
    """Every account of the config and the baselines (FLAT, SPY, EQUAL_WEIGHT) over the books in `storage`.

    `source` labels it ("live", "backtest NAME"); a backtest's books come with the config it ran with (a config given
    that is not it is refused before: app/backtest_config.py `reading_config`). Raises UsageError (exit 2) when the
    books hold no trading run or fill yet, MarketDataError (exit 1) when the closes of the range cannot be had."""
    config = app.loaded.config
    events = storage.events
    configured = {a.id for a in config.accounts.accounts}
    fills, brokers, traded = fills_of(events, configured)
    priced = fill_price_notes(fills)  # the fills recorded, before the shares handed over by hand join them
    runs = trading_runs(events)
    record = events.read_stream(streams.BACKTEST)
    # What gives books something to rank: live, the week's run; a backtest, its own command again (a resume), once
    # what stopped it is fixed when that would stop it again (a bad price file).
    first = "run `llmtrade run-weekly` first" if source == "live" else again(record, " first")
    first_at, last_at = span_of([e.occurred_at for e in valuing_runs(events, runs)], fills, first)
    calendar = app.calendar
    sessions = sessions_of(calendar, first_at, last_at)
    closes_at = [calendar.session_close(day) for day in sessions]
    held = {f.symbol for f in fills} | adopted_symbols(events, configured)
    symbols = list(dict.fromkeys([*config.assets.symbols, *sorted(held)]))
    run_ids = {e.run_id for e in runs if e.run_id}
    # Live: what each week could trade, less what its snapshot left out (prices ended), is what EQUAL_WEIGHT weighs.
    left_out = left_out_weeks(events) if source == "live" else {}
    # Watchlist modes: each week's fixed universe; live static books: each week's snapshot, where assets.yaml's changed.
    fixed = weekly_universes(events)
    weekly = fixed or snapshot_universes(events, config, left_out, sessions[0], source)
    ended: dict[str, date | None] = {}  # live: the symbols whose prices ended, to their last day in the range
    closes, synthetic, sources = closes_of(app, storage, symbols, sessions, run_ids, ended)
    more = weekly_closes(lambda some: closes_of(app, storage, some, sessions, run_ids, ended)[0], weekly, symbols)
    closes = {**closes, **more}
    fills = [*fills, *handed_over(events, configured, closes)]  # shares adopted (and released) by hand
    resets = recorded_resets(events)
    tradable = tradable_weeks(weekly, left_out, config.assets.symbols)
    tracks = tracks_of(config, fills, brokers, sessions, closes_at, closes, recorded_splits(events), tradable, resets)
    trial_names = {a.id for a in config.accounts.accounts if a.role in TRIAL_ROLES}
    # An account taken out of accounts.yaml after it traded was tried all the same (the FLAT account never trades):
    # left out of the count, dropping the losers raised the survivors' deflated Sharpe.
    removed = sorted(traded - configured)
    trials = len(trial_names) + len(removed)
    # A backtest trades one config from its first week to its last (a resume refuses another, backtest_inputs.py):
    # every account begins with it, and its valuations (tens of thousands) are not read back to say so.
    accounts = [a.id for a in config.accounts.accounts]
    late = late_starts(events, calendar, accounts, fills, sessions) if source == "live" else {}
    board = standings(tracks, trials=trials, trial_names=trial_names, starts=late)  # a late trial's own Sharpe
    board = late_rows(board, tracks, late, trials, trial_names)
    modes = trading_modes(events, runs)
    answered = models_answered(set(modes))
    # A mix (csv,synthetic) holds real prices a model may have read: split as real books are.
    only_synthetic = synthetic and sources <= {SYNTHETIC}
    # A backtest trades one config throughout (a resume refuses another): only live books can have swapped models.
    decided = last_weeks_decided(events) if source == "live" else {}
    periods, cutoff_notes = cutoff_periods(
        config,
        tracks,
        trials,
        trial_names,
        models_answered=answered,
        late=late,
        synthetic=only_synthetic,
        decided=decided,
    )
    notes = [
        f"from the close of {sessions[0]} to the close of {sessions[-1]}: "
        f"{counted(len(sessions) - 1, 'daily return')}; nothing after the last session in the books",
        f"trials = {trials}: the accounts compared (PMs and the chairman)"
        + (f", and {', '.join(removed)}, traded here and since taken out of accounts.yaml" if removed else "")
        + "; the deflated Sharpe assumes the best of that many was picked",
        RISK_FREE_NOTE,
        EXCESS_NOTE,
        TURNOVER_NOTE,
        # A period's length is its longest row's (a baseline's): the first account listed may have entered late.
        *_part_year(len(sessions) - 1, [max(s.sessions for s in p.standings) for p in periods if p.standings]),
        *cutoff_notes,
        *filter(None, [offline_note(modes)]),
        *fee_notes(config),
        *(note for track in tracks for note in track.notes),
        *(span_note(account, sessions, start, periods=bool(periods)) for account, start in late.items()),
        *filter(None, [short_note(short_spans(len(sessions) - 1, board, late, periods))]),
        *filter(None, [removed_note(traded, configured)]),
        # A backtest trades one config throughout (a resume refuses another): only live books can change models.
        *(models_notes(events) if source == "live" else []),
        *(cash_warnings(app, events) if source == "live" else []),
        *reset_notes(resets, configured),
        *filter(None, [flat_account_note([a.id for a in config.accounts.accounts if a.role is AccountRole.FLAT])]),
        *same_books_notes([t.curve for t in tracks], trial_names),
        *filter(None, [open_trades_note(holding([t.curve for t in tracks]), sessions[-1])]),
        *filter(None, [intraday_note(within_sessions(board)), wiped_note([t.curve for t in tracks])]),
    ]
    folder = csv_folder(app, record)
    beside = adjusted_beside(folder, symbols) if CSV in sources else False
    prices, prices_note = price_basis(sources, snapshot=snapshot_provider(folder), adjusted_beside=beside)
    notes += filter(None, [prices_note, universe_note(config, record, weekly, snapshots=not fixed)])
    # A killed backtest's books: say so first, with the part of its unfinished week the figures hold, and whether it
    # is running still (its lock held by another process) rather than to be resumed.
    stopped = unfinished(record, through=sessions[-1], running=bool(record) and held_elsewhere(storage.conn))
    if stopped:
        notes.insert(0, stopped)
    mixed = mixed_books_note(events) if source == "live" else None  # books an earlier build let mix: first of all
    if mixed:
        notes.insert(0, mixed)
    notes += filter(None, [open_week_note(events, sessions[-1]) if source == "live" else None])
    if source == "live":  # a backtest's clock is its own: its records are stamped with the week it replays
        notes += filter(None, [clock_behind([e.occurred_at for e in runs], app.clock.now(), "the leaderboard")])
    # Prices that may book a split as a loss, and symbols whose positions a delisting closed: beside the figures.
    notes += filter(None, [jumps_note(record), delisted_note(record), ended_note(ended, left_out, fills, sessions[0])])
    notes += filter(None, [audit_note(record)])
    notes += priced
    if synthetic:
        notes.append("prices are synthetic (the seeded synthetic market): these figures say nothing about real markets")
    troubled = failure_note(run_lines(with_waits(events, runs)))
    notes += [troubled] if troubled else []
    notes += halt_notes(control_lines(events.read(type=list(CONTROL_TYPES))), last_at)
    notes += [*filter(None, [levels_note(board)]), *missing_figure_notes(board)]
    notes += [f"{p.label}: {note}" for p in periods for note in missing_figure_notes(p.standings)]
    backtest = source != "live"  # its weeks are its range's: more come from a longer range, not a wait
    notes += filter(None, [undecided_note(board, backtest=backtest)])
    if periods:  # the weeks after the cutoff are the evidence: say whether they tell anyone apart
        after = periods[-1]
        undecided_after = undecided_note(after.standings, backtest=backtest)
        if undecided_after:
            notes.append(f"{after.label}: {undecided_after}")
    notes += filter(None, [range_note(board, unfinished=stopped is not None) if backtest else None])
    return Leaderboard(
        source=source,
        start=sessions[0],
        end=sessions[-1],
        sessions=len(sessions) - 1,
        trials=trials,
        bootstrap=metrics.bootstrap_description(),
        standings=board,
        periods=periods,
        curves=tuple(t.curve for t in tracks),
        notes=tuple(notes),
        verdict=verdict(board, periods, notes, trials),
        prices=prices,
        closes=closes,
        unfinished=stopped,
        unfinished_week=week_not_done(record),
    )


RISK_FREE_NOTE = f"ratios are against {RISK_FREE}"


def _part_year(returns: int, periods: Sequence[int]) -> list[str]:
    """A note when the books, or a knowledge-cutoff period, hold under a year of daily returns: CAGR and Calmar then
    extrapolate a part-year (GIPS would not annualise it), which a reader of a few weeks' +40% CAGR should know."""
    # Under MIN_RETURNS_FOR_RATIO a span shows no CAGR or Calmar at all (analytics/standings.py): none to extrapolate.
    shown = [n for n in [returns, *periods] if n >= metrics.MIN_RETURNS_FOR_RATIO]
    if not shown or min(shown) >= metrics.SESSIONS_PER_YEAR:
        return []
    shortest = min(shown)
    which = (
        counted(returns, "daily return") if shortest == returns else f"a period has {counted(shortest, 'daily return')}"
    )
    return [
        f"under a year ({which}, of {metrics.SESSIONS_PER_YEAR} a year): CAGR and Calmar extrapolate it to a "
        "year, and GIPS would not show them; the total return is what was earned"
    ]


def models_answered(modes: set[str | None]) -> bool:
    """Whether a model answered any of the trading runs whose RunStarted modes are `modes`: False only when every
    one ran offline (the rules provider), whose books have no knowledge cutoff (app/cutoff_periods.py)."""
    return modes != {LLMMode.OFFLINE.value}


def draw_ahead(
    config: Config, calendar: TradingCalendar, first_at: datetime, last_at: datetime, *, mode: LLMMode
) -> None:
    """Ask for the bootstrap draws of books traded from `first_at` to `last_at` in `mode` now (metrics.draw_ahead),
    so a `draws.drawn_apart` worker makes them while the trading runs: the whole range's and, when models answer
    (not offline), split at their knowledge cutoff, each period's. A guess at what `build_leaderboard` will need (a
    backtest's first and last scheduled instants); draws of another length are made when asked, as without it."""
    sessions = sessions_of(calendar, first_at, last_at)
    counts = [len(sessions) - 1]
    cutoff = latest_cutoff(config) if models_answered({mode.value}) else None
    split = None if cutoff is None else split_at(sessions, cutoff)
    if split is not None:
        counts += [split, len(sessions) - 1 - split]
    metrics.draw_ahead(counts)
