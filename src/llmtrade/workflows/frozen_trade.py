"""What checkpoints and the postmortem judge a week by: the trade frozen on Wednesday, and prices and
indicators now. Checkpoints may read nothing newer than the frozen trade (no new research mid-week).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from llmtrade.config.models import BENCHMARK, AccountRole, Config, ModelRef
from llmtrade.domain.committee import DecisionMade, Invalidation, PitchSubmitted, Threshold, WatchedIndicator
from llmtrade.domain.events import LLMCallCompleted, StoredEvent
from llmtrade.domain.ledger import Split, split_since
from llmtrade.domain.market import IndicatorSet, Quote
from llmtrade.domain.streams import DECISION, PITCHES, week_stream
from llmtrade.market.calendar import new_york_date
from llmtrade.market.held_prices import held_closes
from llmtrade.market.indicators import indicators_of
from llmtrade.market.jumps import last_suspect
from llmtrade.market.quote_provider import QuoteSource
from llmtrade.market.service import MarketData
from llmtrade.memo import IdentityMemo
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.desk import Desk


@dataclass(frozen=True)
class FrozenTrade:
    """What the account committed to on Wednesday."""

    instrument: str
    direction: str
    conviction: int
    thesis: list[str]
    watched: list[WatchedIndicator]
    invalidation: Invalidation
    owner: ModelRef
    frozen_at: datetime | None = None  # when it was stored (a split after it moves its price levels: `through_splits`)
    # Said when models.yaml's entry for the trade's PM (or the chairman) names another model now than the one that made
    # the trade at the weekly run: the owner is still that model (`_owner`), and this says so. None otherwise.
    note: str | None = None
    # The note's first half, who names what now and which model made the trade, for the postmortem to say in its own
    # words who wrote the week's reflection. None when `note` is.
    swap: str | None = None


def frozen_events(events: EventStore, week_id: date, role: AccountRole) -> list[StoredEvent]:
    """What an account of `role` froze the week by, as stored: the chairman's DecisionMade, else the pitches."""
    if role is AccountRole.CHAIRMAN:
        return events.read(stream=week_stream(week_id, DECISION), type=DecisionMade.event_type())
    return events.read(stream=week_stream(week_id, PITCHES), type=PitchSubmitted.event_type())


def frozen_trade(
    events: EventStore, week_id: date, desk: Desk, config: Config, *, found: list[StoredEvent] | None = None
) -> FrozenTrade | None:
    """The trade the desk's account froze for the week (its PM's pitch, or the chairman's decision), None when
    nothing is frozen yet. Built once per frozen event: the week's checkpoints ask it of every account.
    `found`: `frozen_events` for the account's role, when the caller read them for several accounts at once."""
    account = desk.account
    if found is None:
        found = frozen_events(events, week_id, account.role)
    if not found:
        return None
    # Keyed by the events read (kept beside the answer, so no id is reused while its entry lives): the stream is
    # append-only, so the same first and last event and count are the same pitches (a draft over a partly stored
    # stream shares the first, not the last), and the answer is the same for the same account and config (a
    # config object is never changed).
    key = (id(found[0]), id(found[-1]), len(found), account.id, account.role, id(config))
    with _FROZEN_LOCK:
        kept = _FROZEN.get(key)
    if kept is not None and kept[0] is found[0] and kept[1] is found[-1] and kept[2] is config:
        return kept[3]
    frozen = _frozen_of(events, found, account.id, account.role, config)
    with _FROZEN_LOCK:
        if len(_FROZEN) >= _FROZEN_KEPT:
            _FROZEN.clear()
        _FROZEN[key] = (found[0], found[-1], config, frozen)
    return frozen


_FROZEN: dict[
    tuple[int, int, int, str, AccountRole, int], tuple[StoredEvent, StoredEvent, Config, FrozenTrade | None]
] = {}
_FROZEN_KEPT = 256
_FROZEN_LOCK = threading.Lock()


def _frozen_of(
    events: EventStore, found: list[StoredEvent], account_id: str, role: AccountRole, config: Config
) -> FrozenTrade | None:
    if role is AccountRole.CHAIRMAN:
        decision = events.payload(DecisionMade, found[0]).decision
        now = config.models.chairman
        owner, note, swap = (
            (now, None, None)
            if now.model == decision.model
            else _maker(events, found[0], config, now, decision.model, decision.account_id)
        )
        return FrozenTrade(
            decision.selected_trade.instrument,
            decision.selected_trade.direction,
            decision.conviction,
            [decision.rationale],
            decision.monitoring_plan.key_indicators,
            decision.invalidation,
            owner,
            found[0].occurred_at,
            note,
            swap,
        )
    for event in found:
        # Parsed once per process (the store keeps it): every checkpoint asks for every account's pitch.
        pitch = events.payload(PitchSubmitted, event).pitch
        if pitch.account_id == account_id:
            owner, note, swap = _owner(events, event, config, pitch.pm_id, pitch.account_id, pitch.model)
            return FrozenTrade(
                pitch.instrument,
                pitch.direction,
                pitch.conviction,
                pitch.thesis_bullets,
                pitch.indicators,
                pitch.invalidation,
                owner,
                event.occurred_at,
                note,
                swap,
            )
    return None


