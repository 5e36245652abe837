"""A provider's correction of a bar the cache holds (Alpaca recalculates bars with trades reported late or busted; a
vendor fixes a row) replaced the cached prices without a word at the next fetch of a range holding it: the close the
books were valued at, or a paper order filled at, changed under the leaderboard with nothing on record. Now the new
bar is taken, recorded (BarsRevised) and said; another provider's different prices, and a split, are not revisions."""

from __future__ import annotations

from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.market_series import START, good_bars, market

SESSIONS = TradingCalendar().sessions_between(START, good_bars()[-1].day)
FIXED = SESSIONS[5]


def _row(b: object, close: float | None = None) -> dict[str, object]:
    """A daily bar as Alpaca sends it (stamped at New York midnight), its close as given."""
    c = b.close if close is None else close  # type: ignore[attr-defined]
    high, low = max(b.high, c), min(b.low, c)  # type: ignore[attr-defined]
    return {"t": f"{b.day}T05:00:00Z", "o": b.open, "h": high, "l": low, "c": c, "v": b.volume, "n": 900}  # type: ignore[attr-defined]


def test_a_cached_bar_the_feed_corrects_is_taken_recorded_and_said(storage: Storage) -> None:
    said: list[str] = []
    bars = good_bars()
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        server.add_bars("SPY", [_row(b) for b in bars])
        alpaca = AlpacaBarProvider("k", "s", url_override=server.base_url, timeout_seconds=2, retry_attempts=0)
        read = market(storage, alpaca, say=said.append)
        read.bars(["SPY"], START, SESSIONS[-2])
        old = next(b for b in bars if b.day == FIXED)
        server.add_bars("SPY", [_row(old, close=round(old.close * 1.01, 2))])  # the feed's correction of that day
        series = read.bars(["SPY"], START, SESSIONS[-1])  # the next day's read: the range fetched again
    new = next(b for b in series.bars["SPY"] if b.day == FIXED)
    assert new.close == round(old.close * 1.01, 2)
    assert BarCache(storage.conn).closes(["SPY"], FIXED, FIXED, synthetic=False)["SPY"][FIXED] == new.close
    [revised] = [e.payload for e in storage.events.read(type="BarsRevised")]
    assert (revised["provider"], revised["symbol"], revised["days"]) == ("alpaca", "SPY", [str(FIXED)])
    [change] = revised["changes"]
    assert change.startswith(str(FIXED)) and f"close {old.close:g} -> {new.close:g}" in change
    [warning] = said
    assert f"SPY: alpaca revised its bars of {FIXED}" in warning and "stands as recorded" in warning


def test_the_same_bars_fetched_again_are_no_revision(storage: Storage) -> None:
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        server.add_bars("SPY", [_row(b) for b in good_bars()])
        alpaca = AlpacaBarProvider("k", "s", url_override=server.base_url, timeout_seconds=2, retry_attempts=0)
        read = market(storage, alpaca)
        read.bars(["SPY"], START, SESSIONS[-2])
        read.bars(["SPY"], START, SESSIONS[-1])
    assert not storage.events.read(type="BarsRevised")
