"""A session a feed saw no trade of a symbol in: Alpaca's bars are made of the trades its feed saw, and a day without
one has no bar. On the iex feed (the free plan's: IEX alone, a few percent of US volume) a thinly traded symbol goes
whole sessions without one (alpacahq/alpaca-trade-api-js#43, iexg/IEX-API#1604); on every venue it is a halt through
the session. Neither is a hole in the data to refuse, nor a bar to make up from the day before: the symbol is asked of
the next provider, and read without the session only when none has it, said and recorded, never cached.

On the wire: the loopback Alpaca server paginating by next_page_token, Yahoo's chart JSON at the transport."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from llmtrade.errors import MarketDataError
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.untraded import QUIET_TAIL
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.yahoo_transport import YahooIntraday
from tests.market_series import END, START, good_bars, market

CALENDAR = TradingCalendar()
QUIET = CALENDAR.sessions_between(START, END)[9]  # a session in the month of tests/market_series.py


@pytest.fixture(autouse=True)
def fresh_yfinance(tmp_path: Path) -> None:
    import yfinance

    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    yfinance.data.YfData.cache_get.cache_clear()  # answers for past ranges are kept in memory, process-wide


def _row(symbol: str, day: object, i: int) -> dict[str, object]:
    """A daily bar as Alpaca sends it: stamped at New York midnight (05:00Z in winter), its trade count and vwap too."""
    b = good_bars(symbol)[i]
    return {"t": f"{day}T05:00:00Z", "o": b.open, "h": b.high, "l": b.low, "c": b.close, "v": 300, "n": 4, "vw": b.low}


def _server(server: FakeAlpacaServer, quiet: str) -> None:
    """SPY every session; `quiet` (a thinly traded name) every session but QUIET, where the feed saw no trade of it."""
    server.add_bars("SPY", [_row("SPY", b.day, i) for i, b in enumerate(good_bars("SPY"))])
    server.add_bars(quiet, [_row("TLT", b.day, i) for i, b in enumerate(good_bars("TLT")) if b.day != QUIET])


def _alpaca(server: FakeAlpacaServer, feed: str = "iex") -> AlpacaBarProvider:
    return AlpacaBarProvider("k", "s", feed=feed, url_override=server.base_url, timeout_seconds=2, retry_attempts=0)


def _events(storage: Storage, kind: str) -> list[dict]:
    return [e.payload for e in storage.events.read(type=kind)]


def test_an_iex_session_without_a_trade_is_read_without_a_bar_said_and_recorded_not_refused_nor_cached(
    storage: Storage,
) -> None:
    """Alpaca alone: the whole read was refused as a hole ("add the missing session(s) or re-export the data", exit 1)
    at every run while the session was in the range read, SPY's good bars with it."""
    said: list[str] = []
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _server(server, "THIN")
        read = market(storage, _alpaca(server), say=said.append)
        series = read.bars(["SPY", "THIN"], START, END)
        asked = server.count("GET", "/v2/stocks/bars")
        again = read.bars(["SPY", "THIN"], START, END)
        assert server.count("GET", "/v2/stocks/bars") > asked  # THIN asked again: nothing of it was cached
    days = [b.day for b in series.bars["THIN"]]
    assert QUIET not in days and len(days) == len(CALENDAR.sessions_between(START, END)) - 1  # no bar made up
    assert [b.day for b in series.bars["SPY"]] == CALENDAR.sessions_between(START, END)
    assert again.bars == series.bars
    untraded = _events(storage, "SessionsUntraded")
    # Once per (symbol, session), not at every read of the range (a checkpoint's, a status's).
    assert [(e["provider"], e["symbol"], e["days"]) for e in untraded] == [("alpaca", "THIN", [str(QUIET)])]
    assert "IEX" in untraded[0]["reason"] and "market_data.alpaca_feed" in untraded[0]["reason"]
    [warning] = said  # once a run's service, not at every read
    assert f"THIN has no bar of {QUIET}" in warning and "not filled from the day before" in warning
    assert not _events(storage, "MarketDataRejected")
    cache = BarCache(storage.conn)
    assert cache.covers(["SPY"], START, END, synthetic=False)
    assert not cache.covers(["THIN"], START, END, synthetic=False)
    assert cache.count(["THIN"], START, END, synthetic=False) == 0


