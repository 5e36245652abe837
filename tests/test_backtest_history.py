"""`backtest --fetch-history`: provider history fetched once up front, through the real alpaca-py client
against a loopback Alpaca, validated, written whole as a CSV snapshot, and replayed from that snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app import backtest as backtest_module
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.backtest_history import fetch_history, snapshot_folder
from llmtrade.cli import app as cli
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataUnavailable, OperationalError, UsageError
from llmtrade.market import providers as providers_module
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.market.untraded import QUIET_TAIL
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.support import FIXED_NOW

runner = CliRunner()
WEEK = date(2026, 1, 7)
KEY, SECRET = "data-key", "data-secret"


@dataclass(frozen=True)
class Feed:
    server: FakeAlpacaServer
    bars: dict[str, list[Bar]]

    def requests(self) -> int:
        return self.server.count("GET", "/v2/stocks/bars")


def _history() -> dict[str, list[Bar]]:
    """Real-looking bars for the default universe and SPY over everything a one-week backtest reads."""
    universe = load_config(None).config.assets
    classes = {i.symbol: i.asset_class.value for i in universe.universe}
    symbols = sorted({*universe.symbols, BENCHMARK})
    start = WEEK - backtest_module._HISTORY - timedelta(days=5)
    return SyntheticMarket(classes, seed=11).daily_bars(symbols, start, WEEK + timedelta(days=10))


@pytest.fixture(scope="module")
def history() -> dict[str, list[Bar]]:
    return _history()


@pytest.fixture
def feed(history: dict[str, list[Bar]], monkeypatch: pytest.MonkeyPatch) -> Iterator[Feed]:
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET, page_size=10_000) as server:
        for symbol, rows in history.items():
            server.add_bars(symbol, rows)
        yield Feed(server, history)


def _settings(database_url: str, home: Path, feed: Feed) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        LLMTRADE_HOME=str(home),
        LLMTRADE_MARKET_PROVIDERS="alpaca",
        LLMTRADE_ALPACA_DATA_URL=feed.server.base_url,
    )


def _run(settings: Settings, name: str, **kw: object) -> object:
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, fetch_history=True, **kw)
    return backtest(settings, load_config(None), None, spec, say=lambda _t: None)


def _started(admin_url: str, name: str) -> dict[str, object]:
    head, _, query = admin_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{backtest_database(name)}" + (f"?{query}" if query else "")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT payload FROM events WHERE type = 'BacktestStarted' ORDER BY id LIMIT 1").fetchone()
    assert row is not None
    return row[0]


def test_history_is_fetched_once_written_whole_and_a_resume_asks_no_provider(
    feed: Feed, database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, tmp_path, feed)
    name = f"h{tmp_path.name[-8:].lower().replace('-', '')}"
    first = _run(settings, name)
    asked = feed.requests()
    assert asked >= 1
    folder = snapshot_folder(settings, name)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["provider"] == "alpaca"
    assert set(manifest["symbols"]) == set(feed.bars)
    assert not folder.with_name("prices.partial").exists()
    # The backtest's inputs name the snapshot, so its hash pins what the books were priced from.
    assert _started(pg_admin_url, name)["data"] == f"csv:{folder.resolve()}"
    # Valued at the snapshot's CSV closes, which are Alpaca's (its manifest says): without dividends, and said so.
    prices = first.leaderboard.prices
    assert prices is not None and (prices.sources, prices.dividends) == (("csv",), "excluded")
    assert any(
        "Alpaca's bars with adjustment=split, fetched into the CSV snapshot (alpaca)" in n
        for n in first.leaderboard.notes
    )
    # The files read back as exactly the bars the provider sent, over the range asked for.
    start, end = date.fromisoformat(manifest["start"]), date.fromisoformat(manifest["end"])
    written = CsvFolderProvider(folder).daily_bars(sorted(feed.bars), start, end)
    fields = ("day", "open", "high", "low", "close", "volume")
    for symbol, rows in feed.bars.items():
        sent = [b.model_dump(include=set(fields)) for b in rows if start <= b.day <= end]
        assert [b.model_dump(include=set(fields)) for b in written[symbol]] == sent

    again = _run(settings, name)
    assert feed.requests() == asked  # the resume read the snapshot, not the provider
    assert again.weeks_run == 0 and again.leaderboard.model_dump(exclude={"source"}) == first.leaderboard.model_dump(
        exclude={"source"}
    )


def test_a_provider_answer_with_a_missing_session_writes_no_snapshot_and_names_the_day(
    history: dict[str, list[Bar]], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    hole = history[BENCHMARK][-12].day
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET, page_size=10_000) as server:
        for symbol, rows in history.items():
            server.add_bars(symbol, [b for b in rows if not (symbol == BENCHMARK and b.day == hole)])
        settings = _settings(database_url, tmp_path, Feed(server, history))
        with pytest.raises(OperationalError) as failed:
            _run(settings, "hole")
    text = str(failed.value)
    assert "alpaca" in text and BENCHMARK in text and hole.isoformat() in text
    folder = snapshot_folder(settings, "hole")
    assert not folder.exists() and not folder.with_name("prices.partial").exists()


def test_a_snapshot_that_does_not_cover_a_longer_range_is_refused(
    feed: Feed, database_url: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, tmp_path, feed)
    symbols = sorted(feed.bars)
    start = WEEK - backtest_module._HISTORY
    made = fetch_history(
        settings,
        load_config(None),
        FixedClock(FIXED_NOW + timedelta(hours=9)),  # the range's last day, after its close
        name="short",
        symbols=symbols,
        start=start,
        end=WEEK,
        say=lambda _t: None,
    )
    assert made.fetched and feed.requests() >= 1
    asked = feed.requests()
    inside = fetch_history(
        settings,
        load_config(None),
        FixedClock(FIXED_NOW),
        name="short",
        symbols=symbols[:2],
        start=start,
        end=WEEK - timedelta(days=7),
        say=lambda _t: None,
    )
    assert not inside.fetched and feed.requests() == asked  # a range inside the snapshot is served from it
    spec = BacktestSpec(
        name="short",
        first=WEEK,
        last=WEEK + timedelta(days=7),
        offline=True,
        replay=False,
        fetch_history=True,
    )
    with pytest.raises(UsageError, match="give a new --name"):
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)


def test_fetch_history_excludes_csv_and_refuses_a_synthetic_only_feed(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    args = ["backtest", "--from", WEEK.isoformat(), "--to", WEEK.isoformat(), "--offline", "--fetch-history"]
    both = runner.invoke(cli, [*args, "--csv", str(tmp_path)])
    assert both.exit_code == 2, both.output
    assert "--fetch-history and --csv exclude each other" in both.stderr
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "synthetic")
    synthetic = runner.invoke(cli, [*args, "--name", "syn"])
    assert synthetic.exit_code == 2, synthetic.output
    assert "only the synthetic market is configured" in synthetic.stderr
    assert not (tmp_path / "backtests").exists()


def _ended_feed(history: dict[str, list[Bar]], ended: str, last: date, *, hole: date | None = None) -> FakeAlpacaServer:
    """The fake Alpaca with `ended`'s bars stopping at `last` (and missing `hole`), every other symbol whole."""
    server = FakeAlpacaServer(key_id=KEY, secret_key=SECRET, page_size=10_000)
    for symbol, rows in history.items():
        if symbol == ended:
            rows = [b for b in rows if b.day <= last and b.day != hole]
        server.add_bars(symbol, rows)
    return server


