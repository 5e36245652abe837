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
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from llmtrade.app.container import Container
from llmtrade.domain.research import MarketSnapshotTaken
from llmtrade.errors import UsageError
from llmtrade.llm.gateway import LLMMode
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
    Raises UsageError when the week was priced on real prices and `app`'s market is the synthetic one alone. Two reads
    (the week's first run, its snapshot); none for a backtest's jobs (one mode, one provider)."""
    if not app.pins_weeks:
        return app, None
    with app.storage() as storage:
        started = week_mode(storage.events, week_id)
        synthetic = week_synthetic(storage.events, week_id)
    offline = started == LLMMode.OFFLINE.value and app.mode is not LLMMode.OFFLINE
    held = replace(app, offline=True, replay=False, live_misses_usd=None) if offline else app
    names = provider_names(held.loaded.config.assets, held.settings, live=held.live)
    if synthetic is False and names == [SYNTHETIC]:
        raise UsageError(
            f"week {week_id} was priced on real prices, and the market set now is the synthetic one alone: its "
            "positions would be valued, closed and judged at made-up prices. Give the prices it began with (the CSV "
            "folder, or the keys), or wait for the next week"
        )
    pin = synthetic is True and names != [SYNTHETIC]
    if pin:
        # LLMTRADE_MARKET_PROVIDERS, for this week's jobs only: provider_names then gives the synthetic market alone.
        held = replace(held, settings=held.settings.model_copy(update={"market_providers": SYNTHETIC}))
    if not offline and not pin:
        return app, None
    return held, week_note(week_id, offline=offline, synthetic=pin or synthetic is True)


def week_synthetic(events: EventStore, week_id: date) -> bool | None:
    """Whether the week's market snapshot (its weekly run's first stage, frozen for the week) was priced on the
    synthetic market; None before it has one."""
    found = events.read(week_id=week_id, type=MarketSnapshotTaken.event_type(), limit=1)
    return events.payload(MarketSnapshotTaken, found[0]).snapshot.synthetic if found else None


def week_note(week_id: date, *, offline: bool, synthetic: bool) -> str:
    """What `as_week_began` says of a week it holds to its beginning."""
    prices = "synthetic prices" if synthetic else "the real prices it began on"
    if offline:
        return (
            f"week {week_id} began offline: its jobs run offline to its end (the rules provider, {prices}, paper "
            "brokers), as it began; the next week is the first in the mode set now"
        )
    return (
        f"week {week_id} was priced on the synthetic market: its jobs price on it to its end (its positions were "
        "opened at synthetic prices, and real ones would value and close them at fiction); the next week is the first "
        "on the prices set now"
    )
