"""`discover` and `watchlist` end to end, offline, against the real embedded PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_market_data import write_csv

runner = CliRunner()
NOW = "2026-01-07T08:00:00-05:00"


def _json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_offline_discover_sets_a_watchlist_of_at_most_twenty_candidates(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    found = _json("discover", "--offline")
    assert found["candidates"] >= 100
    assert 1 <= len(found["watchlist"]) <= 20
    assert {p["picker"] for p in found["pickers"]} == {"metric", "fuzzy", "llm", "random", "momentum", "ensemble"}
    shown = _json("watchlist", "show")
    assert [e["symbol"] for e in shown["entries"]] == [e["symbol"] for e in found["watchlist"]]
    # Judged on the synthetic market, and said so (a trial found no word of it in discover or its performance).
    assert found["synthetic"] is True and _json("discover", "performance")["synthetic"] is True
    said = runner.invoke(app, ["discover", "--offline"])
    assert "SYNTHETIC (the seeded synthetic market): every score and pick is made up" in said.stdout
    shown = runner.invoke(app, ["discover", "performance"]).stdout
    assert "SYNTHETIC" in shown and "pickers alike" not in shown  # 100-odd candidates: each picker's best 20 differ


def test_discover_performance_fills_once_forward_returns_mature(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    _json("discover", "--offline")
    empty = _json("discover", "performance")
    assert (empty["judged_sessions"], empty["matured_sessions"]) == (1, 0)
    assert {p["picker"] for p in empty["pickers"]} == {"metric", "fuzzy", "llm", "random", "momentum", "ensemble"}
    assert all(p["mean_ic"] is None for p in empty["pickers"])
    # Said as nothing yet, not as weights "re-fitted from matured outcomes" that are the configured ones.
    said = runner.invoke(app, ["discover", "performance"]).stdout
    assert "none re-fitted yet (no suggestion's forward return has matured)" in said
    assert "re-fitted from matured outcomes" not in said
    assert "nothing has matured: a suggestion is judged 5 sessions after the discovery that made it" in said
    # A week later: 2026-01-06 + 5 sessions = 2026-01-13 has closed; + 20 sessions has not.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T06:00:00-05:00")
    _json("discover", "--offline")
    five = _json("discover", "performance", "--horizon", "5")
    assert (five["judged_sessions"], five["matured_sessions"]) == (2, 1)
    by = {p["picker"]: p for p in five["pickers"]}
    assert by["ensemble"]["mean_ic"] is not None and -1 <= by["ensemble"]["mean_ic"] <= 1
    assert by["ensemble"]["coverage"] == 0.5
    assert by["ensemble"]["turnover"] is not None
    assert by["fuzzy"]["ensemble_minus"]["estimate"] is not None
    assert _json("discover", "performance", "--horizon", "20")["matured_sessions"] == 0
    wrong = runner.invoke(app, ["discover", "performance", "--horizon", "7"])
    assert wrong.exit_code == 2 and "1, 5, 20" in wrong.output
    shown = runner.invoke(app, ["discover", "performance"])
    assert shown.exit_code == 0, shown.output
    assert "ensemble minus (95%)" in shown.output and "re-fitted from matured outcomes" in shown.output


def test_watchlist_edits_are_recorded_and_refused_for_unknown_symbols(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    before = runner.invoke(app, ["watchlist", "show"])
    assert before.exit_code == 0 and "no discovery run yet" in before.output
    found = _json("discover", "--offline")
    first = found["watchlist"][0]["symbol"]
    added = _json("watchlist", "add", "xom")
    assert added["entries"][0] == {"symbol": "XOM", "asset_class": "equity", "rank": 1, "score": 0.0, "manual": True}
    removed = _json("watchlist", "remove", first)
    assert first not in {e["symbol"] for e in removed["entries"]} and removed["exclude"] == [first]
    assert len(removed["entries"]) <= 20
    again = _json("watchlist", "add", first)  # an add undoes a remove
    assert again["exclude"] == [] and first in again["include"]
    unknown = runner.invoke(app, ["watchlist", "add", "ZZZZ"])
    assert unknown.exit_code == 2 and "not a discovery candidate" in unknown.output
    # A typo is told the candidates near it (a trial's GLDD was told only that it is none).
    typo = runner.invoke(app, ["watchlist", "remove", "GLDD"])
    assert typo.exit_code == 2 and "nor in the universe; did you mean GLD" in typo.stderr, typo.stderr
    human = runner.invoke(app, ["discover", "--offline"])
    assert human.exit_code == 0 and "watchlist (" in human.output
    # Offline no model picked: the line names the rules, not the model models.yaml configures as if it had answered.
    assert found["llm_rules"] is True
    (line,) = [text for text in human.output.splitlines() if text.startswith("LLM picker")]
    assert "offline rules in place of " in line and "$0, no model asked" in line, line


def test_discover_performance_counts_only_sessions_closed_by_now(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: performance at LLMTRADE_NOW=2026-02-09T12:00 counted the judged session 2026-02-10 (after now)."""
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T06:00:00-05:00")
    _json("discover", "--offline")  # judges the session of 2026-01-13
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T12:00:00-05:00")  # before that session closed
    early = _json("discover", "performance")
    assert (early["asof_session"], early["judged_sessions"], early["matured_sessions"]) == ("2026-01-12", 0, 0)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    assert _json("discover", "performance")["judged_sessions"] == 1