def test_an_iex_session_without_a_trade_is_taken_whole_from_the_next_provider_the_others_kept_from_alpaca(
    storage: Storage,
) -> None:
    """Yahoo after Alpaca has the consolidated bar of the session: THIN is read from it whole, SPY from Alpaca. The
    whole Alpaca answer was refused for THIN's gap, SPY asked of Yahoo too."""
    opens = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in CALENDAR.sessions_between(START, END)]
    yahoo = YahooIntraday(
        bars={"THIN": [(at, 90.0 + i) for i, at in enumerate(opens)]},
        session_open=opens[-1],
        session_close=opens[-1].replace(hour=16),
    )
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _server(server, "THIN")
        yf = YFinanceProvider(timeout_seconds=2, session=yahoo.session())
        series = market(storage, _alpaca(server), yf).bars(["SPY", "THIN"], START, END)
    assert series.provider == "alpaca,yfinance"
    assert {b.source for b in series.bars["SPY"]} == {"alpaca"}
    assert QUIET in [b.day for b in series.bars["THIN"]] and {b.source for b in series.bars["THIN"]} == {"yfinance"}
    [failed] = _events(storage, "MarketProviderFailed")
    assert failed["provider"] == "alpaca" and failed["symbols"] == ["THIN"] and str(QUIET) in failed["error"]
    assert not _events(storage, "SessionsUntraded") and not _events(storage, "MarketDataRejected")
    assert BarCache(storage.conn).covers(["SPY", "THIN"], START, END, synthetic=False)


def test_a_halt_all_session_on_every_feed_is_said_at_once_not_waited_for_for_days(storage: Storage) -> None:
    """No trade on any venue (Alpaca's sip feed has no bar) and no row at Yahoo: a halt. Yahoo's gap alone is waited for
    (it sends a session it left out within days: market/yfinance_data.py), so every run exited 75 for 7 days, then 1
    for as long as the session was in the range read. Now the consolidated tape's word decides at once."""
    opens = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in CALENDAR.sessions_between(START, END)]
    yahoo = YahooIntraday(
        bars={"HALT": [(at, 90.0 + i) for i, at in enumerate(opens) if at.date() != QUIET]},
        session_open=opens[-1],
        session_close=opens[-1].replace(hour=16),
    )
    day_after = datetime.combine(QUIET, time(18, 0), tzinfo=NEW_YORK) + timedelta(days=1)
    said: list[str] = []
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _server(server, "HALT")
        yf = YFinanceProvider(timeout_seconds=2, session=yahoo.session(), wall=day_after.timestamp)
        series = market(storage, yf, _alpaca(server, "sip"), say=said.append).bars(["SPY", "HALT"], START, END)
    assert QUIET not in [b.day for b in series.bars["HALT"]]
    [warning] = said
    assert f"HALT has no bar of {QUIET}" in warning and "halt" in warning
    [untraded] = _events(storage, "SessionsUntraded")
    assert untraded["symbol"] == "HALT" and untraded["days"] == [str(QUIET)]
    assert not BarCache(storage.conn).covers(["HALT"], START, END, synthetic=False)


def _tail_server(server: FakeAlpacaServer, quiet: str, lacks: int) -> None:
    """SPY every session; `quiet` without the range's last `lacks` sessions, where the iex feed saw no trade of it."""
    last = CALENDAR.sessions_between(START, END)[-lacks]
    server.add_bars("SPY", [_row("SPY", b.day, i) for i, b in enumerate(good_bars("SPY"))])
    server.add_bars(quiet, [_row("TLT", b.day, i) for i, b in enumerate(good_bars("TLT")) if b.day < last])


