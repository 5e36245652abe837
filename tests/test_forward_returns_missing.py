"""A judged candidate whose prices are missing for good (its CSV file removed, a symbol the provider has nothing for)
is recorded as unmeasured in that session's forward returns, and every other session's returns are recorded. The read
of all of a session's symbols at once stopped on it, and every later session's returns with it, for good: one bad
candidate blocked the pickers' whole track record. A temporary failure still stops the fill for a later run; the
benchmark missing still records nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.app import due_run
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.discovery import outcomes, performance
from llmtrade.domain.discovery import ForwardReturns, Suggestion, SuggestionsMade, WatchlistSet
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.market import Bar
from llmtrade.domain.streams import DISCOVERY
from llmtrade.errors import MarketDataError, MarketDataMissing, MarketDataUnavailable
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.service import MarketData
from llmtrade.market.synthetic import SyntheticMarket, candidate_classes
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage, open_storage
from tests.support import stored_events

runner = CliRunner()
CALENDAR = TradingCalendar()
DAYS = [date(2026, 1, d) for d in (5, 6, 7, 8, 9)]


def _made(session: date, symbols: list[str], picker: str = "metric") -> SuggestionsMade:
    return SuggestionsMade(
        picker=picker,  # type: ignore[arg-type]
        asof=datetime.combine(session, datetime.min.time(), tzinfo=UTC),
        session=session,
        suggestions=[Suggestion(symbol=s, rank=i + 1, score=1 - i / len(symbols)) for i, s in enumerate(symbols)],
    )


def _judged(url: str, sessions: list[date], symbols: list[str]) -> None:
    """A discovery run judging `symbols` for each of `sessions`, and its watchlist, on the books at `url`."""
    with open_storage(Settings(DATABASE_URL=url), FixedClock(datetime(2026, 1, 7, tzinfo=UTC))) as storage:
        for session in sessions:
            watchlist = WatchlistSet(asof=_made(session, symbols).asof, session=session, entries=[])
            events = [NewEvent.of(_made(session, symbols), stream=DISCOVERY), NewEvent.of(watchlist, stream=DISCOVERY)]
            storage.events.append(events)


def _prices(folder: Path, symbols: tuple[str, ...]) -> None:
    folder.mkdir()
    for n, symbol in enumerate(symbols):
        rows = [f"{d},{c},{c + 1},{c - 1},{c},1000000" for d, c in ((d, 100.0 + n + i) for i, d in enumerate(DAYS))]
        (folder / f"{symbol}.csv").write_text("\n".join(["Date,Open,High,Low,Close,Volume", *rows]) + "\n")


def test_a_candidates_csv_file_removed_leaves_it_unmeasured_and_every_sessions_returns_are_recorded(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = cli_env["DATABASE_URL"]
    _judged(url, [DAYS[1], DAYS[2]], ["TLT", "GLD"])
    folder = tmp_path / "prices"
    _prices(folder, ("SPY", "TLT", "GLD"))
    (folder / "GLD.csv").unlink()
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "csv")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))
    monkeypatch.setattr(due_run, "due", lambda _app: [])  # nothing due but the forward returns
    monkeypatch.setattr(due_run, "run_event_checkpoints", lambda _app, _waits: [])
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T17:00:00-05:00")
    woke = runner.invoke(app, ["-q", "run-due"])
    assert woke.exit_code == 0 and woke.stderr == "", woke.output
    filled = sorted((e.payload for e in stored_events(url, type="ForwardReturns")), key=lambda p: p["session"])
    assert [(p["session"], p["horizon"]) for p in filled] == [("2026-01-06", 1), ("2026-01-07", 1)]
    for payload in filled:
        assert sorted(payload["returns"]) == ["SPY", "TLT"]  # GLD is not there, not as a zero either
        assert list(payload["unmeasured"]) == ["GLD"]
        assert "GLD.csv" in payload["unmeasured"]["GLD"], payload["unmeasured"]
    # The pickers' record says how many judged candidates went unmeasured, and measures the others.
    monkeypatch.setenv("DATABASE_URL", url)
    shown = runner.invoke(app, ["discover", "performance", "--horizon", "1", "--json"])
    assert shown.exit_code == 0, shown.output
    result = json.loads(shown.stdout)
    assert (result["matured_sessions"], result["unmeasured_picks"]) == (2, 2)
    human = runner.invoke(app, ["discover", "performance", "--horizon", "1"])
    assert human.exit_code == 0 and "2 judged candidates" in human.stdout and "not counted as 0" in human.stdout


class _Provider:
    """The synthetic market's bars, but `gone` are symbols it has nothing for (it answers the others, as a real
    provider does for a delisted symbol), and from the `down_after`th request on it is rate limited (temporary)."""

    name = "fake"
    synthetic = False

    def __init__(self, gone: set[str], down_after: int | None = None):
        self.gone = gone
        self.down_after = down_after
        self.asked: list[list[str]] = []
        self._market = SyntheticMarket({"SPY": "equity"}, extra=candidate_classes())

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        self.asked.append(list(symbols))
        if self.down_after is not None and len(self.asked) >= self.down_after:
            raise MarketDataUnavailable("HTTP 429 too many requests")
        known = [s for s in symbols if s not in self.gone]
        bars = self._market.daily_bars(known, start, end) if known else {}
        lacking = [s for s in symbols if s in self.gone]
        if lacking:
            raise MarketDataMissing(f"no such symbol {', '.join(lacking)}", symbols=lacking, answered=bars)
        return bars

    def origin(self, symbol: str) -> str | None:
        return None

    def incomplete(self, close: datetime) -> str | None:
        return None


def _judge(storage: Storage, session: date, symbols: list[str]) -> None:
    storage.events.append([NewEvent.of(_made(session, symbols), stream=DISCOVERY)])


def test_a_symbol_the_provider_has_nothing_for_is_unmeasured_and_a_temporary_failure_still_stops(
    storage: Storage,
) -> None:
    first, second = date(2026, 1, 6), date(2026, 1, 13)
    judged = ["AAPL", "MSFT", "TLT", "GLD", "XLE"]
    _judge(storage, first, judged)
    _judge(storage, second, ["AAPL", "MSFT"])
    provider = _Provider(gone={"TLT"}, down_after=2)  # the first request answered, then rate limited
    market = MarketData([provider], BarCache(storage.conn), CALENDAR)
    last = outcomes.maturity(CALENDAR, second, 1)
    # Rate limited while finding out which symbol has no prices: stopped, nothing recorded as missing.
    with pytest.raises(MarketDataUnavailable):
        outcomes.fill(storage.events, market, last)
    assert storage.events.read(type="ForwardReturns") == []
    # The next run (the limit over) records every session, TLT unmeasured in the first.
    provider.down_after = None
    written = outcomes.fill(storage.events, market, last)
    assert sorted((f.session, f.horizon) for f in written) == [(first, 1), (first, 5), (second, 1)]
    for outcome in written:
        if outcome.session == first:
            assert sorted(outcome.returns) == ["AAPL", "GLD", "MSFT", "SPY", "XLE"]
            assert outcome.unmeasured == {"TLT": "fake: no such symbol TLT"}
            assert outcome.excess("TLT") is None
        else:
            assert sorted(outcome.returns) == ["AAPL", "MSFT", "SPY"] and outcome.unmeasured == {}


def test_the_benchmark_missing_still_records_nothing(storage: Storage) -> None:
    _judge(storage, date(2026, 1, 6), ["AAPL", "MSFT"])
    market = MarketData([_Provider(gone={"SPY"})], BarCache(storage.conn), CALENDAR)
    with pytest.raises(MarketDataError, match="SPY"):
        outcomes.fill(storage.events, market, date(2026, 1, 14))
    assert storage.events.read(type="ForwardReturns") == []


def test_an_outcome_with_nothing_unmeasured_is_stored_as_before_and_an_old_one_reads() -> None:
    outcome = ForwardReturns(
        session=date(2026, 1, 6), horizon=1, matured=date(2026, 1, 7), benchmark_return=0.01, returns={"SPY": 0.01}
    )
    stored = NewEvent.of(outcome, stream="forward-returns")
    assert stored.schema_version == 1 and "unmeasured" not in stored.payload
    old = StoredEvent(
        id=1,
        type="ForwardReturns",
        stream="forward-returns",
        version=1,
        occurred_at=datetime(2026, 1, 7, 22, tzinfo=UTC),
        payload=stored.payload,
        schema_version=1,
    )
    assert ForwardReturns.from_event(old) == outcome and outcome.unmeasured == {}
    gone = outcome.model_copy(update={"unmeasured": {"TLT": "no file"}})
    assert NewEvent.of(gone, stream="forward-returns").payload["unmeasured"] == {"TLT": "no file"}


def test_a_symbol_left_out_is_unmeasured_in_the_pickers_statistics_not_a_zero_return() -> None:
    day, matured = date(2026, 1, 6), date(2026, 1, 13)
    made = _made(day, ["A", "B", "C", "D"])  # scores 1, 0.75, 0.5, 0.25
    returns = {"A": 0.01, "B": 0.03, "C": 0.02}
    left_out = ForwardReturns(
        session=day, horizon=5, matured=matured, benchmark_return=0.0, returns=returns, unmeasured={"D": "gone"}
    )
    as_zero = left_out.model_copy(update={"returns": {**returns, "D": 0.0}, "unmeasured": {}})
    without_d = {day: [made.model_copy(update={"suggestions": made.suggestions[:3]})]}
    [measured] = performance.evaluate({day: [made]}, [left_out], horizon=5, top=4)
    [expected] = performance.evaluate(without_d, [left_out], horizon=5, top=4)
    [zero] = performance.evaluate({day: [made]}, [as_zero], horizon=5, top=4)
    assert measured == expected  # D counts for nothing: not in the IC, the hit rate nor the top's spread
    assert measured.hit_rate == 1.0 and zero.hit_rate == 0.75
    assert measured.mean_ic != zero.mean_ic
    assert performance.unmeasured_picks({day: [made]}, [left_out], horizon=5) == 1
    assert performance.unmeasured_picks({day: [made]}, [as_zero], horizon=5) == 0