def test_one_candidates_unreadable_csv_file_leaves_it_out_and_discovery_judges_the_rest(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A download script that half-failed left one candidate's file with a row missing its close: the whole discovery
    failed (exit 2), run-due's before every weekly run with it. That candidate is left out, said with its file and
    line, and the others are judged."""
    folder = tmp_path / "csv"
    for symbol in ("SPY", "TLT", "QQQ"):
        write_csv(folder, symbol, date(2025, 1, 2), date(2026, 1, 6))
    lines = (folder / "QQQ.csv").read_text().replace(",QQQ,", ",AAPL,").splitlines()  # a candidate's prices
    cut = lines[100].split(",")
    cut[5] = ""  # Date,Ticker,Open,High,Low,Close,Volume: the close
    lines[100] = ",".join(cut)
    (folder / "AAPL.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    result = runner.invoke(app, ["discover", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["synthetic"] is False  # real prices, from the folder
    assert "AAPL" in found["skipped"]
    assert {e["symbol"] for e in found["watchlist"]} >= {"SPY", "TLT", "QQQ"}
    [said] = [line for line in result.stderr.splitlines() if "AAPL" in line]
    assert said.startswith("discovery left out AAPL: its prices could not be read (")
    assert "AAPL.csv, line 101" in said and "Close '' is not a number" in said
    # Three candidates judged, each picker's best 20 count: every picker picks all three (a trial's 7-ETF folder).
    performance = _json("discover", "performance")
    assert (performance["judged_candidates"], performance["top"]) == (3, 20)
    alike = " ".join(runner.invoke(app, ["discover", "performance"]).stdout.split())
    assert "every picker's picks are all 3 candidates judged (its best 20 count): their hit rates" in alike
    assert "only the rank IC (which ranks every candidate by its score) can tell them apart" in alike


def test_discover_on_a_csv_folder_ending_long_ago_says_why_no_candidate_could_be_judged(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A trial's CSV folder ended months before now: `discover` said only "no discovery candidate has enough history
    to judge" (exit 1), the stale files and their last days shown under --verbose alone."""
    folder = tmp_path / "csv"
    for symbol in ("SPY", "TLT", "QQQ"):
        write_csv(folder, symbol, date(2025, 1, 2), date(2025, 6, 30))
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    result = runner.invoke(app, ["discover", "--offline"])
    assert result.exit_code == 1, result.output
    [said] = [line for line in result.stderr.splitlines() if "no discovery candidate" in line]
    assert "could not be read (SPY: csv: no bars between 2025-09-19" in said, said
    assert "SPY.csv" in said and "TLT.csv" in said, said
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(empty))
    none = runner.invoke(app, ["discover", "--offline"])
    assert none.exit_code == 1, none.output
    assert "no discovery candidate has enough history to judge: there was none to judge" in none.stderr
