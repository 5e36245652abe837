"""The current watchlist folded from the discovery stream: the last run's list, however many runs came before
(issue 13: it is found from the end and parsed alone, not every run's list since the first)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from llmtrade.discovery.watchlist import fold
from llmtrade.domain.discovery import WatchlistEdited, WatchlistEntry, WatchlistSet
from llmtrade.domain.events import EventPayload, NewEvent, StageStarted, StoredEvent
from llmtrade.domain.streams import DISCOVERY, WATCHLIST_EDITS

T0 = datetime(2026, 1, 6, 21, tzinfo=UTC)


def _stored(payload: EventPayload, n: int, stream: str = DISCOVERY) -> StoredEvent:
    new = NewEvent.of(payload, stream=stream)
    return StoredEvent(**new.model_dump(), id=n, version=n, occurred_at=T0 + timedelta(days=n))


def _listed(n: int, *symbols: str) -> WatchlistSet:
    entries = [WatchlistEntry(symbol=s, asset_class="equity", rank=i, score=1.0) for i, s in enumerate(symbols, 1)]
    return WatchlistSet(asof=T0 + timedelta(days=n), session=date(2026, 1, 6) + timedelta(days=n), entries=entries)


def test_the_last_run_s_list_is_the_watchlist_with_other_events_after_it() -> None:
    discovery = [
        _stored(_listed(1, "SPY", "QQQ"), 1),
        _stored(_listed(2, "TLT"), 2),
        _stored(_listed(3, "GLD", "IWM"), 3),
        _stored(StageStarted(stage="discover"), 4),  # a later event of another kind changes nothing
    ]
    edits = [_stored(WatchlistEdited(symbol="IWM", action="exclude", asset_class="equity"), 5, WATCHLIST_EDITS)]

    watchlist = fold(discovery, edits)

    assert watchlist.latest == _listed(3, "GLD", "IWM") and watchlist.latest_id == 3
    assert [e.symbol for e in watchlist.effective(5)] == ["GLD"]
    assert fold([], []).latest is None and fold([], []).latest_id is None
    assert fold(discovery[3:], []).latest is None
