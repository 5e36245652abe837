"""Splits found where a provider restates history (market/splits.py through the market service): Alpaca's bars
(adjustment=split) and Yahoo's Close are restated after a split, so the cached bars of an earlier run stand at the old
prices and the new answer has no jump. Providers mocked at yfinance.download, as tests/test_live_price_jumps.py does.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import pytest

from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.splits import restated, split_event, split_warning, splits_before
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.market_series import END, START, good_bars
from tests.test_live_price_jumps import ASOF, _scaled, _yahoo

SPLIT = date(2025, 12, 15)  # a Monday
BEFORE = date(2025, 12, 12)  # the session before it


def run(storage: Storage, run_id: str, said: list[str]) -> MarketData:
    """A run's market service as the container wires it: warnings said, splits recorded before read."""
    recording = Recording(storage.events, run_id, say=said.append, splits_before=partial(splits_before, storage.events))
    return MarketData([YFinanceProvider()], BarCache(storage.conn), TradingCalendar(), recording)


def answer(monkeypatch: pytest.MonkeyPatch, bars: list[Bar]) -> None:
    import yfinance

    monkeypatch.setattr(yfinance, "download", lambda *a, **k: _yahoo(bars))


def splits(storage: Storage) -> list[dict]:
    return [e.payload for e in storage.events.read(type="SplitDetected")]


@pytest.mark.parametrize(("ratio", "named"), [(4.0, "4-for-1"), (1.5, "3-for-2"), (0.1, "1-for-10")])
def test_a_restated_history_is_recorded_as_one_split_said_once_and_replaces_the_cache(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, ratio: float, named: str
) -> None:
    """Found by the money review: the restated history has no jump, so nothing was said while a paper account's
    pre-split shares were valued at the post-split price."""
    said: list[str] = []
    # Before the split the provider's prices were the old ones: `ratio` times what the restated history says.
    answer(monkeypatch, _scaled(good_bars(), ratio, before=date.max))
    run(storage, "r1", said).bars(["SPY"], START, BEFORE)
    assert splits(storage) == [] and said == []
    # The morning after the ex-day's close: the whole history restated.
    answer(monkeypatch, good_bars())
    run(storage, "r2", said).bars(["SPY"], START, SPLIT)
    [split] = splits(storage)
    assert (split["symbol"], split["ex_day"], split["looks_like"], split["latest"]) == ("SPY", str(SPLIT), named, None)
    assert split["ratio"] == pytest.approx(ratio)
    assert split["price"] == pytest.approx(next(b.open for b in good_bars() if b.day == SPLIT))
    [warning] = said
    assert f"SPY split {named} on {SPLIT}" in warning and "yfinance restated its history" in warning
    [event] = storage.events.read(type="SplitDetected")
    assert event.stream == "splits" and event.run_id == "r2"
    # The restated bars replaced the cached ones.
    cached = BarCache(storage.conn).read(["SPY"], START, BEFORE, synthetic=False)["SPY"]
    assert [b.close for b in cached] == [b.close for b in good_bars() if b.day <= BEFORE]
    # The next runs see the same split again (the same answer, a longer range): nothing recorded or said again.
    run(storage, "r3", said).bars(["SPY"], START, END)
    run(storage, "r4", said).bars(["SPY"], START, END)
    assert len(splits(storage)) == 1 and len(said) == 1


