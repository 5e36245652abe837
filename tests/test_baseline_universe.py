"""What EQUAL_WEIGHT holds, said where it may not be the universe the weeks traded: live books in static mode (no
universe on record: today's assets.yaml over every week), a backtest valued with another config than it ran with,
and watchlist modes (each week's own universe, which EQUAL_WEIGHT then holds); nothing for a backtest valued with
its own config."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import pytest

from llmtrade.app.baseline_universe import config_hash, universe_note, weekly_closes, weekly_universes
from llmtrade.config.loader import load_config
from llmtrade.config.models import Config
from llmtrade.domain import streams
from llmtrade.domain.backtests import BacktestStarted
from llmtrade.domain.discovery import UniverseFixed, UniverseInstrument
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.streams import UNIVERSE, week_stream
from llmtrade.errors import MarketDataError
from llmtrade.storage.bootstrap import Storage


def _record(hashed: str) -> list[StoredEvent]:
    started = BacktestStarted(
        name="y", start=date(2024, 1, 3), end=date(2024, 1, 10), mode="offline", config_hash=hashed, data="synthetic",
        data_hash="h", version="0",
    )  # fmt: skip
    at = datetime(2024, 1, 3, tzinfo=UTC)
    return [StoredEvent(**NewEvent.of(started, stream=streams.BACKTEST).model_dump(), id=1, version=1, occurred_at=at)]


@pytest.fixture
def config() -> Config:
    return load_config(None).config


def test_the_hash_is_the_sha256_of_the_configs_json(config: Config) -> None:
    assert config_hash(config) == hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def test_live_books_in_static_mode_say_equal_weight_holds_todays_universe(config: Config) -> None:
    note = universe_note(config, [])
    symbols = config.assets.symbols
    assert note is not None
    assert note.startswith(f"EQUAL_WEIGHT holds assets.yaml's universe as configured now ({len(symbols)} symbols: ")
    assert ", ".join(symbols) in note and "the books record no universe" in note


def test_a_backtest_valued_with_the_config_it_ran_with_needs_no_note(config: Config) -> None:
    assert universe_note(config, _record(config_hash(config))) is None


def test_a_backtest_valued_with_another_config_says_so(config: Config) -> None:
    note = universe_note(config, _record("0" * 64))
    assert note is not None and "not the config the backtest ran with (config hash 000000000000, now " in note


def test_the_config_is_the_one_of_the_start_that_bound_the_books(config: Config) -> None:
    """A start that stopped before its first job (a price file missing for the default universe) binds nothing: the
    rerun with the config fixed starts again. The note read the first start's hash and said the books ran with another
    config (found by the new-user trial)."""
    failed, bound = _record("0" * 64), _record(config_hash(config))
    assert universe_note(config, [*failed, *bound]) is None
    assert universe_note(config, [*bound, *failed]) is not None  # the last start is the one that counts


@pytest.mark.parametrize("mode", ["watchlist", "both"])
def test_a_watchlist_mode_says_equal_weight_is_not_the_watchlists(config: Config, mode: str) -> None:
    discovery = config.assets.discovery.model_copy(update={"universe_mode": mode})
    changed = config.model_copy(update={"assets": config.assets.model_copy(update={"discovery": discovery})})
    for record in ([], _record(config_hash(changed))):
        note = universe_note(changed, record)
        assert note is not None
        assert f"no week of these books fixed a watchlist universe yet (universe_mode {mode})" in note


def _fixed(week: date, *symbols: str, held: str = "") -> NewEvent:
    instruments = [UniverseInstrument(symbol=s, asset_class="equity", discovered=True) for s in symbols]
    if held:
        instruments.append(UniverseInstrument(symbol=held, asset_class="equity", discovered=True, held=True))
    fixed = UniverseFixed(mode="watchlist", instruments=instruments)
    return NewEvent.of(fixed, stream=week_stream(week, UNIVERSE), week_id=week)


def test_each_weeks_universe_is_what_equal_weight_holds_and_the_note_says_so(config: Config, storage: Storage) -> None:
    first, second = date(2026, 1, 7), date(2026, 1, 14)
    storage.events.append([_fixed(first, "SPY", "XLE", "SMH")])
    storage.events.append([_fixed(second, "SPY", "XLU", held="XLE")])  # XLE kept only because an account held it
    weekly = weekly_universes(storage.events)
    assert weekly == {first: ["SPY", "XLE", "SMH"], second: ["SPY", "XLU"]}
    note = universe_note(config, [], weekly)
    assert note is not None and note.startswith("EQUAL_WEIGHT holds each week's universe, the list the committee")
    assert "(2 weeks fixed one, 4 symbols in all)" in note and "selling what left the list" in note


def test_a_weekly_name_with_no_valid_history_is_left_out_not_the_leaderboards_end() -> None:
    asked: list[list[str]] = []
    day = date(2026, 1, 7)

    def fetch(symbols: list[str]) -> dict[str, dict[date, float]]:
        asked.append(symbols)
        if "NEW" in symbols:
            raise MarketDataError("NEW: stale: the last bar is ...")  # listed after the range began, or gone
        return {s: {day: 1.0} for s in symbols}

    weekly = {day: ["SPY", "XLE", "NEW"]}
    assert weekly_closes(fetch, weekly, ["SPY"]) == {"XLE": {day: 1.0}}
    assert asked == [["XLE", "NEW"], ["XLE"], ["NEW"]]
    assert weekly_closes(fetch, {}, ["SPY"]) == {} and len(asked) == 3
