"""A week's jobs run in the mode and on the kind of prices (synthetic or real) it began with, whatever is set now.

The README's first command trades a week offline (no keys: the rules provider, synthetic prices, paper brokers).
Once keys are set, every later invocation is live, and a live run cannot continue an offline week (its research,
decisions and orders would mix synthetic and real: workflows/weekly.py `require_same_mode`). So `run-due` refused
the offline week's remaining checkpoints, its event checkpoints and its postmortem at every wake-up (exit 1 every
five minutes from cron), and never reached the first live week's weekly run. Now the week's jobs run offline, as
the week began, on the paper brokers (never an Alpaca account, keys or not), with a warning; the next week is the
first live one. A live week is never continued offline: that is still refused (`require_same_mode`).

The kind of prices is the week's too. The mode alone did not fix it: a user who set a CSV folder (or
LLMTRADE_MARKET_PROVIDERS) with the keys had the synthetic week's offline checkpoints price on real files, so its
orders, sized by the risk gate at synthetic prices, filled at real ones (GLD sized at a synthetic 108 filled at a real
409: 75% of the account in one position, past the gate's 20%), and its positions were closed and judged at prices
they were never opened at. A week priced on the synthetic market keeps it to its end; a week priced on real prices
is never continued on the synthetic market (refused: give the prices it began with).

And a week begins on the kind of prices of the books' earlier weeks. The offline demo's books (synthetic) are not
continued on real prices, nor real books on the synthetic market: refused at the week's first job, naming the weeks
and what to do (real books begin apart, in another LLMTRADE_HOME or DATABASE_URL). Carried over, the demo's positions
were valued at real prices (fictional gains and losses, a breaker halted by a made-up drawdown), the risk gate sized
the first real week off those equities, and `status` and the leaderboard ranked both kinds of prices as one record.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from llmtrade.app.container import Container
from llmtrade.domain.research import MarketSnapshotTaken
from llmtrade.domain.runs import RunStarted
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import UsageError
from llmtrade.llm.gateway import LLMMode
from llmtrade.market.calendar import new_york_date
from llmtrade.market.providers import provider_names
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.weekly import week_mode

SYNTHETIC = "synthetic"


def in_week_mode(app: Container, week_id: date, *, warn: bool = True) -> Container:
    """`app`, or a copy of it in the mode and on the prices `week_id` began with (`as_week_began`); a warning says so
    unless `warn` is False (the caller says it if it runs anything)."""
    held, note = as_week_began(app, week_id)
    if note is not None and warn:
        app.warning(note)
    return held


def as_week_began(app: Container, week_id: date) -> tuple[Container, str | None]:
    """`app` held to what `week_id` began with, and what to say of it (None: `app` as it is). Offline when it began
    offline and `app` is not; on the synthetic market when its snapshot was synthetic and `app`'s market is not.
    Raises UsageError when the week was priced on real prices and `app`'s market is the synthetic one alone, and when a
    week not begun would be priced on the other kind than the books' earlier weeks (`require_the_books_kind`). A few
    reads (the week's first run, its snapshot, else the earlier weeks'); none for a backtest's jobs (one mode, one
    provider)."""
    if not app.pins_weeks:
        return app, None
    with app.storage() as storage:
        started = week_mode(storage.events, week_id)
        synthetic = week_synthetic(storage.events, week_id)
        # A week not begun yet begins on the kind of prices the books' earlier weeks were priced on.
        kinds = book_kinds(storage.events, week_id) if synthetic is None else {}
    if started is not None and started != LLMMode.OFFLINE.value and app.mode is LLMMode.OFFLINE:
        return app, None  # a live week is never continued offline: require_same_mode refuses it, saying so
    offline = started == LLMMode.OFFLINE.value and app.mode is not LLMMode.OFFLINE
    held = replace(app, offline=True, replay=False, live_misses_usd=None) if offline else app
    names = provider_names(held.loaded.config.assets, held.settings, live=held.live)
    require_the_books_kind(kinds, week_id, synthetic=names == [SYNTHETIC])
    if synthetic is False and names == [SYNTHETIC]:
        raise UsageError(
            f"week {week_id} was priced on real prices, and the market set now is the synthetic one alone: its "
            "positions would be valued, closed and judged at made-up prices. Give the prices it began with (the CSV "
            "folder, or the keys)"
        )
    pin = synthetic is True and names != [SYNTHETIC]
    if pin:
        # LLMTRADE_MARKET_PROVIDERS, for this week's jobs only: provider_names then gives the synthetic market alone.
        held = replace(held, settings=held.settings.model_copy(update={"market_providers": SYNTHETIC}))
    if not offline and not pin:
        return app, None
    return held, week_note(week_id, offline=offline, synthetic=pin or synthetic is True, pinned=pin)


def as_books_priced(app: Container, events: EventStore) -> Container:
    """`app`, or a copy of it on the synthetic market when the books' latest week was priced on it and the market set
    now is another: what a command that values the books (status, positions, breaker reset) reads. With keys and a
    CSV folder set after the quick start's week, `status` valued its synthetic positions at the real files' prices (a
    USO short at a synthetic 11 shown at a real 72: -110%), before any week had traded on them."""
    if not app.pins_weeks:
        return app
    # The weeks run, latest first, to the first with a snapshot (a week's first run may have failed before taking it):
    # a read or two, not every week's snapshot.
    weeks = reversed(events.week_ids(RunStarted.event_type()))
    latest = next((kind for kind in (week_synthetic(events, w) for w in weeks) if kind is not None), None)
    if not latest:
        return app
    names = provider_names(app.loaded.config.assets, app.settings, live=app.trading_is_live(events))
    if names == [SYNTHETIC]:
        return app
    return replace(app, settings=app.settings.model_copy(update={"market_providers": SYNTHETIC}))


def week_synthetic(events: EventStore, week_id: date) -> bool | None:
    """Whether the week's market snapshot (its weekly run's first stage, frozen for the week) was priced on the
    synthetic market; None before it has one."""
    found = events.read(week_id=week_id, type=MarketSnapshotTaken.event_type(), limit=1)
    return events.payload(MarketSnapshotTaken, found[0]).snapshot.synthetic if found else None


def book_kinds(events: EventStore, before: date) -> dict[date, bool]:
    """Whether each week before `before` with a market snapshot was priced on the synthetic market (read from the
    stored payloads, not parsed: one small lookup per week)."""
    return {
        e.week_id: bool(e.payload["snapshot"]["synthetic"])
        for e in events.read(type=MarketSnapshotTaken.event_type())
        if e.week_id is not None and e.week_id < before
    }


def mixed_books_note(events: EventStore) -> str | None:
    """What the books' figures are when an earlier build let them mix the kinds of prices (the synthetic demo's weeks,
    then real ones, or the reverse): said first by the leaderboard and by status, as every figure mixes the two."""
    kinds = book_kinds(events, date.max)
    synthetic = sorted(week for week, kind in kinds.items() if kind)
    real = sorted(week for week, kind in kinds.items() if not kind)
    if not synthetic or not real:
        return None
    return (
        f"these books mix kinds of prices: {_span(synthetic)} on the synthetic market, {_span(real)} on real prices; "
        "positions opened at one kind were valued and closed at the other, so every figure here mixes made-up and "
        "real prices. Begin real books apart (another LLMTRADE_HOME or DATABASE_URL): a week is no longer begun on "
        "the other kind in the same books"
    )


def _span(weeks: list[date]) -> str:
    """Sorted weeks as the notes name them: "week D", or "weeks D to E" (first to last)."""
    return f"week {weeks[0]}" if len(weeks) == 1 else f"weeks {weeks[0]} to {weeks[-1]}"


def require_the_books_kind(kinds: dict[date, bool], week_id: date, *, synthetic: bool) -> None:
    """A week begins on the kind of prices of the books' earlier weeks (`kinds`), never the other: the quick start's
    synthetic weeks, then keys set, carried the demo's positions, cash and peaks into the first real week (GLD bought
    at a synthetic 113 sold at a real 437: +58% for one account; a USO short at a synthetic 11 valued at a real 72:
    -110% and its breaker halted; the risk gate sized the real week's orders off those equities), and the
    leaderboard and status ranked the two together. Raises UsageError naming the weeks and what to do."""
    other = sorted(week for week, kind in kinds.items() if kind != synthetic)
    if not other:
        return
    weeks = _span(other)
    if synthetic:
        raise UsageError(
            f"week {week_id} would be priced on the synthetic market, but these books hold weeks priced on real "
            f"prices ({weeks}): their positions, cash and peaks would be valued, traded and ranked at made-up prices. "
            "Give the real prices (the CSV folder, or the keys), or run the synthetic market in books of their own "
            "(another LLMTRADE_HOME or DATABASE_URL)"
        )
    raise UsageError(
        f"week {week_id} would be priced on real prices, but these books hold weeks priced on the synthetic market "
        f"({weeks}, the offline demo's): their positions, cash and peaks would be carried into real ones at prices "
        "they were never traded at (a position bought at a synthetic price valued at a real one), and ranked with "
        "them. Begin the real books apart: another LLMTRADE_HOME (or DATABASE_URL); these stay readable under this "
        "one. Or keep these on the synthetic market (LLMTRADE_MARKET_PROVIDERS=synthetic)"
    )


def next_week_refused(app: Container, events: EventStore) -> str | None:
    """Why the next week to begin would be refused in these books on the prices set now (`require_the_books_kind`), or
    None: what `config validate` and `status` say (app/config_books.py `books_notes`). A trial set keys and a CSV folder
    after the quick start's week: `config validate` said "configuration OK", and the next week's run refused it (exit
    2) at its first wake-up. Not said of books that mix the kinds already (`mixed_books_note` says it), nor when the
    prices set now cannot be named (an unknown LLMTRADE_MARKET_PROVIDERS: every job refuses it, naming it)."""
    if not app.pins_weeks:
        return None
    kinds = book_kinds(events, date.max)
    if not kinds or len(set(kinds.values())) > 1:
        return None
    week = week_id_for(new_york_date(app.clock.now()))
    if week in kinds:  # begun: it keeps its own kind to its end (`as_week_began`); the next one is the first refused
        week += timedelta(days=7)
    try:
        names = provider_names(app.loaded.config.assets, app.settings, live=app.live)
    except UsageError:
        return None
    try:
        require_the_books_kind(kinds, week, synthetic=names == [SYNTHETIC])
    except UsageError as exc:
        return f"with the prices set now ({', '.join(names)}), the next week's run will be refused: {exc}"
    return None


def week_note(week_id: date, *, offline: bool, synthetic: bool, pinned: bool) -> str:
    """What `as_week_began` says of a week it holds to its beginning; `pinned`: held to the synthetic market while real
    prices are set, so the next week, which would begin on them, is refused in these books (`require_the_books_kind`):
    said now, not first at that week's run."""
    prices = "synthetic prices" if synthetic else "the real prices it began on"
    then = (
        "the next week, on the real prices set now, cannot begin in these books priced on the synthetic market: begin "
        "the real books apart (another LLMTRADE_HOME or DATABASE_URL)"
        if pinned
        else "the next week is the first in the mode set now"
    )
    if offline:
        return (
            f"week {week_id} began offline: its jobs run offline to its end (the rules provider, {prices}, paper "
            f"brokers), as it began; {then}"
        )
    return (
        f"week {week_id} was priced on the synthetic market: its jobs price on it to its end (its positions were "
        f"opened at synthetic prices, and real ones would value and close them at fiction); {then}"
    )