def test_a_split_seen_first_by_a_short_read_is_not_found_again_by_a_longer_one(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint after the ex-day's close reads its last ten sessions, which restates them in the cache; the weekly
    run's longer read later finds the older part still at the old prices and the recent part agreeing: the same split
    seen from the start of that part, not a second one ten sessions earlier."""
    said: list[str] = []
    answer(monkeypatch, _scaled(good_bars(), 4.0, before=date.max))
    run(storage, "r1", said).bars(["SPY"], START, BEFORE)
    answer(monkeypatch, good_bars())
    run(storage, "r2", said).bars(["SPY"], date(2025, 12, 5), SPLIT)
    [split] = splits(storage)
    assert (split["ex_day"], split["looks_like"]) == (str(SPLIT), "4-for-1")
    run(storage, "r3", said).bars(["SPY"], START, END)
    assert len(splits(storage)) == 1 and len(said) == 1


def test_a_read_that_records_nothing_leaves_a_restated_history_for_the_next_run_to_record(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the new-user trial: `status` (its market records nothing) run after a provider restated a held stock's
    history cached the restated bars without a record of the split; the next checkpoint then found nothing restated
    (or a split weeks early, where its longer read met the older bars), its paper accounts held their old shares at
    the new price, and the offline rules sold them at a 'loss -74.3% beyond the 3% stop'."""
    said: list[str] = []
    answer(monkeypatch, _scaled(good_bars(), 4.0, before=date.max))
    run(storage, "r1", said).bars(["SPY"], START, BEFORE)
    answer(monkeypatch, good_bars())
    unrecorded = MarketData([YFinanceProvider()], BarCache(storage.conn), TradingCalendar())
    seen = unrecorded.bars(["SPY"], date(2025, 12, 5), SPLIT)  # `status`'s last closes
    assert seen.bars["SPY"][-1].close == next(b.close for b in good_bars() if b.day == SPLIT)
    assert splits(storage) == [] and said == []
    cached = BarCache(storage.conn).read(["SPY"], START, BEFORE, synthetic=False)["SPY"]
    assert [b.close for b in cached] == [b.close for b in _scaled(good_bars(), 4.0, before=date.max) if b.day <= BEFORE]
    run(storage, "r2", said).bars(["SPY"], START, SPLIT)
    [split] = splits(storage)
    assert (split["ex_day"], split["looks_like"]) == (str(SPLIT), "4-for-1")


def test_an_answer_restated_to_its_end_names_the_next_session_and_several_new_sessions_an_uncertain_day() -> None:
    """Pure: an answer restated up to its last day splits at the next session (priced at its last close); an answer
    with several sessions the cache never held cannot tell which of them the split came on, and says so."""
    old = [b for b in _scaled(good_bars(), 4.0, before=date.max) if b.day <= BEFORE]
    new = [b for b in good_bars() if b.day <= BEFORE]
    found = restated("SPY", old, new, SPLIT)
    assert found is not None and (found.ex_day, found.latest, found.agreeing) == (SPLIT, None, 0)
    assert found.price == new[-1].close
    later = [b for b in good_bars() if b.day <= date(2025, 12, 17)]
    uncertain = restated("SPY", old, later, date(2025, 12, 18))
    assert uncertain is not None and (uncertain.ex_day, uncertain.latest) == (SPLIT, date(2025, 12, 17))
    assert "between 2025-12-15 and 2025-12-17" in split_warning(split_event(uncertain, "yfinance"))


@pytest.mark.parametrize(
    "corrected",
    [
        # One day revised by a few percent (a bad print fixed).
        lambda bars: _scaled(bars, 1.03, on=date(2025, 12, 10)),
        # Days at twice the price, but not every day before one day: not one split.
        lambda bars: _scaled(_scaled(bars, 2.0, before=date(2025, 12, 5)), 2.0, on=date(2025, 12, 9)),
        # The first day alone at a split's factor: as likely a bad print corrected.
        lambda bars: _scaled(bars, 4.0, on=START),
        # Every day before one at 1.7x: a factor no split has.
        lambda bars: _scaled(bars, 1.7, before=date(2025, 12, 10)),
    ],
)
def test_a_correction_that_is_not_one_split_factor_records_no_split(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, corrected: object
) -> None:
    said: list[str] = []
    answer(monkeypatch, corrected(good_bars()))  # type: ignore[operator]
    run(storage, "r1", said).bars(["SPY"], START, BEFORE)
    answer(monkeypatch, good_bars())
    run(storage, "r2", said).bars(["SPY"], START, SPLIT)
    assert splits(storage) == []
    assert not [w for w in said if "restated its history" in w]  # a jump in the first answer may be said, as before


def test_the_container_wires_the_splits_recorded_before_and_says_them_as_warnings(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's market (the wiring run-weekly and a checkpoint get) reads the splits an earlier run recorded, so it does
    not record them again, and says a new one with the container's warning (shown under --quiet)."""
    from llmtrade.app.container import Container

    answer(monkeypatch, _scaled(good_bars(), 4.0, before=date.max))
    run(storage, "r1", []).bars(["SPY"], START, BEFORE)
    answer(monkeypatch, good_bars())
    run(storage, "r2", []).bars(["SPY"], START, SPLIT)
    app = Container(Settings(), load_config(None), FixedClock(ASOF), None, say=lambda _: None, offline=True)
    later = app.market(storage, run_id="r3")
    assert later.recording is not None and later.recording.splits_before is not None
    assert [(s.symbol, s.ex_day, s.looks_like) for s in later.recording.splits_before()] == [("SPY", SPLIT, "4-for-1")]
    assert later.recording.say == app.warning


def test_an_old_range_restated_to_its_end_is_not_cached_and_the_split_is_placed_by_the_recent_fetch(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A postmortem reads a range ending days ago: restated to its end, with later sessions cached at the old prices,
    the split may be any day after it. Recorded at the session after the range, it would apply days too early (and
    the weekly run's fetch would record it again at its real day); cached, the old part would agree with the next
    answer and hide the split. Neither: the answer is used, not cached, and the recent fetch places the split."""
    said: list[str] = []
    answer(monkeypatch, _scaled(good_bars(), 4.0, before=date.max))
    run(storage, "r1", said).bars(["SPY"], START, date(2025, 12, 5))
    run(storage, "r1", said).bars(["SPY"], date(2025, 12, 8), BEFORE)  # cached to the ex-day, at the old prices
    answer(monkeypatch, good_bars())
    old = run(storage, "r2", said).bars(["SPY"], START, date(2025, 12, 10))  # an old range: not covered, fetched
    assert old.bars["SPY"][-1].close == next(b.close for b in good_bars() if b.day == date(2025, 12, 10))
    assert splits(storage) == []
    cached = BarCache(storage.conn).read(["SPY"], START, START, synthetic=False)["SPY"]
    assert cached[0].close == next(b.close for b in good_bars() if b.day == START) * 4.0  # left as it was
    run(storage, "r3", said).bars(["SPY"], START, SPLIT)
    [split] = splits(storage)
    assert split["ex_day"] == str(SPLIT) and len(said) == 1


@pytest.mark.parametrize("recorded_before", [True, False])
def test_a_provider_that_drops_a_split_from_its_history_records_no_reverse_split(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, recorded_before: bool
) -> None:
    """Yahoo at times answers with a split's history left unadjusted (ranaroussi/yfinance#906: days of AAPL, NVDA and
    TSLA without their splits; #1531), and a fallback provider may be late with a split its first provider restated:
    the cache holds the adjusted closes, the answer the old ones before the ex-day. That is the answer jumping at the
    ex-day (the split unadjusted), not a 1-for-4 reverse split: recorded, it divided a paper account's split shares
    by 4 at their post-split price (-75%). Nothing is recorded, the adjusted cache is kept, and the adjusted answer
    that comes back records nothing either."""
    said: list[str] = []
    if recorded_before:  # llmtrade saw the split happen: old prices cached, then restated
        answer(monkeypatch, _scaled(good_bars(), 4.0, before=date.max))
        run(storage, "r1", said).bars(["SPY"], START, BEFORE)
    answer(monkeypatch, good_bars())
    run(storage, "r2", said).bars(["SPY"], START, date(2026, 1, 2))
    assert len(splits(storage)) == (1 if recorded_before else 0)
    unadjusted = _scaled(good_bars(), 4.0, before=SPLIT)
    answer(monkeypatch, unadjusted)
    series = run(storage, "r3", said).bars(["SPY"], START, END)
    assert [b.close for b in series.bars["SPY"]] == [b.close for b in unadjusted]  # the run's answer, as given
    assert [s["looks_like"] for s in splits(storage)] == (["4-for-1"] if recorded_before else [])
    cached = BarCache(storage.conn).read(["SPY"], START, END, synthetic=False)["SPY"]
    assert [b.close for b in cached] == [b.close for b in good_bars() if b.day <= date(2026, 1, 2)]  # kept
    answer(monkeypatch, good_bars())
    run(storage, "r4", said).bars(["SPY"], START, END)
    assert [s["looks_like"] for s in splits(storage)] == (["4-for-1"] if recorded_before else [])
    # Pure: a cache that ends days before the ex-day cannot place it, and the answer's jump among the new days tells.
    adjusted = [b for b in good_bars() if b.day <= date(2025, 12, 10)]
    found = restated("SPY", adjusted, [b for b in unadjusted if b.day <= date(2025, 12, 17)], date(2025, 12, 18))
    assert found is not None and found.looks_like() == "1-for-4" and found.latest is not None and found.undone


def test_after_a_split_a_read_of_a_range_cached_before_it_is_restated_whole_never_half(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint's short read (or the ex-day's second look) restates the last sessions in the cache; a range cached
    whole before the split (the weekly run's 300 sessions) still covered the older part at the old prices, so the next
    read of it (the checkpoint's indicators, the leaderboard's closes, a postmortem) got both halves: a 4x jump where
    the short read began, SMAs and the 52-week high at old prices against today's, the leaderboard's closes before
    the ex-day multiplied back a second time. The older bars go with the split's record, and the read asks afresh."""
    said: list[str] = []
    answer(monkeypatch, _scaled(good_bars(), 4.0, before=date.max))
    run(storage, "r1", said).bars(["SPY"], START, BEFORE)
    answer(monkeypatch, good_bars())
    run(storage, "r2", said).bars(["SPY"], date(2025, 12, 8), SPLIT)
    assert len(splits(storage)) == 1
    read = run(storage, "r3", said).bars(["SPY"], START, BEFORE)
    assert [b.close for b in read.bars["SPY"]] == [b.close for b in good_bars() if b.day <= BEFORE]
    assert len(splits(storage)) == 1