def _events(admin_url: str, name: str, kind: str) -> list[dict[str, object]]:
    head, _, query = admin_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{backtest_database(name)}" + (f"?{query}" if query else "")
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT payload FROM events WHERE type = %s ORDER BY id", (kind,))]


def test_a_provider_history_that_ends_early_is_stored_and_taken_as_a_delisting(
    history: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alpaca stops carrying a symbol mid-range (delisted): the snapshot keeps what it sent, and the backtest takes it
    # as a CSV file that ends early is taken, where before the fetch was refused ("give the file with --csv").
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    ended = next(s for s in sorted(history) if s != BENCHMARK)
    last = WEEK  # a Wednesday: the week has later sessions
    said: list[str] = []
    with _ended_feed(history, ended, last) as server:
        settings = _settings(database_url, tmp_path, Feed(server, history))
        spec = BacktestSpec(name="ends", first=WEEK, last=WEEK, offline=True, replay=False, fetch_history=True)
        backtest(settings, load_config(None), None, spec, say=said.append)
    folder = snapshot_folder(settings, "ends")
    rows = (folder / f"{ended}.csv").read_text().splitlines()
    assert rows[-1].startswith(last.isoformat())
    told = f"alpaca's history of {ended} ends at {last}"
    assert any(told in line and "taken as a delisting" in line for line in said)
    [early] = _events(pg_admin_url, "ends", "PricesEndEarly")
    assert (early["symbol"], early["last_day"]) == (ended, last.isoformat())
    assert _events(pg_admin_url, "ends", "DelistingSettled")


def test_a_fetched_history_that_ends_early_with_a_hole_or_the_benchmark_ending_is_still_refused(
    history: dict[str, list[Bar]], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    ended = next(s for s in sorted(history) if s != BENCHMARK)
    hole = history[ended][-20].day
    with _ended_feed(history, ended, WEEK, hole=hole) as server:
        settings = _settings(database_url, tmp_path, Feed(server, history))
        with pytest.raises(OperationalError) as failed:
            _run(settings, "holed")
    assert ended in str(failed.value) and hole.isoformat() in str(failed.value)
    assert not snapshot_folder(settings, "holed").exists()
    with _ended_feed(history, BENCHMARK, WEEK) as server:
        settings = _settings(database_url, tmp_path, Feed(server, history))
        with pytest.raises(OperationalError) as failed:
            _run(settings, "nospy")
    assert BENCHMARK in str(failed.value) and "stale" in str(failed.value)
    assert not snapshot_folder(settings, "nospy").exists()


def test_a_recent_range_a_few_sessions_short_is_a_feed_not_updated_yet_and_still_refused(
    history: dict[str, list[Bar]], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The range ends today: a symbol two sessions short may be a feed not caught up, not a delisting.
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    ended = next(s for s in sorted(history) if s != BENCHMARK)
    days = [b.day for b in history[BENCHMARK] if b.day <= WEEK]
    symbols, start = sorted(history), WEEK - timedelta(days=60)

    def fetch(name: str, last: date) -> object:
        with _ended_feed(history, ended, last) as server:
            settings = _settings(database_url, tmp_path, Feed(server, history))
            clock = FixedClock(FIXED_NOW + timedelta(hours=9))  # the range's last day, after its close
            return fetch_history(
                settings, load_config(None), clock, name=name, symbols=symbols, start=start, end=WEEK, say=print
            )

    with pytest.raises(OperationalError, match=f"no bar of {ended} on {days[-2]}, {days[-1]}"):
        fetch("lag", days[-3])  # two sessions short, the others having them: quiet days, or a feed not caught up
    # Past a quiet name's silence (market/untraded.py QUIET_TAIL) while the others trade: ended there.
    assert fetch("gone", days[-QUIET_TAIL - 2]).folder.is_dir()  # type: ignore[attr-defined]


def test_a_history_one_provider_ends_early_but_another_carries_on_is_not_taken_as_a_delisting(
    history: dict[str, list[Bar]], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alpaca stops carrying a symbol that the next provider (a CSV folder here, Yahoo alike) still has to the range's
    # end: it was dropped by one feed, not delisted. The CSV folder has a hole in another symbol, so neither answer is
    # whole; before, the first answer's end was taken as a delisting and the snapshot sold a live company.
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    ended, holed = [s for s in sorted(history) if s != BENCHMARK][:2]
    hole = history[holed][-20].day
    folder = tmp_path / "csv"
    folder.mkdir()
    for symbol, rows in history.items():
        lines = ["Date,Open,High,Low,Close,Volume"] + [
            f"{b.day},{b.open},{b.high},{b.low},{b.close},{b.volume}" for b in rows if b.day != hole or symbol != holed
        ]
        (folder / f"{symbol}.csv").write_text("\n".join(lines) + "\n")
    # Longer before the range's end than a quiet name goes without a trade (market/untraded.py QUIET_TAIL): a shorter
    # silence is asked of csv for that symbol alone, and read from it whole.
    early = [b.day for b in history[BENCHMARK] if b.day <= WEEK][-QUIET_TAIL]
    with _ended_feed(history, ended, early) as server:
        settings = _settings(database_url, tmp_path, Feed(server, history)).model_copy(
            update={"market_providers": "alpaca,csv", "market_csv_dir": folder}
        )
        with pytest.raises(OperationalError) as failed:
            _run(settings, "dropped")
    said = str(failed.value)
    assert f"alpaca's history of {ended} ends at {early} but csv has bars to" in said
    assert "not taken as delistings" in said
    assert not snapshot_folder(settings, "dropped").exists()


class _Unheard:
    """A second provider that cannot be asked now: rate-limited (a MarketDataUnavailable), or its bar of the range's
    last session not complete yet (`incomplete`: a BarNotComplete)."""

    name, synthetic = "yfinance", False

    def __init__(self, why: str) -> None:
        self.why = why

    def origin(self, symbol: str) -> None:
        return None

    def incomplete(self, close: datetime) -> str | None:
        return "Yahoo's daily bar is live until a while after the close" if self.why == "live" else None

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        raise MarketDataUnavailable("yfinance returned no bars: HTTP 429 Too Many Requests")


@pytest.mark.parametrize("why", ["429", "live"])
def test_a_history_that_ends_early_while_another_provider_cannot_be_asked_is_a_wait_and_writes_nothing(
    history: dict[str, list[Bar]],
    cli_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    why: str,
) -> None:
    """Alpaca's history of a symbol ends early and the next provider could not be asked (a 429, its bar not final
    yet): whether it carries the symbol on (dropped by one feed, not delisted) is not known. The snapshot was written
    all the same, the symbol sold as delisted for good (a resume reuses the snapshot); now it is a temporary failure,
    exit 75, nothing written, and a run once the provider answers decides."""
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "alpaca,yfinance")
    monkeypatch.setitem(providers_module.FACTORIES, "yfinance", lambda _assets, _settings, _file: _Unheard(why))
    ended = next(s for s in sorted(history) if s != BENCHMARK)
    args = ["backtest", "--from", WEEK.isoformat(), "--to", WEEK.isoformat(), "--offline", "--fetch-history"]
    with _ended_feed(history, ended, WEEK) as server:
        monkeypatch.setenv("LLMTRADE_ALPACA_DATA_URL", server.base_url)
        waited = runner.invoke(cli, [*args, "--name", "unheard"])
    assert waited.exit_code == 75, waited.output
    said = " ".join(waited.stderr.split())
    assert f"alpaca's history of {ended} ends at {WEEK}" in said and "could not be asked" in said, said
    assert "nothing was written" in said
    folder = snapshot_folder(Settings(LLMTRADE_HOME=str(tmp_path)), "unheard")
    assert not folder.exists() and not folder.with_name("prices.partial").exists()


@pytest.mark.parametrize("failure", ["503", "429", "timeout", "live"])
def test_a_provider_that_cannot_be_asked_now_is_a_wait_and_writes_nothing(
    feed: Feed, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """Every provider failing temporarily (a 5xx, a 429, a timeout, its bar of the range's last session not final)
    is a temporary failure, exit 75 with each reason, and no snapshot (nor a partial one) is left."""
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "yfinance" if failure == "live" else "alpaca")
    url = feed.server.base_url
    fast = {"url_override": url, "timeout_seconds": 0.5, "retry_attempts": 1, "retry_wait_seconds": 0.01}
    monkeypatch.setitem(providers_module.FACTORIES, "alpaca", lambda _a, _s, _f: AlpacaBarProvider(KEY, SECRET, **fast))
    monkeypatch.setitem(providers_module.FACTORIES, "yfinance", lambda _a, _s, _f: _Unheard("live"))
    if failure == "timeout":
        feed.server.fail_route("GET", "/v2/stocks/bars", 200, times=10, delay_seconds=1.0)
    elif failure != "live":
        feed.server.fail_next(int(failure), times=10)
    args = ["backtest", "--from", WEEK.isoformat(), "--to", WEEK.isoformat(), "--offline", "--fetch-history"]
    waited = runner.invoke(cli, [*args, "--name", "wait"])
    assert waited.exit_code == 75, waited.output
    reason = {"503": "HTTP 503", "429": "HTTP 429", "timeout": "did not answer within 0.5s", "live": "live until"}
    assert reason[failure] in waited.stderr, waited.stderr
    folder = snapshot_folder(Settings(LLMTRADE_HOME=str(tmp_path)), "wait")
    assert not folder.exists() and not folder.with_name("prices.partial").exists()


def test_a_range_reaching_past_the_last_complete_session_is_refused_before_any_provider_is_asked(
    feed: Feed, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--to this week or later: its jobs read sessions no provider has yet. Alpaca's answer ended at today, every
    symbol but the benchmark was taken for a delisting, and Yahoo, not asked for a bar not final (the range's last
    session is days away), made it a wait (exit 75, 'run it again later'); with Alpaca alone the benchmark's 'stale'
    history refused it (exit 1). The range is the thing to change: exit 2 saying so, nothing asked, nothing written."""
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "alpaca,yfinance")
    monkeypatch.setenv("LLMTRADE_ALPACA_DATA_URL", feed.server.base_url)
    week = (date.today() + timedelta(days=(2 - date.today().weekday()) % 7 + 7)).isoformat()  # next week's Wednesday
    args = ["backtest", "--from", week, "--to", week, "--offline", "--fetch-history", "--name", "ahead"]
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.stderr.split())
    assert "not complete yet" in said and "end the range earlier" in said, said
    assert feed.requests() == 0
    assert not snapshot_folder(Settings(LLMTRADE_HOME=str(tmp_path)), "ahead").exists()


def test_a_range_past_the_last_complete_session_names_the_last_week_it_could_end_with(
    feed: Feed, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a new user's trial: `--to` this week over a range begun weeks ago was refused with "end the range
    earlier (a week's jobs read to the Tuesday after it)", leaving the user to work out which --to that is. On Friday
    2026-01-23 (the last complete session Thursday's), the week of 2026-01-14 reads to Tuesday 2026-01-20 and the
    week of 2026-01-21 to 2026-01-27: --to 2026-01-14 is named."""
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "alpaca")
    monkeypatch.setenv("LLMTRADE_ALPACA_DATA_URL", feed.server.base_url)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-23T12:00:00-05:00")
    args = ["backtest", "--from", "2026-01-07", "--to", "2026-01-28", "--offline", "--fetch-history", "--name", "to"]
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.stderr.split())
    assert "the range reads prices to 2026-02-03, a session not complete yet" in said, said
    assert "(the last one complete now is 2026-01-22)" in said, said
    assert (
        "end the range with --to 2026-01-14 (its last week the sessions closed now cover, reading to 2026-01-20)"
        in said
    )
    assert feed.requests() == 0


def _quiet_feed(history: dict[str, list[Bar]], quiet: str, days: Sequence[date]) -> FakeAlpacaServer:
    """The fake Alpaca with no bar of `quiet` on `days` (its iex feed saw no trade of it then), every other bar kept."""
    server = FakeAlpacaServer(key_id=KEY, secret_key=SECRET, page_size=10_000)
    for symbol, rows in history.items():
        server.add_bars(symbol, [b for b in rows if symbol != quiet or b.day not in days])
    return server


def _fetch_closed(settings: Settings, name: str, symbols: Sequence[str]) -> object:
    """`fetch_history` of the two months to WEEK, asked long after: the sessions after the range have all closed."""
    clock = FixedClock(FIXED_NOW + timedelta(days=60))
    return fetch_history(
        settings,
        load_config(None),
        clock,
        name=name,
        symbols=symbols,
        start=WEEK - timedelta(days=60),
        end=WEEK,
        say=print,
    )


@pytest.mark.parametrize("quiet_sessions", [1, 2])
def test_a_symbol_without_a_trade_on_the_range_s_last_sessions_is_no_delisting_and_nothing_is_written(
    history: dict[str, list[Bar]],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    quiet_sessions: int,
) -> None:
    """A thin name Alpaca's iex feed saw no trade of on the range's last sessions (every other symbol has them), trading
    again after the range: its history was taken to end there and stored as a delisting (two sessions or more still
    were), the backtest selling a live company. Now it is refused as a session in the middle is (the snapshot is the
    backtest's whole record), naming IEX, and nothing is written."""
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    quiet = next(s for s in sorted(history) if s != BENCHMARK)
    days = [b.day for b in history[BENCHMARK] if b.day <= WEEK][-quiet_sessions:]
    assert any(b.day > WEEK for b in history[quiet])  # it trades again after the range
    with _quiet_feed(history, quiet, days) as server:
        settings = _settings(database_url, tmp_path, Feed(server, history))
        with pytest.raises(OperationalError) as failed:
            _fetch_closed(settings, "quiet", sorted(history))
    said = str(failed.value)
    assert f"{quiet} on {days[0]}" in said and "IEX" in said, said
    assert not snapshot_folder(settings, "quiet").exists()


def test_a_symbol_without_a_trade_at_the_range_s_end_that_never_trades_again_is_a_delisting(
    history: dict[str, list[Bar]], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same two quiet sessions at the end of a range long closed, and no bar after the range either, longer than a
    quiet name goes without one (QUIET_TAIL sessions in all): its history ended, stored so and taken as a delisting."""
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    ended = next(s for s in sorted(history) if s != BENCHMARK)
    last = [b.day for b in history[BENCHMARK] if b.day <= WEEK][-3]
    with _ended_feed(history, ended, last) as server:
        settings = _settings(database_url, tmp_path, Feed(server, history))
        snapshot = _fetch_closed(settings, "gone", sorted(history))
    rows = (snapshot.folder / f"{ended}.csv").read_text().splitlines()  # type: ignore[attr-defined]
    assert rows[-1].startswith(last.isoformat())
