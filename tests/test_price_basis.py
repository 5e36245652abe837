"""What the leaderboard says of its closes: without dividends (Alpaca's split-adjusted bars, Yahoo's Close with
auto_adjust=False, a snapshot fetched from them), unknown (a CSV folder's), or synthetic (no dividend to pay)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmtrade.app.price_basis import adjusted_beside, price_basis, snapshot_provider


@pytest.mark.parametrize(
    ("sources", "said"),
    [
        ({"alpaca"}, "Alpaca's bars with adjustment=split"),
        ({"yfinance"}, "Yahoo's Close with auto_adjust=False"),
        ({"alpaca", "yfinance"}, "Alpaca's bars with adjustment=split; Yahoo's Close with auto_adjust=False"),
    ],
)
def test_provider_closes_are_said_to_leave_dividends_out(sources: set[str], said: str) -> None:
    basis, note = price_basis(sources)
    assert note is not None
    assert basis.dividends == "excluded" and basis.sources == tuple(sorted(sources))
    assert note.startswith(f"prices: closes without dividends ({said}): the paper broker pays none")
    assert "ex-dividend day books the drop in price as a loss for a long position" in note
    assert "no adjustment is made" in note


def test_a_csv_folders_closes_are_said_to_be_of_unknown_kind_even_beside_a_providers() -> None:
    basis, note = price_basis({"csv", "alpaca"})
    assert note is not None
    assert basis.dividends == "unknown" and basis.sources == ("alpaca", "csv")
    assert "of which csv cannot be told adjusted for dividends or not" in note
    assert "the dividends are in the returns" in note


def test_a_fetched_snapshot_is_of_its_providers_kind(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"provider": "yfinance", "start": "2024-01-02"}))
    provider = snapshot_provider(tmp_path)
    assert provider == "yfinance"
    basis, note = price_basis({"csv"}, snapshot=provider)
    assert note is not None
    assert basis.dividends == "excluded"
    assert "(Yahoo's Close with auto_adjust=False, fetched into the CSV snapshot (yfinance))" in note


@pytest.mark.parametrize("manifest", [None, "{not json", json.dumps({"start": "2024-01-02"}), json.dumps([1])])
def test_a_folder_without_a_readable_manifest_names_no_provider(tmp_path: Path, manifest: str | None) -> None:
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(manifest)
    assert snapshot_provider(tmp_path) is None and snapshot_provider(None) is None
    assert price_basis({"csv"}, snapshot=snapshot_provider(tmp_path))[0].dividends == "unknown"


def test_synthetic_closes_pay_no_dividend() -> None:
    basis, note = price_basis({"synthetic"})
    assert basis.dividends == "none" and basis.sources == ("synthetic",)
    assert note is None  # the leaderboard's own note says synthetic prices say nothing of real markets


def _prices(folder: Path, symbol: str, header: str, *, encoding: str = "utf-8") -> None:
    (folder / f"{symbol}.csv").write_text(f"{header}\n2024-01-02,1,1,1,1,1,100\n", encoding=encoding)


def test_closes_read_beside_an_adjusted_close_column_leave_dividends_out(tmp_path: Path) -> None:
    """A folder of Yahoo downloads (Date,Open,High,Low,Close,Adj Close,Volume) was said to be of unknown kind, and the
    note went on "if they are (Yahoo's Adj Close), the dividends are in the returns": a user whose files came from
    Yahoo with an Adj Close column read that dividends were in, but the Close column is read, and it leaves them out.
    No vendor puts an adjusted close beside a Close already adjusted (Yahoo's Adj Close, Alpha Vantage's
    adjusted_close, Tiingo's adjClose, Quandl's Adj. Close)."""
    _prices(tmp_path, "SPY", "Date,Open,High,Low,Close,Adj Close,Volume")
    _prices(tmp_path, "QQQ", "timestamp,open,high,low,close,adjusted_close,volume")
    _prices(tmp_path, "TLT", "date,open,high,low,close,adjClose,volume", encoding="utf-8-sig")
    beside = adjusted_beside(tmp_path, ["SPY", "QQQ", "TLT"])
    assert beside
    basis, note = price_basis({"csv"}, adjusted_beside=beside)
    assert note is not None and basis.dividends == "excluded"
    assert note.startswith(
        "prices: closes without dividends (the files' Close column, beside an adjusted close column that is not "
        "read): the paper broker pays none"
    )


def test_an_adjusted_close_column_in_some_files_only_leaves_the_kind_unknown(tmp_path: Path) -> None:
    _prices(tmp_path, "SPY", "Date,Open,High,Low,Close,Adj Close,Volume")
    _prices(tmp_path, "QQQ", "Date,Open,High,Low,Close,Volume")
    assert not adjusted_beside(tmp_path, ["SPY", "QQQ"])
    assert not adjusted_beside(tmp_path, ["SPY", "GLD"])  # no file: nothing known of it
    assert not adjusted_beside(None, ["SPY"])
    basis, note = price_basis({"csv"}, adjusted_beside=False)
    assert basis.dividends == "unknown" and note is not None
    # The unknown kind no longer points a Yahoo user with an Adj Close column at "dividends are in the returns".
    assert "Yahoo's Adj Close)" not in note
    assert "a file's Adj Close column is never read" in note


@pytest.mark.parametrize("sources", [{"alpaca"}, {"csv"}])
def test_the_note_says_a_short_gains_the_drop_it_would_pay_as_a_dividend(sources: set[str]) -> None:
    # Closes without dividends book an ex-date's drop as a loss only for a long: a short gains it, while its
    # holder would pay the dividend to the share's lender. On 2024 closes of seven ETFs, two offline accounts were
    # short TLT over a monthly ex-date: saying every account loses the drop told the bias backwards for them.
    note = price_basis(sources)[1]
    assert note is not None
    assert "as a loss for the accounts" not in note
    assert "a loss for a long position" in note and "a gain for a short one" in note
    assert "would pay the dividend" in note
