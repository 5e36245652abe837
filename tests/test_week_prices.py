"""A week's jobs price on the kind of prices it began with (app/week_mode.py): the offline demo's synthetic week, once
keys and a CSV folder are set, is neither filled nor judged at real prices, and a real-priced week is never continued
on the synthetic market."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import load_config
from llmtrade.domain.market import MarketDataFetched
from llmtrade.domain.trading import OrderFilled
from llmtrade.market.synthetic import SyntheticMarket
from tests.support import going_live, stored_events

runner = CliRunner()
WEEK = date(2026, 1, 7)


def write_real_prices(folder: Path, scale: float = 4.0) -> None:
    """Every universe symbol's daily bars to the week's end, at `scale` times the synthetic market's (seed 7, the
    default's): "real" prices far from the synthetic ones, as SPY's real ~600 is from a synthetic ~300."""
    classes = {i.symbol: i.asset_class.value for i in load_config(None).config.assets.universe}
    history = SyntheticMarket(classes, seed=7).daily_bars(list(classes), date(2025, 1, 2), date(2026, 1, 13))
    folder.mkdir()
    for symbol, bars in history.items():
        rows = [
            f"{b.day},{b.open * scale},{b.high * scale},{b.low * scale},{b.close * scale},{int(b.volume)}" for b in bars
        ]
        (folder / f"{symbol}.csv").write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")


def test_a_synthetic_week_continued_after_keys_and_a_csv_folder_are_set_stays_on_synthetic_prices(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick start's week, sized by the risk gate at synthetic prices with its orders queued for the open; the
    user then sets a model key and a CSV folder. The week's checkpoint ran offline (week_mode) but priced on the CSV
    files: the queued orders filled at real prices four times the ones they were sized at (80% of an account in one
    position, past the gate's 20%), and the week was judged at prices it was never traded at."""
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # no keys: offline, synthetic
    write_real_prices(tmp_path / "csv")
    with going_live(monkeypatch, market=tmp_path / "csv") as fake:
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
        due = runner.invoke(app, ["run-due"])
        assert due.exit_code == 0, due.output
        assert fake.requests == []
    assert (
        "week 2026-01-07 began offline: its jobs run offline to its end (the rules provider, synthetic prices, paper "
        "brokers), as it began; the next week, on the real prices set now, cannot begin in these books priced on the "
        "synthetic market: begin the real books apart (another LLMTRADE_HOME or DATABASE_URL)"
    ) in due.stderr
    fetched = [
        MarketDataFetched.from_event(e) for e in stored_events(wednesday_week, week_id=WEEK, type="MarketDataFetched")
    ]
    assert fetched and all(f.synthetic for f in fetched), [(f.provider, f.synthetic) for f in fetched]
    fills = [OrderFilled.from_event(e).fill for e in stored_events(wednesday_week, type="OrderFilled")]
    assert fills
    for fill in fills:
        assert fill.qty * fill.price <= 0.2 * 100_000 * 1.01, fill  # the gate's 20% of the starting equity