def test_no_iex_trade_on_the_last_session_is_read_without_it_said_not_refused_as_stale_nor_an_end(
    storage: Storage,
) -> None:
    """Alpaca alone, THIN quiet on the range's last session (SPY has it): the whole answer was refused as stale and
    THIN judged no longer trading ("take it out of the universe"), every symbol asked of the next provider."""
    said: list[str] = []
    sessions = CALENDAR.sessions_between(START, END)
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _tail_server(server, "THIN", 1)
        series = market(storage, _alpaca(server), say=said.append).bars(["SPY", "THIN"], START, END)
    assert [b.day for b in series.bars["THIN"]] == sessions[:-1]  # no bar made up for the last session
    assert [b.day for b in series.bars["SPY"]] == sessions
    [untraded] = _events(storage, "SessionsUntraded")
    assert (untraded["symbol"], untraded["days"]) == ("THIN", [str(END)]) and "IEX" in untraded["reason"]
    [warning] = said
    assert f"its last bar is {sessions[-2]}" in warning and "not taken as ended" in warning
    assert not _events(storage, "MarketDataRejected")
    cache = BarCache(storage.conn)
    assert cache.covers(["SPY"], START, END, synthetic=False)
    assert not cache.covers(["THIN"], START, END, synthetic=False)


def test_no_iex_trade_on_the_last_session_asks_the_next_provider_for_that_symbol_alone(storage: Storage) -> None:
    opens = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in CALENDAR.sessions_between(START, END)]
    yahoo = YahooIntraday(
        bars={"THIN": [(at, 90.0 + i) for i, at in enumerate(opens)]},
        session_open=opens[-1],
        session_close=opens[-1].replace(hour=16),
    )
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _tail_server(server, "THIN", 1)
        yf = YFinanceProvider(timeout_seconds=2, session=yahoo.session())
        series = market(storage, _alpaca(server), yf).bars(["SPY", "THIN"], START, END)
    assert {b.source for b in series.bars["SPY"]} == {"alpaca"}
    assert series.bars["THIN"][-1].day == END and {b.source for b in series.bars["THIN"]} == {"yfinance"}
    [failed] = _events(storage, "MarketProviderFailed")
    assert failed["provider"] == "alpaca" and failed["symbols"] == ["THIN"] and str(END) in failed["error"]
    assert not _events(storage, "SessionsUntraded") and not _events(storage, "MarketDataRejected")


def test_no_iex_trade_on_the_last_two_sessions_is_read_without_them_said_not_refused_as_stale_nor_an_end(
    storage: Storage,
) -> None:
    """A thin name without an IEX trade on Thursday and Friday, SPY trading both: the whole answer was refused as stale
    (every symbol asked of the next provider) and, with Alpaca alone, THIN taken as no longer trading. Two quiet
    sessions are read as one is, the bound on such a silence said."""
    said: list[str] = []
    sessions = CALENDAR.sessions_between(START, END)
    assert [d.weekday() for d in sessions[-2:]] == [3, 4]  # Thursday and Friday
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _tail_server(server, "THIN", 2)
        series = market(storage, _alpaca(server), say=said.append).bars(["SPY", "THIN"], START, END)
    assert [b.day for b in series.bars["THIN"]] == sessions[:-2]  # no bar made up for either
    assert [b.day for b in series.bars["SPY"]] == sessions
    [untraded] = _events(storage, "SessionsUntraded")
    assert (untraded["symbol"], untraded["days"]) == ("THIN", [str(d) for d in sessions[-2:]])
    [warning] = said
    assert f"its last bar is {sessions[-3]}, 2 sessions before the range's end" in warning, warning
    assert "not taken as ended" in warning and f"up to {QUIET_TAIL} sessions" in warning, warning
    assert not _events(storage, "MarketDataRejected")
    cache = BarCache(storage.conn)
    assert cache.covers(["SPY"], START, END, synthetic=False)
    assert not cache.covers(["THIN"], START, END, synthetic=False)


