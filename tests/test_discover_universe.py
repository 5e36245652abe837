"""The acceptance path of issue 15, offline on a fresh database: discover -> a watchlist of at most 20 ->
run-weekly in watchlist mode, where a PM pitches a discovered symbol and the risk gate sizes it by its
asset class; the week's universe is fixed once, so a later discovery run does not move it."""

from __future__ import annotations

import json
import shutil
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import SystemClock
from llmtrade.config.candidates import packaged_candidates
from llmtrade.config.loader import load_config, packaged_defaults
from llmtrade.config.sections import DiscoveryConfig
from llmtrade.discovery.universe import held_outside, week_config
from llmtrade.domain.committee import PitchSubmitted
from llmtrade.domain.discovery import (
    ForwardReturns,
    SuggestionsMade,
    UniverseFixed,
    WatchlistEdited,
    WatchlistEntry,
    WatchlistSet,
)
from llmtrade.domain.events import NewEvent
from llmtrade.domain.reconciliation import PositionAdopted, PositionReleased
from llmtrade.domain.streams import DISCOVERY, UNIVERSE, WATCHLIST_EDITS, managed_stream, week_stream
from llmtrade.domain.trading import AccountSnapshot, Fill, OrderFilled, Position, RiskChecked, Side, TradeIntent
from llmtrade.risk import gate
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage

runner = CliRunner()
NOW = "2026-01-07T08:00:00-05:00"


def _config(tmp_path: Path, mode: str) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(Path(str(packaged_defaults())), folder)
    assets = folder / "assets.yaml"
    text = assets.read_text()
    assert "  universe_mode: static\n" in text
    assets.write_text(text.replace("  universe_mode: static\n", f"  universe_mode: {mode}\n"))
    assert load_config(folder).config.assets.discovery.universe_mode == mode
    return folder