def test_a_real_priced_week_is_not_continued_on_the_synthetic_market(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_real_prices(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(tmp_path / "csv"))  # offline on the CSV folder: real prices
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.delenv("LLMTRADE_MARKET_CSV_DIR")  # the folder forgotten: offline is the synthetic market again
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
    due = runner.invoke(app, ["run-due"])
    assert due.exit_code == 2, due.output
    assert "week 2026-01-07 was priced on real prices, and the market set now is the synthetic one alone" in due.stderr
    fetched = [
        MarketDataFetched.from_event(e) for e in stored_events(wednesday_week, week_id=WEEK, type="MarketDataFetched")
    ]
    assert not any(f.synthetic for f in fetched)
    assert stored_events(wednesday_week, type="OrderFilled") == []  # the orders queued for the open: not filled


def _week_runs(url: str) -> list[tuple[str, str, str]]:
    return [(str(e.week_id), e.payload["command"], e.payload["mode"]) for e in stored_events(url, type="RunStarted")]


def test_the_first_week_on_real_prices_after_the_synthetic_demo_weeks_is_refused_not_carried_into_real_books(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick start's week, then keys and real prices: the next week's run valued the demo's positions at real
    prices (a short bought at a synthetic 11, valued at a real 72: -110% and a breaker halt; a long at +58%), sized its
    orders off those equities, and the leaderboard ranked the two kinds of prices together."""
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # no keys: offline, synthetic
    write_real_prices(tmp_path / "csv")
    with going_live(monkeypatch, market=tmp_path / "csv") as fake:
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:01:00-05:00")
        due = runner.invoke(app, ["run-due"])
        assert due.exit_code == 2, due.output
        assert fake.requests == [], due.output
    assert (
        "week 2026-01-14 would be priced on real prices, but these books hold weeks priced on the synthetic market "
        "(week 2026-01-07, the offline demo's)" in due.stderr
    )
    assert "Begin the real books apart: another LLMTRADE_HOME (or DATABASE_URL)" in due.stderr
    # The demo's week was closed on its own prices; nothing of the next week was begun.
    assert [r for r in _week_runs(wednesday_week) if r[0] == "2026-01-14"] == []
    fetched = [MarketDataFetched.from_event(e) for e in stored_events(wednesday_week, type="MarketDataFetched")]
    assert all(f.synthetic for f in fetched)
    # Kept on the synthetic market, the same books go on, live.
    with going_live(monkeypatch, market="synthetic") as fake:
        assert runner.invoke(app, ["run-due"]).exit_code == 0
        assert fake.requests
    assert ("2026-01-14", "run-weekly", "live") in _week_runs(wednesday_week)


def test_a_week_on_the_synthetic_market_after_real_weeks_is_refused(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """And back: a live week on real prices, closed, then the key and the prices removed. The next week would have
    valued the real books' positions at synthetic prices (offline, the synthetic market is the default)."""
    write_real_prices(tmp_path / "csv")
    with going_live(monkeypatch, market=tmp_path / "csv"):
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
        assert runner.invoke(app, ["run-due"]).exit_code == 0  # the live week closed live
    for name in ("LLMTRADE_LLM_BASE_URL", "LLMTRADE_MARKET_PROVIDERS", "LLMTRADE_MARKET_CSV_DIR"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:01:00-05:00")
    due = runner.invoke(app, ["run-due"])  # no key, no folder: offline, the synthetic market
    assert due.exit_code == 2, due.output
    assert (
        "week 2026-01-14 would be priced on the synthetic market, but these books hold weeks priced on real prices "
        "(week 2026-01-07)" in due.stderr
    )
    assert [r for r in _week_runs(wednesday_week) if r[0] == "2026-01-14"] == []
    assert not any(
        MarketDataFetched.from_event(e).synthetic for e in stored_events(wednesday_week, type="MarketDataFetched")
    )


def test_status_values_the_synthetic_books_on_the_synthetic_market_once_real_prices_are_set(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys and a CSV folder set after the quick start's week: `status` valued its synthetic positions at the files'
    prices (a short at a synthetic 11 shown at a real 72: -110%) before any week had traded on them."""
    import json

    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # no keys: offline, synthetic
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
    assert runner.invoke(app, ["run-due"]).exit_code == 0  # the orders filled; positions held past the close
    write_real_prices(tmp_path / "csv")  # four times the synthetic prices
    with going_live(monkeypatch, market=tmp_path / "csv"):
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T08:00:00-05:00")
        result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["synthetic"] is True
    accounts = report["accounts"]
    assert any(a["positions"] for a in accounts)
    for account in accounts:  # at four times the prices bought at, a 20% position alone would be 60% up or down
        assert abs(account["equity"] - 100_000) < 5_000, account
    with going_live(monkeypatch, market=tmp_path / "csv"):
        table = runner.invoke(app, ["status"])
    assert "(week 2026-01-07, valued at the close of 2026-01-07 on SYNTHETIC prices)" in table.stdout, table.stdout


def test_an_account_at_alpaca_is_never_traded_on_the_synthetic_market(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live run may price on the synthetic market alone when asked (LLMTRADE_MARKET_PROVIDERS=synthetic, as the
    refusal of real prices in the demo's books offers); with an account's Alpaca keys set, the risk gate sized its
    orders off synthetic prices and Alpaca filled them at real ones."""
    from tests.fakes.alpaca_server import FakeAlpacaServer

    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        monkeypatch.setenv("LLMTRADE_ALPACA_URL", server.base_url)
        monkeypatch.setenv("ALPACA_ACCT_1_KEY", "k")
        monkeypatch.setenv("ALPACA_ACCT_1_SECRET", "s")
        with going_live(monkeypatch, market="synthetic") as fake:
            result = runner.invoke(app, ["run-weekly"])
            assert fake.requests == [], result.output
        sent = dict(server.orders)
    assert result.exit_code == 2, result.output
    assert "acct_1 trades at a broker (alpaca), and the market set is the synthetic one" in result.stderr
    assert stored_events(wednesday_week, type="OrderSubmitted") == []
    assert sent == {}


def test_books_an_earlier_build_let_mix_the_kinds_of_prices_are_said_first_by_the_leaderboard_and_status(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Books an earlier build carried from the synthetic demo into real prices: the leaderboard and status ranked and
    valued them as one record, with no word of the mix."""
    import json

    from llmtrade.app import week_mode

    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # no keys: offline, synthetic
    write_real_prices(tmp_path / "csv")
    with going_live(monkeypatch, market=tmp_path / "csv"):
        with monkeypatch.context() as earlier_build:  # no refusal of the other kind of prices
            earlier_build.setattr(week_mode, "require_the_books_kind", lambda *_a, **_k: None)
            monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:01:00-05:00")
            assert runner.invoke(app, ["run-due"]).exit_code == 0
        mixed = (
            "these books mix kinds of prices: week 2026-01-07 on the synthetic market, week 2026-01-14 on real prices"
        )
        board = runner.invoke(app, ["leaderboard", "--json"])
        assert board.exit_code == 0, board.output
        assert json.loads(board.stdout)["notes"][0].startswith(mixed)
        status = runner.invoke(app, ["status", "--json"])
        assert status.exit_code == 0, status.output
        assert json.loads(status.stdout)["warnings"][0].startswith(mixed)


def test_a_live_week_whose_key_lapsed_says_what_finishes_it(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model key removed mid-week, the CSV prices kept: every wake-up refused the live week with "would mix
    synthetic and real" (both are real here) and "use a separate database for offline trials", never saying that the
    key finishes it."""
    write_real_prices(tmp_path / "csv")
    with going_live(monkeypatch, market=tmp_path / "csv"):
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.delenv("LLMTRADE_LLM_BASE_URL")  # the key gone; LLMTRADE_MARKET_PROVIDERS=csv still set
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
    due = runner.invoke(app, ["run-due"])
    assert due.exit_code == 1, due.output
    assert (
        "week 2026-01-07 was started in live mode; an offline run cannot continue it (offline now: no key set: "
        "OPENROUTER_API_KEY (provider openrouter)): its checkpoints and postmortem would be the rules provider's "
        "answers on the positions its models opened. Run it live again to finish it (the model key set, no --offline)"
    ) in due.stderr
    assert "synthetic" not in due.stderr


def test_config_validate_and_status_say_the_next_week_will_be_refused_on_the_other_kind_of_prices(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's way after the quick start: set the keys and the prices, then `config validate`. It said
    "configuration OK" and nothing else, and the next week's run refused the real prices in the demo's books (exit 2)
    at its first wake-up; status said nothing of it either."""
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # no keys: offline, synthetic
    write_real_prices(tmp_path / "csv")
    refused = (
        "with the prices set now (csv), the next week's run will be refused: week 2026-01-14 would be priced on real "
        "prices, but these books hold weeks priced on the synthetic market (week 2026-01-07, the offline demo's)"
    )
    with going_live(monkeypatch, market=tmp_path / "csv") as fake:
        checked = runner.invoke(app, ["config", "validate"])
        assert checked.exit_code == 0, checked.output
        assert "configuration OK" in checked.stdout
        assert refused in checked.stderr
        status = runner.invoke(app, ["status"])
        assert status.exit_code == 0, status.output
        assert refused in status.stderr
        assert fake.requests == []
    # The prices the books began on: nothing to say.
    for name in ("LLMTRADE_LLM_BASE_URL", "LLMTRADE_MARKET_PROVIDERS", "LLMTRADE_MARKET_CSV_DIR"):
        monkeypatch.delenv(name)
    checked = runner.invoke(app, ["config", "validate"])
    assert checked.exit_code == 0, checked.output
    assert "will be refused" not in checked.output
