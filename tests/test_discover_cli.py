"""`discover` and `watchlist` end to end, offline, against the real embedded PostgreSQL."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

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