def _run(config: Path, *args: str) -> dict:
    result = runner.invoke(app, ["--config", str(config), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _store(database_url: str) -> AbstractContextManager[Storage]:
    return open_storage(Settings(DATABASE_URL=database_url), SystemClock())


def _events(database_url: str, type_: type, **filters: object) -> list:
    with _store(database_url) as storage:
        return [type_.from_event(e) for e in storage.events.read(type=type_.event_type(), **filters)]


def test_run_weekly_in_watchlist_mode_pitches_a_discovered_symbol_sized_by_its_asset_class(
    cli_env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    config = _config(tmp_path, "watchlist")
    static = set(load_config(config).config.assets.symbols)
    found = _run(config, "discover", "--offline")
    watchlist = {e["symbol"]: e["asset_class"] for e in found["watchlist"]}
    assert 1 <= len(watchlist) <= 20
    assert set(watchlist) - static, "the watchlist should hold symbols the static universe lacks"

    weekly = _run(config, "run-weekly", "--offline")
    assert weekly["mode"] == "offline"
    (fixed,) = _events(database_url, UniverseFixed)
    universe = {i.symbol: i for i in fixed.instruments}
    assert set(universe) == set(watchlist) | {"SPY"}
    assert all(universe[s].discovered for s in watchlist if s != "SPY")

    pitched = {p.pitch.instrument for p in _events(database_url, PitchSubmitted)}
    assert pitched <= set(universe)
    discovered = pitched - static
    assert discovered, f"no PM pitched a discovered symbol: {pitched}"
    verdicts = [r.verdict for r in _events(database_url, RiskChecked) if r.verdict.instrument in discovered]
    assert verdicts, "the risk gate never saw a discovered symbol"
    # The gate refuses a symbol outside the week's universe; these it knew and sized.
    assert any(v.approved and v.target_qty != 0 for v in verdicts), verdicts
    classes = {c.symbol: c.asset_class.value for c in packaged_candidates()}
    # The gate sized each by its own asset class: a class-limit clamp (when one applied) names that class.
    for verdict in verdicts:
        for adjustment in verdict.adjustments:
            if adjustment.rule == "max_asset_class_pct":
                assert f"other {classes[verdict.instrument]} positions" in adjustment.detail


def test_the_weeks_universe_is_fixed_once_and_a_later_discovery_does_not_move_it(
    cli_env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    config = _config(tmp_path, "both")
    _run(config, "discover", "--offline")
    assert _run(config, "watchlist", "show")["fixed_week"] is None  # nothing of the week ran: an edit counts now
    _run(config, "run-weekly", "--offline")
    (first,) = _events(database_url, UniverseFixed)
    static = load_config(config).config.assets.symbols
    assert [i.symbol for i in first.instruments][: len(static)] == static  # both: the universe, then the watchlist
    added = next(i.symbol for i in first.instruments if i.discovered)
    removed = _run(config, "watchlist", "remove", added)
    assert removed["fixed_week"] == "2026-01-07"  # said: the change reaches the committee next week
    said = runner.invoke(app, ["--config", str(config), "watchlist", "add", added])
    assert "universe of week 2026-01-07 already fixed: changes apply from 2026-01-14" in said.output, said.output
    _run(config, "watchlist", "remove", added)
    assert added not in {e["symbol"] for e in _run(config, "watchlist", "show")["entries"]}
    _run(config, "discover", "--offline")
    _run(config, "run-weekly", "--offline")  # the rerun of the same week
    fixed = _events(database_url, UniverseFixed, stream=week_stream(date(2026, 1, 7), UNIVERSE))
    assert fixed == [first]


def test_a_held_symbol_that_left_the_watchlist_stays_in_next_weeks_universe_and_is_priced(
    cli_env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    config = _config(tmp_path, "watchlist")
    static = set(load_config(config).config.assets.symbols)
    _run(config, "discover", "--offline")
    _run(config, "run-weekly", "--offline")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    _run(config, "checkpoint", "12:00")  # records the paper fills of the morning
    fills = [f.fill for f in _events(database_url, OrderFilled)]
    held = sorted({f.symbol for f in fills} - static)
    assert held, "no discovered symbol was bought"
    for symbol in held:
        _run(config, "watchlist", "remove", symbol)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    _run(config, "run-weekly", "--offline")
    (week2,) = _events(database_url, UniverseFixed, stream=week_stream(date(2026, 1, 14), UNIVERSE))
    kept = {i.symbol: i for i in week2.instruments}
    still = [s for s in held if _net(fills, s)]
    assert still and all(kept[s].held and kept[s].discovered for s in still)
    loaded = load_config(config).config
    with _store(database_url) as storage:
        # Status and positions price the universe and what is held outside it (market/held_prices.py).
        assert set(still) <= set(loaded.assets.symbols) | set(held_outside(loaded, storage.events))
        static_config = load_config(None).config
        # Whatever the mode: the universe says what may be pitched, not what is valued (a held symbol is priced).
        outside = held_outside(static_config, storage.events)
        assert not set(outside) & set(static_config.assets.symbols)
        assert set(still) <= set(static_config.assets.symbols) | set(outside)
    assert _run(config, "status")["accounts"]


def test_static_mode_records_no_universe_and_trades_the_configured_list(
    cli_env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    result = runner.invoke(app, ["discover", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["run-weekly", "--offline", "--json"]).exit_code == 0
    assert _events(database_url, UniverseFixed) == []
    static = set(load_config(None).config.assets.symbols)
    assert {p.pitch.instrument for p in _events(database_url, PitchSubmitted)} <= static


def test_the_gate_sizes_a_discovered_symbol_by_its_asset_class(storage: Storage) -> None:
    config = load_config(None).config
    config = config.model_copy(
        update={"assets": config.assets.model_copy(update={"discovery": DiscoveryConfig(universe_mode="watchlist")})}
    )
    entry = WatchlistEntry(symbol="BKLN", asset_class="credit", rank=1, score=0.9)
    listed = WatchlistSet(asof=datetime(2026, 1, 6, 21, tzinfo=UTC), session=date(2026, 1, 6), entries=[entry])
    storage.events.append([NewEvent.of(listed, stream=DISCOVERY)])
    week = week_config(config, storage.events, date(2026, 1, 7), "run-1")
    intent = TradeIntent(account_id="a", instrument="BKLN", direction="LONG", conviction=2, source="pitch:x")
    # HYG (credit, held from an earlier week, not in this week's universe) takes 25% of equity: BKLN gets the 5% left.
    account = AccountSnapshot(
        account_id="a",
        cash=75_000.0,
        equity=100_000.0,
        buying_power=75_000.0,
        positions={"HYG": Position(symbol="HYG", qty=250, avg_price=100.0)},
    )
    prices = {"HYG": 100.0, "BKLN": 20.0}
    refused = gate.check(intent, account, 20.0, assets=config.assets, risk=config.risk, prices=prices)
    assert not refused.approved and "not in the tradable universe" in refused.reason
    sized = gate.check(intent, account, 20.0, assets=week.assets, risk=config.risk, prices=prices)
    assert sized.approved and sized.target_qty == 250  # 5,000 of room at 20.00
    (clamp,) = [a for a in sized.adjustments if a.rule == "max_asset_class_pct"]
    assert "other credit positions hold 25000.00" in clamp.detail


def _net(fills: list, symbol: str) -> int:
    return sum(f.qty if f.side == "buy" else -f.qty for f in fills if f.symbol == symbol)


def test_run_due_discovers_before_the_weekly_run_and_fills_matured_returns_daily(
    cli_env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _config(tmp_path, "watchlist")
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    due = _run(config, "run-due")
    assert "weekly" in [r["kind"] for r in due]
    judged = _events(database_url, SuggestionsMade)
    assert {m.picker for m in judged} == {"metric", "fuzzy", "llm", "random", "momentum", "ensemble"}
    (fixed,) = _events(database_url, UniverseFixed)
    assert any(i.discovered for i in fixed.instruments)  # the discovery came first, and the week used it
    assert _events(database_url, ForwardReturns) == []
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T18:00:00-05:00")
    _run(config, "run-due")
    assert len(_events(database_url, SuggestionsMade)) == len(judged)  # once a week, not every run-due
    # 2026-01-06 + 1 session matured on the 7th; + 5 sessions (the 13th) not yet.
    assert [(r.session, r.horizon) for r in _events(database_url, ForwardReturns)] == [(date(2026, 1, 6), 1)]


def test_held_outside_follows_the_ledger_adopted_shares_in_hand_made_fills_out(storage: Storage) -> None:
    """A symbol the user adopted is held (it was valued at the broker's cost for good); a fill of an order typed in
    by hand is not llmtrade's until adopted; a release ends it; llmtrade's own fills count as before."""
    config = load_config(None).config
    at = datetime(2026, 1, 7, 15, tzinfo=UTC)

    def fill(cid: str, symbol: str) -> NewEvent:
        done = Fill(
            client_order_id=cid, account_id="acct_1", symbol=symbol, side=Side.BUY, qty=5, price=10.0, filled_at=at
        )
        return NewEvent.of(OrderFilled(fill=done, broker="paper"), stream="orders:acct_1", account_id="acct_1")

    def managed(change: PositionAdopted | PositionReleased) -> NewEvent:
        return NewEvent.of(change, stream=managed_stream("acct_1"), account_id="acct_1")

    storage.events.append([fill("lt-2026-01-05-acct_1-XLE-open", "XLE"), fill("typed-by-hand-1", "MSFT")])
    storage.events.append(
        [managed(PositionAdopted(account_id="acct_1", symbol="AAPL", qty=-3, avg_price=9.0, price=10.0))]
    )
    assert held_outside(config, storage.events) == ["AAPL", "XLE"]
    storage.events.append([managed(PositionReleased(account_id="acct_1", symbol="AAPL", qty=-3))])
    assert held_outside(config, storage.events) == ["XLE"]


def test_a_symbol_kept_only_because_held_is_reduce_only_at_the_gate(storage: Storage) -> None:
    """The new-user trial: `watchlist add nvda`, a week where acct_4 went short 162 NVDA, `watchlist remove nvda`;
    the next week kept NVDA in the universe because it was held, a PM pitched SHORT NVDA again, and the gate added
    to it (-164). What is there only because it is held may be closed or cut, never opened, added to or flipped."""
    config = load_config(None).config
    config = config.model_copy(
        update={"assets": config.assets.model_copy(update={"discovery": DiscoveryConfig(universe_mode="watchlist")})}
    )
    at = datetime(2026, 1, 7, 15, tzinfo=UTC)
    entry = WatchlistEntry(symbol="BKLN", asset_class="credit", rank=1, score=0.9)
    listed = WatchlistSet(asof=datetime(2026, 1, 6, 21, tzinfo=UTC), session=date(2026, 1, 6), entries=[entry])
    edit = WatchlistEdited(symbol="NVDA", action="include", asset_class="us_equity")
    storage.events.append([NewEvent.of(listed, stream=DISCOVERY), NewEvent.of(edit, stream=WATCHLIST_EDITS)])
    sold = Fill(
        client_order_id="lt-2026-01-07-acct_4-NVDA-open",
        account_id="acct_4",
        symbol="NVDA",
        side=Side.SELL,
        qty=162,
        price=180.0,
        filled_at=at,
    )
    storage.events.append(
        [NewEvent.of(OrderFilled(fill=sold, broker="paper"), stream="orders:acct_4", account_id="acct_4")]
    )
    removed = WatchlistEdited(symbol="NVDA", action="exclude", asset_class="us_equity")
    storage.events.append([NewEvent.of(removed, stream=WATCHLIST_EDITS)])
    week = week_config(config, storage.events, date(2026, 1, 14), "run-2")
    (fixed,) = storage.events.read(type=UniverseFixed.event_type())
    assert ("NVDA", True) in {(i.symbol, i.held) for i in UniverseFixed.from_event(fixed).instruments}
    short = AccountSnapshot(
        account_id="acct_4",
        cash=228_350.0,
        equity=200_000.0,
        buying_power=171_650.0,
        positions={"NVDA": Position(symbol="NVDA", qty=-162, avg_price=180.0)},
    )
    flat = AccountSnapshot(account_id="acct_1", cash=100_000.0, equity=100_000.0, buying_power=100_000.0, positions={})
    prices = {"NVDA": 175.0}

    def verdict(account: AccountSnapshot, direction: str, conviction: int, **halt: Any):
        intent = TradeIntent(
            account_id=account.account_id, instrument="NVDA", direction=direction, conviction=conviction, source="x"
        )
        return gate.check(intent, account, 175.0, assets=week.assets, risk=config.risk, prices=prices, **halt)

    added = verdict(short, "SHORT", -2)
    assert added.target_qty == -162, added  # held, not added to
    assert "held" in added.reason and "NVDA" in added.reason
    assert any(a.rule == "held_only" for a in added.adjustments), added.adjustments
    cut = verdict(short, "SHORT", -1)
    assert cut.target_qty == -114 and not cut.adjustments, cut  # a smaller short is a cut, as the gate sized it
    flipped = verdict(short, "LONG", 2)
    assert flipped.target_qty == 0, flipped  # the close of a side change, without its open
    opened = verdict(flat, "LONG", 2)
    assert opened.target_qty == 0 and not opened.approved, opened
    assert "held_only" in opened.reason and "another account holds it" in opened.reason
    assert verdict(short, "FLAT", 0).target_qty == 0
    # A halted account's shadow book (what the halt cost) counts only what the gate would have allowed (review L).
    halted = {"halted": True, "halt_reason": "drawdown 10%"}
    assert verdict(short, "SHORT", -2, **halted).shadow_qty == -162
    assert verdict(short, "LONG", 2, **halted).shadow_qty == 0


def test_market_commands_in_watchlist_mode_show_the_universe_the_committee_sees(
    cli_env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`market snapshot` is "what the committee would see" and `market bars` takes a symbol of the universe: in
    watchlist mode both listed assets.yaml's static universe, so a watchlist symbol was refused as not in the universe
    and the snapshot showed names the committee is not shown (trial M). Neither fixes the week's universe."""
    monkeypatch.setenv("LLMTRADE_NOW", NOW)
    config = _config(tmp_path, "watchlist")
    static = set(load_config(config).config.assets.symbols)
    watched = [e["symbol"] for e in _run(config, "discover", "--offline")["watchlist"]]
    outside = next(s for s in watched if s not in static)
    snapshot = _run(config, "market", "snapshot")
    assert set(snapshot["indicators"]) == {"SPY", *watched}  # watchlist mode: SPY plus the watchlist
    bars = runner.invoke(app, ["--config", str(config), "market", "bars", outside, "--days", "2"])
    assert bars.exit_code == 0, bars.output
    assert f"# {outside} prices: SYNTHETIC (the seeded synthetic market)" in bars.output
    unseen = next(s for s in sorted(static) if s not in watched and s != "SPY")  # static, not shown this week
    refused = runner.invoke(app, ["--config", str(config), "market", "bars", unseen])
    assert refused.exit_code == 2 and "not in this week's universe nor held" in refused.output
    assert _events(database_url, UniverseFixed) == []  # a command that reads fixes nothing
