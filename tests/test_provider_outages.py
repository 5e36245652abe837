"""No network under cron: `run-due` and `discover` exit 75 (try again later) in one line naming the reason, with
nothing of yfinance on stderr, the failures on record and nothing frozen, so the next wake-up goes on. A provider
that answers wrongly (a refused key, a hole) still exits 1, outage or not.

Found by the new-user trial in a fresh clone without network: both exited 1 ("fix me"), under -q with some 45 and
366 lines of yfinance's own log, and discover's error listed every candidate. The outage here is real, not faked:
yfinance runs whole, with curl (its transport) sent through a proxy on a loopback port where nobody listens; Alpaca
is alpaca-py meeting a refused port. Nothing leaves the machine."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

import llmtrade
from llmtrade.cli import app
from llmtrade.config.candidates import packaged_candidates
from llmtrade.config.loader import load_config
from llmtrade.market.synthetic import SyntheticMarket
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.llm_transport import BASE_URL
from tests.support import WEDNESDAY_8AM, going_live, stored_events

runner = CliRunner()
SOURCE = str(Path(llmtrade.__file__).parents[1])  # the code under test, for the subprocess


def closed_port() -> int:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def offline(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A live setup (a model key) on a machine where Yahoo cannot be reached: the database URL."""
    import yfinance

    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    yfinance.data.YfData.cache_get.cache_clear()  # answers for past ranges are kept in memory, process-wide
    yfinance.config.network.proxy = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", BASE_URL)
    monkeypatch.delenv("LLMTRADE_MARKET_PROVIDERS", raising=False)  # assets.yaml's: alpaca, then yfinance
    for name in ("ALPACA_DATA_KEY", "ALPACA_DATA_SECRET", "LLMTRADE_ALPACA_DATA_URL", "LLMTRADE_ALPACA_URL"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield cli_env["DATABASE_URL"]
    finally:
        yfinance.config.network.proxy = None


def _alpaca_data(monkeypatch: pytest.MonkeyPatch, url: str, key: str = "key", secret: str = "secret") -> None:
    monkeypatch.setenv("ALPACA_DATA_KEY", key)
    monkeypatch.setenv("ALPACA_DATA_SECRET", secret)
    monkeypatch.setenv("LLMTRADE_ALPACA_DATA_URL", url)


def _failed(url: str) -> list[tuple[str, str]]:
    return [(e.payload["provider"], e.payload["error_type"]) for e in stored_events(url, type="MarketProviderFailed")]


@pytest.mark.parametrize("alpaca", ["no keys", "unreachable"])
def test_run_due_with_no_provider_reachable_exits_75_in_one_line_and_the_next_wake_up_runs_the_week(
    offline: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, alpaca: str
) -> None:
    if alpaca == "unreachable":
        _alpaca_data(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    with going_live(monkeypatch, market=None) as fake:
        down = runner.invoke(app, ["-q", "run-due"])
        assert down.exit_code == 75, down.output
        [line] = down.stderr.splitlines()
        # yfinance logged some 45 lines; none went past its logger (under pytest to pytest's handler, under cron to
        # Python's last-resort stderr: the subprocess test below shows that one).
        assert [r.getMessage() for r in caplog.records if r.name.startswith("yfinance")] == []
        assert line.startswith("error: stage 'market_snapshot' failed: alpaca: ")
        assert "(so no market data provider could supply 12 symbols" in line
        assert "yfinance: yfinance returned no bars: Failed to connect to query2.finance.yahoo.com:443" in line
        reason = "connection refused" if alpaca == "unreachable" else "ALPACA_DATA_KEY / ALPACA_DATA_SECRET not set"
        assert f"alpaca: {'could not reach' if alpaca == 'unreachable' else 'alpaca is not available'}" in line
        assert reason in line and down.stdout == "" and fake.requests == []
        unset = "MarketDataUnavailable" if alpaca == "unreachable" else "MarketProviderUnset"
        assert _failed(offline) == [("alpaca", unset), ("yfinance", "MarketDataUnavailable")]
        [run] = stored_events(offline, type="RunFailed")
        assert run.payload["command"] == "run-weekly" and "market_snapshot" in run.payload["error"]
        # The network is back (Alpaca's data answers): the next wake-up runs the week; nothing of the failed run held
        # it back.
        with FakeAlpacaServer(key_id="key", secret_key="secret", page_size=10_000) as server:
            assets = load_config(None).config.assets
            market = SyntheticMarket({i.symbol: i.asset_class.value for i in assets.universe})
            for symbol, bars in market.daily_bars(list(assets.symbols), date(2024, 6, 3), date(2026, 1, 6)).items():
                server.add_bars(symbol, bars)
            _alpaca_data(monkeypatch, server.base_url)
            monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:05:00-05:00")
            up = runner.invoke(app, ["-q", "run-due"])
    assert up.exit_code == 0, up.output
    assert fake.requests and stored_events(offline, type="RunFinished")


def test_discover_with_no_provider_reachable_exits_75_naming_a_few_candidates_of_how_many(offline: str) -> None:
    every = [c.symbol for c in packaged_candidates()]
    result = runner.invoke(app, ["-q", "discover"])
    assert result.exit_code == 75, result.output
    [line] = result.stderr.splitlines()
    assert f"no market data provider could supply {len(every)} symbols ({', '.join(every[:5])} and " in line
    assert "Failed to connect to query2.finance.yahoo.com:443" in line
    assert every[-1] not in line.split() and len(line) < 700  # not the wall of every candidate
    assert _failed(offline) == [("alpaca", "MarketProviderUnset"), ("yfinance", "MarketDataUnavailable")]
    [run] = stored_events(offline, type="RunFailed")
    assert run.payload["command"] == "discover" and run.payload["error_type"] == "MarketDataUnavailable"


def test_discover_with_the_alpaca_assets_api_unreachable_exits_75_in_one_line(
    offline: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    _alpaca_data(monkeypatch, f"http://127.0.0.1:{port}")
    monkeypatch.setenv("LLMTRADE_ALPACA_URL", f"http://127.0.0.1:{port}")
    result = runner.invoke(app, ["-q", "discover"])
    assert result.exit_code == 75, result.output
    assert result.stderr.splitlines() == ["error: could not reach the Alpaca assets API: connection refused"]
    # Without -q the mode comes first, as from every command (it was missing: the banner waited for the run).
    said = runner.invoke(app, ["discover"]).stderr.splitlines()
    assert [line.split(":")[0] for line in said] == ["LIVE MODE", "error"], said


def test_alpaca_refusing_the_keys_still_exits_1_on_record(offline: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeAlpacaServer(key_id="right", secret_key="right") as server:
        _alpaca_data(monkeypatch, server.base_url, key="wrong", secret="wrong")
        result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 1, result.output
    line = result.stderr.splitlines()[-1]  # after the stage's "failed" line
    assert "alpaca refused the market data request: check the keys" in line and "HTTP 401" in line
    assert _failed(offline) == [("alpaca", "MarketDataError")]


def test_a_session_alpaca_has_no_bar_of_while_yahoo_is_unreachable_is_read_without_it_and_said(
    offline: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alpaca answers without one session of SPY: a day its iex feed saw no trade in (market/untraded.py); Yahoo, the
    fallback, cannot be reached. No provider has the session, so SPY is read without it (never filled from the day
    before, nor cached), said and recorded, and the week goes on to its research (whose models this network cannot
    reach either: a wait, 75); it stopped at its prices, exit 1, on a hole "to re-export"."""
    assets = load_config(None).config.assets
    market = SyntheticMarket({i.symbol: i.asset_class.value for i in assets.universe})
    with FakeAlpacaServer(key_id="key", secret_key="secret", page_size=10_000) as server:
        for symbol, bars in market.daily_bars(list(assets.symbols), date(2024, 6, 3), date(2026, 1, 6)).items():
            server.add_bars(symbol, [b for b in bars if not (symbol == "SPY" and b.day == date(2025, 12, 30))])
        _alpaca_data(monkeypatch, server.base_url)
        result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 75, result.output
    assert "SPY has no bar of 2025-12-30" in result.stderr and "IEX" in result.stderr
    assert "research: waiting for" in result.stderr.splitlines()[-1]  # the market data passed
    assert not stored_events(offline, type="MarketDataRejected")
    untraded = stored_events(offline, type="SessionsUntraded")
    said = {(e.payload["symbol"], tuple(e.payload["days"])) for e in untraded}
    assert untraded and said == {("SPY", ("2025-12-30",))}


def test_under_cron_a_real_process_without_network_says_one_line_and_exits_75(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The same outage as a cron job meets it: a fresh process, no handler configured for yfinance's logger (Python
    prints such records on stderr itself), curl's proxy taken from the environment as curl takes it."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {k: v for k, v in cli_env.items() if not k.startswith(("ALPACA_", "LLMTRADE_"))}
    env |= {
        "LLMTRADE_NOW": WEDNESDAY_8AM,
        "LLMTRADE_LLM_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1",
        "https_proxy": proxy,
        "HTTPS_PROXY": proxy,
        "PYTHONPATH": SOURCE,
        "HOME": str(tmp_path),  # yfinance's caches and llmtrade's logs, not the user's
    }
    result = subprocess.run(
        [sys.executable, "-m", "llmtrade", "-q", "run-due"], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 75, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: stage 'market_snapshot' failed: alpaca: ")
    assert "(so no market data provider could supply 12 symbols" in line
    assert "Failed to connect to query2.finance.yahoo.com:443 over proxy 127.0.0.1" in line


def test_discover_whose_memory_meets_the_outage_first_is_on_record_as_failed(
    offline: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an earlier week's market condition remembered, discover first prices the universe for the picker's
    memory: the outage meets it there, before the candidates, and the run is still recorded as failed."""
    monkeypatch.setenv("LLMTRADE_NOW", "2025-12-31T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly", "--offline"]).exit_code == 0
    assert stored_events(offline, type="ConditionRemembered")
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    result = runner.invoke(app, ["-q", "discover"])
    assert result.exit_code == 75, result.output
    [line] = result.stderr.splitlines()
    assert "no market data provider could supply 12 symbols" in line  # the universe's, not the candidates'
    started = [e.run_id for e in stored_events(offline, type="RunStarted") if e.payload["command"] == "discover"]
    assert [e.run_id for e in stored_events(offline, type="RunFailed")] == started