def _owner(
    events: EventStore, made: StoredEvent, config: Config, pm_id: str, account_id: str, model: str
) -> tuple[ModelRef, str | None, str | None]:
    """The model entry that judges a pitch's trade through its week, and a note when models.yaml names another model for
    its PM now: its PM's entry while it names the pitch's model; a PM renamed since Wednesday (the same model on the
    same account) by its new entry; else the model that made the trade (`_maker`). A PM renamed mid-week whose model
    runs on a second provider had its checkpoints ask the first provider for a model it may not serve; a PM whose model
    was swapped under the same id had the new model judge the old one's trade."""
    pms = config.models.pms
    entry = next((pm for pm in pms if pm.id == pm_id), None)
    if entry is not None and entry.model == model:
        return entry, None, None
    renamed = next((pm for pm in pms if pm.account == account_id and pm.model == model), None)
    if renamed is not None:
        return renamed, None, None
    return _maker(events, made, config, entry, model, account_id, pm_id)


def _maker(
    events: EventStore,
    made: StoredEvent,
    config: Config,
    entry: ModelRef | None,
    model: str,
    account_id: str,
    pm_id: str | None = None,
) -> tuple[ModelRef, str | None, str | None]:
    """The model that made the week's trade (`made`: its PitchSubmitted or DecisionMade), when models.yaml's entry for
    it (`entry`: the PM of the same id, or the chairman; None when gone) names another model now or none: the week's
    trade is judged by the model that made it, from the week's frozen inputs, as the weekly run asked it (the provider
    and max_tokens its answer recorded, LLMCallCompleted of the same run and account); the new model takes over at
    the next weekly run. Its other settings (temperature): the role's entry's, else another entry's for the same
    model. The note says so, and its first half alone is the swap (both None when the entry is gone: nothing was
    swapped)."""
    asked = [
        call
        for call in events.read(run_id=made.run_id, type=LLMCallCompleted.event_type(), account_id=account_id)
        if call.payload.get("model") == model and call.payload.get("role") in _TRADE_ROLES
    ]
    same = next((ref for _, ref in config.models.model_refs() if ref.model == model), None)
    base = entry or same or ModelRef(model=model, provider=next(iter(config.models.providers)))
    settings = {name: getattr(base, name) for name in ModelRef.model_fields} | {"model": model}
    if asked and asked[-1].payload.get("provider") in config.models.providers:
        settings["provider"] = asked[-1].payload["provider"]
        settings["max_tokens"] = asked[-1].payload.get("max_tokens") or base.max_tokens
    owner = ModelRef(**settings)
    if entry is None:
        return owner, None, None
    who = f"PM {pm_id}" if pm_id else "the chairman"
    swap = (
        f"{made.account_id}: {who} names {entry.model} in models.yaml now; the week's trade was made by {model} at "
        "the weekly run"
    )
    note = (
        f"{swap}, so {model} judges it through the week, from the week's frozen inputs ({entry.model} takes over at "
        "the next weekly run)"
    )
    return owner, note, swap


_TRADE_ROLES = ("pm_pitch", "chairman_decision")


def through_splits(frozen: FrozenTrade, splits: Sequence[Split], now: datetime) -> FrozenTrade:
    """`frozen` with its price levels (thresholds on `close`) in today's shares: divided by the ratio of each split of
    its instrument come by `now` that the prices it was frozen on (the closes before its day) were not restated for
    yet (`split_since`). A stop at 'close < 380' frozen before a 4-for-1 split is 'close < 95' after it; as frozen,
    the first price after the split (100) held it, and the checkpoint sold the whole position on an invalidation that
    never happened. The same trade when none applies."""
    at = frozen.frozen_at
    if at is None:
        return frozen
    ratio = split_since(splits, frozen.instrument, new_york_date(at) - timedelta(days=1), at, now)
    if ratio == 1.0:
        return frozen

    def level(t: Threshold) -> Threshold:
        return t.model_copy(update={"value": t.value / ratio}) if t.indicator == "close" else t

    watched = [w.model_copy(update={"threshold": level(w.threshold)}) for w in frozen.watched]
    invalidation = frozen.invalidation.model_copy(update={"rule": level(frozen.invalidation.rule)})
    return replace(frozen, watched=watched, invalidation=invalidation)