def test_a_silence_up_to_the_bound_is_quiet_and_one_session_longer_is_stale(storage: Storage) -> None:
    """QUIET_TAIL sessions without a trade while SPY trades are read as quiet; one more is not plausibly quiet (a
    delisting looks so), and the stale checks judge it as before."""
    sessions = CALENDAR.sessions_between(START, END)
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _tail_server(server, "THIN", QUIET_TAIL)
        series = market(storage, _alpaca(server)).bars(["SPY", "THIN"], START, END)
    assert series.bars["THIN"][-1].day == sessions[-QUIET_TAIL - 1]
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _tail_server(server, "THIN", QUIET_TAIL + 1)
        with pytest.raises(MarketDataError, match="stale"):
            market(storage, _alpaca(server)).bars(["SPY", "THIN"], START, END)


def test_a_longer_silence_at_the_end_or_a_whole_feed_behind_is_still_refused_as_stale(storage: Storage) -> None:
    """A silence longer than QUIET_TAIL at the end (a delisting looks so), or no symbol with the last session (a feed
    not updated): not quiet sessions, so the stale checks judge them as before."""
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _tail_server(server, "THIN", QUIET_TAIL + 1)
        with pytest.raises(MarketDataError, match="stale"):
            market(storage, _alpaca(server)).bars(["SPY", "THIN"], START, END)
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        # The feed behind as a whole: SPY lacks the last session too.
        server.add_bars("SPY", [_row("SPY", b.day, i) for i, b in enumerate(good_bars("SPY")) if b.day < END])
        server.add_bars("THIN", [_row("TLT", b.day, i) for i, b in enumerate(good_bars("TLT")) if b.day < END])
        with pytest.raises(MarketDataError, match="stale"):
            market(storage, _alpaca(server)).bars(["THIN"], START, END)
    assert not _events(storage, "SessionsUntraded")


def test_a_symbol_read_alone_is_quiet_at_the_end_when_the_feed_has_those_sessions_of_the_benchmark(
    storage: Storage,
) -> None:
    """A held symbol outside the universe is read alone: no other symbol in the answer to show the feed had the
    range's last sessions, so a thin name's quiet Thursday and Friday were refused as stale and the symbol valued at
    its last close as one whose "prices ended". The feed is asked for the benchmark's bars of those sessions (SPY has a
    trade on every venue every session): it has them, so the symbol is quiet, read without them, said and recorded;
    SPY is not put in the answer, and asked only when a symbol's bars stop short of the range's end."""
    said: list[str] = []
    sessions = CALENDAR.sessions_between(START, END)
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _tail_server(server, "THIN", 2)
        series = market(storage, _alpaca(server), say=said.append).bars(["THIN"], START, END)
        asked = [r.query["symbols"] for r in server.requests if r.path == "/v2/stocks/bars"]
    assert list(series.bars) == ["THIN"] and [b.day for b in series.bars["THIN"]] == sessions[:-2]
    assert set(asked) == {"THIN", "SPY"}, asked
    [untraded] = _events(storage, "SessionsUntraded")
    assert (untraded["symbol"], untraded["days"]) == ("THIN", [str(d) for d in sessions[-2:]])
    [warning] = said
    assert "not taken as ended" in warning and "2 sessions before the range's end" in warning, warning
    assert not BarCache(storage.conn).covers(["THIN"], START, END, synthetic=False)
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _tail_server(server, "THIN", QUIET_TAIL + 1)
        with pytest.raises(MarketDataError, match="stale"):
            market(storage, _alpaca(server)).bars(["THIN"], START, END)
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        server.add_bars("THIN", [_row("TLT", b.day, i) for i, b in enumerate(good_bars("TLT"))])
        market(storage, _alpaca(server)).bars(["THIN"], START, END)
        asked = [r.query["symbols"] for r in server.requests if r.path == "/v2/stocks/bars"]
    assert set(asked) == {"THIN"}  # a symbol with the range's last session: SPY not asked