def current_quotes(quotes: QuoteSource, symbols: list[str], now: datetime) -> dict[str, Quote]:
    """Each symbol's price at `now` with its source and time (the quote service: intraday in session,
    the last close when the market is closed). Raises MarketDataUnavailable (exit 75) in session
    when some symbol has no current price. Asked together: one provider call and one QuoteFetched for the
    lot, where one per symbol cost a checkpoint seven of each."""
    return quotes.quotes(list(dict.fromkeys(symbols)), now)


def priced_quotes(quotes: QuoteSource, symbols: list[str], now: datetime) -> tuple[dict[str, Quote], dict[str, str]]:
    """`current_quotes` as far as they go: the symbols priced, and why each other symbol has no price (a refused
    print, a provider without it), instead of raising for all; each caller decides what needs which price."""
    return quotes.priced(list(dict.fromkeys(symbols)), now)


def current_prices(
    market: MarketData, symbols: list[str], now: datetime, quotes: QuoteSource | None = None
) -> dict[str, float]:
    """Prices now: from `quotes` when given (see `current_quotes`); without it, the latest price a daily
    feed knows (today's open once the session has opened, else the last close)."""
    if quotes is not None:
        return {symbol: quote.price for symbol, quote in current_quotes(quotes, symbols, now).items()}
    return _opened(market, market.last_closes(symbols, now), symbols, now)


def held_current_prices(
    market: MarketData, symbols: list[str], now: datetime
) -> tuple[dict[str, float], dict[str, str]]:
    """`current_prices` of `symbols` (held outside the universe), each that a provider has; why each other has none:
    one symbol no provider has must neither fail the rest nor be valued at a made-up price."""
    prices, problems = held_closes(market, symbols, now)
    return _opened(market, prices, list(prices), now), problems


def _opened(market: MarketData, closes: dict[str, float], symbols: list[str], now: datetime) -> dict[str, float]:
    """`closes` (symbol -> last close) with each of `symbols` priced at today's open once the session has opened (in
    place)."""
    day = new_york_date(now)
    if market.calendar.is_session(day) and now >= market.calendar.session_open(day):
        for symbol in symbols:
            opened = market.opening_price(symbol, day)
            if opened is not None:
                closes[symbol] = opened
    return closes


def indicator_values(
    market: MarketData,
    symbol: str,
    now: datetime,
    price: float,
    position_pnl_pct: float | None,
    *,
    held: dict[str, IndicatorSet] | None = None,
    suspects: dict[str, str | None] | None = None,
) -> dict:
    """The watched quantities now: indicators as of the last complete session, with the price-based
    ones moved to the current price, and the position's P/L (None where it is undefined: its rules read unknown).
    `held`: indicator sets already read at this same `now` from this same market, by symbol (filled in here), so
    accounts holding the same instrument at one checkpoint read its bars once (one MarketDataFetched, not one per
    account).
    `suspects` (filled in with `held`): what the symbol's last bar looks like when it is not a price to size off
    (market/jumps.py `last_suspect`), else None."""
    ind = held.get(symbol) if held is not None else None
    if ind is None:
        series = market.bars_asof([symbol, BENCHMARK], now, sessions=300)
        ind = indicators_of(series.bars[symbol], series.bars.get(BENCHMARK) or None)
        if held is not None:
            held[symbol] = ind
        if suspects is not None:
            jump = last_suspect(symbol, series.bars[symbol])
            suspects[symbol] = jump.looks_like() if jump is not None else None
    values = dict(_numbers_of(ind))
    values["close"] = price
    for window in (20, 50, 200):
        sma = getattr(ind, f"sma_{window}")
        values[f"price_vs_sma_{window}"] = price / sma - 1 if sma else None
    values["pnl_pct"] = position_pnl_pct
    return values


# The numbers of the last indicator sets asked about: the checkpoints of a day share the day's set
# (market/indicators.py `indicators_of`).
_NUMBERS: IdentityMemo[IndicatorSet, dict[str, float | None]] = IdentityMemo(64)


def _numbers_of(ind: IndicatorSet) -> dict[str, float | None]:
    """The set's numeric fields (floats and missing values) by name, in field order. Shared: not to be changed."""
    return _NUMBERS.of(ind, _numbers)


def _numbers(ind: IndicatorSet) -> dict[str, float | None]:
    return {name: value for name, value in ind.model_dump().items() if isinstance(value, float) or value is None}