def test_a_session_without_a_trade_is_recorded_once_whatever_the_runs_that_read_it_and_a_new_one_is_recorded(
    storage: Storage,
) -> None:
    """SessionsUntraded was recorded at every read of a range holding the session: every run's, every checkpoint's and
    `status`'s, for as long as the session was in the range read (300 sessions), the books swelling with the same
    fact. Now a (symbol, session) the books hold already is not recorded again by a later run's service; a session
    new to them is (the range's end moving on: Friday quiet after Thursday)."""
    sessions = CALENDAR.sessions_between(START, END)
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _tail_server(server, "THIN", 2)
        for _run in range(2):  # two runs: each its own service, reading the books
            market(storage, _alpaca(server), books=True).bars(["SPY", "THIN"], START, sessions[-2])
        for _run in range(2):
            market(storage, _alpaca(server), books=True).bars(["SPY", "THIN"], START, END)
    untraded = _events(storage, "SessionsUntraded")
    assert [(e["symbol"], e["days"]) for e in untraded] == [("THIN", [str(sessions[-2])]), ("THIN", [str(END)])]
    assert "2 sessions before the range's end" in untraded[1]["reason"]  # what the read said of it: both sessions


def test_a_held_symbol_outside_the_universe_quiet_at_the_end_is_priced_and_not_said_ended(storage: Storage) -> None:
    """What checkpoints and `status` read of a held symbol outside the universe (market/held_prices.py): alone, so
    its quiet Thursday and Friday were a stale series, and `prices_ended` named it as a symbol whose prices ended."""
    from llmtrade.market.held_prices import held_closes, prices_ended

    now = datetime(2026, 1, 10, 12, tzinfo=NEW_YORK)  # a Saturday: the last session complete is END
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        _tail_server(server, "THIN", 2)
        service = market(storage, _alpaca(server))
        closes, problems = held_closes(service, ["THIN"], now)
        ended = prices_ended(service, "THIN", now)
    assert ended is None and problems == {}
    assert closes == {"THIN": good_bars("TLT")[len(CALENDAR.sessions_between(START, END)) - 3].close}


def _yahoo_tail(lacks: int) -> YahooIntraday:
    """Yahoo's daily rows: SPY every session, THIN without the range's last `lacks` (a thin name's days without a
    trade: Yahoo sends no row of them)."""
    opens = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in CALENDAR.sessions_between(START, END)]
    return YahooIntraday(
        bars={
            "SPY": [(at, 500.0 + i) for i, at in enumerate(opens)],
            "THIN": [(at, 90.0 + i) for i, at in enumerate(opens[: len(opens) - lacks])],
        },
        session_open=opens[-1],
        session_close=opens[-1].replace(hour=16),
    )


def test_yahoo_without_a_thin_names_last_sessions_it_has_of_spy_reads_them_quiet_not_stale(storage: Storage) -> None:
    """Yahoo alone, THIN without rows of the range's last two sessions while SPY has them: read as Alpaca's quiet tail
    (market/untraded.py), not refused as a stale series ("take it out of the universe") nor taken as ended; a longer
    silence than QUIET_TAIL is still stale."""
    sessions = CALENDAR.sessions_between(START, END)
    wall = (datetime.combine(END, time(18, 0), tzinfo=NEW_YORK) + timedelta(days=1)).timestamp()
    said: list[str] = []
    yf = YFinanceProvider(timeout_seconds=2, session=_yahoo_tail(2).session(), wall=lambda: wall)
    series = market(storage, yf, say=said.append).bars(["SPY", "THIN"], START, END)
    assert [b.day for b in series.bars["THIN"]] == sessions[:-2]
    [untraded] = _events(storage, "SessionsUntraded")
    assert (untraded["symbol"], untraded["days"]) == ("THIN", [str(d) for d in sessions[-2:]])
    [warning] = said
    assert "not taken as ended" in warning and "Yahoo" in warning
    assert not BarCache(storage.conn).covers(["THIN"], START, END, synthetic=False)
    yf = YFinanceProvider(timeout_seconds=2, session=_yahoo_tail(QUIET_TAIL + 1).session(), wall=lambda: wall)
    with pytest.raises(MarketDataError, match="stale"):
        market(storage, yf).bars(["SPY", "THIN"], START, END)
