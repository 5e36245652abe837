"""An upgrade that adds config fields keeps reading the backtests earlier builds started (config/history.py).

A new user's upgrade trial (2026-12-04): a backtest started by 972aba5, killed midway, then `pip install .` of the
newer llmtrade and the same `llmtrade backtest` command: refused with "started with other inputs: config hash
de593e19d773 (now 79df74bdb77d)", though the config was the packaged one, untouched. The later build's models had
three fields more (with their defaults), so the same files dumped, and hashed, otherwise; and the leaderboard said the
backtest ran "with another config than the one given now"."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from llmtrade import __version__
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.baseline_universe import other_config, universe_note
from llmtrade.cli import app as cli
from llmtrade.clock import FixedClock
from llmtrade.config.history import ADDED
from llmtrade.config.loader import load_config
from llmtrade.config.models import Config
from llmtrade.domain import streams
from llmtrade.domain.backtests import BacktestStarted
from llmtrade.domain.events import NewEvent
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.database import backtest_database
from llmtrade.sweep import spec as sweep_spec
from tests.test_backtest import _unique, _url, datetime_now
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_baseline_universe import _record

SECOND = WEEK + timedelta(days=7)
runner = CliRunner()

# Every field of the config's models as the oldest build ADDED reaches back to had them (84904eb, 2026-11-30).
BEFORE_ADDED = {
    "Account": "id name role broker starting_cash alpaca",
    "AccountsConfig": "accounts paper alpaca",
    "AlertsConfig": "drawdown_pct silence_days",
    "AlpacaConfig": "paper_url request_timeout_seconds",
    "AlpacaDataKeys": "key_env secret_env",
    "AlpacaKeys": "key_env secret_env",
    "AssetsConfig": "universe market_data discovery",
    "BudgetConfig": "per_run_usd per_week_usd",
    "Chairman": "model provider temperature max_tokens knowledge_cutoff account",
    "CircuitBreaker": "halt_drawdown_pct halt_consecutive_losses resume_drawdown_pct resume_consecutive_wins",
    "Config": "assets schedule models accounts risk",
    "CouncilConfig": "models chairman",
    "DiscoveryConfig": "universe_mode watchlist_size min_avg_volume max_spread min_price max_price fuzzy_weights "
    "fuzzy_min_score ensemble_weights llm_picks in_backtest",
    "EmbeddingModel": "model provider dimensions",
    "EnsembleWeights": "metric fuzzy llm",
    "EventCheckpoint": "threshold min_interval_minutes",
    "FuzzyWeights": "liquidity volatility momentum balance",
    "HardLimits": "max_position_pct max_asset_class_pct max_open_positions allow_short",
    "Instrument": "symbol asset_class name shortable",
    "MarketDataConfig": "providers csv_dir alpaca_feed alpaca request_timeout_seconds synthetic_seed "
    "quote_staleness_seconds",
    "MemoryConfig": "enabled embedding setups_per_role token_budget validator_neighbours validator_min_losers",
    "ModelRef": "model provider temperature max_tokens knowledge_cutoff",
    "ModelsConfig": "providers pms chairman research council prices memory budget",
    "PaperBrokerConfig": "slippage_bps commission_per_order",
    "PortfolioManager": "model provider temperature max_tokens knowledge_cutoff id account",
    "PostmortemRun": "day time",
    "Price": "input_per_mtok output_per_mtok",
    "Provider": "base_url api_key_env timeout_seconds max_concurrency max_retries structured_outputs "
    "reasoning_as_answer max_retry_after_seconds",
    "ResearchProviderRef": "model provider temperature max_tokens knowledge_cutoff id kind",
    "RiskConfig": "limits circuit_breaker live_trading_enabled alerts",
    "ScheduleConfig": "timezone weekly_run checkpoints postmortem retry_until event_checkpoint",
    "WeeklyRun": "day time",
}


def _models(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> dict[str, type[BaseModel]]:
    seen[model.__name__] = model
    for field in model.model_fields.values():
        for found in _nested(field.annotation):
            if found.__name__ not in seen:
                _models(found, seen)
    return seen


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _nested(arg)]


def _earlier_hash(config: Config) -> str:
    """The config's hash as 84904eb..972aba5 recorded it: its dump without the fields ADDED since, by hand."""
    dump = json.loads(config.model_dump_json())
    for instrument in dump["assets"]["universe"]:
        del instrument["held_only"]
    for provider in dump["models"]["providers"].values():
        del provider["attempt_floor_seconds"], provider["min_tokens_per_second"], provider["context_tokens"]
    return hashlib.sha256(json.dumps(dump, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def test_every_field_added_to_the_config_since_is_in_its_history() -> None:
    now = {name: set(model.model_fields) for name, model in _models(Config, {}).items()}
    added = {(model.__name__, field) for model, field in ADDED}
    unlisted = sorted(
        f"{name}.{field}"
        for name, fields in now.items()
        for field in fields - set(BEFORE_ADDED.get(name, "").split())
        if (name, field) not in added
    )
    assert not unlisted, f"add these to config/history.py ADDED (with their defaults): {unlisted}"


def test_the_packaged_config_as_an_earlier_build_hashed_it_is_the_same_config() -> None:
    config = load_config(None).config
    earlier = _record(_earlier_hash(config))
    assert other_config(config, earlier) is None
    assert universe_note(config, earlier) is None
    # A field added since, set away from its default, is a setting no earlier build had: another config.
    providers = {k: p.model_copy(update={"min_tokens_per_second": 5.0}) for k, p in config.models.providers.items()}
    changed = config.model_copy(update={"models": config.models.model_copy(update={"providers": providers})})
    assert other_config(changed, earlier) is not None


def _run(database_url: str, home: Path, name: str, folder: Path, last: Any) -> Any:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(home))
    spec = BacktestSpec(name=name, first=WEEK, last=last, offline=True, replay=False, csv=folder)
    return backtest(settings, load_config(None), None, spec, say=[].append)


def test_a_backtest_an_earlier_build_started_resumes_after_the_upgrade(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(SECOND + timedelta(days=10)))
    first = _run(database_url, tmp_path, name, folder, WEEK)
    assert first.weeks_run == 1
    # The books' last start as 972aba5 wrote it (resumed there, then killed before its week): the old config hash.
    books = _url(pg_admin_url, backtest_database(name))
    with psycopg.connect(books, autocommit=True) as conn:
        payload, version = conn.execute(
            "SELECT payload, (SELECT max(version) FROM events WHERE stream = %s) FROM events "
            "WHERE stream = %s AND type = 'BacktestStarted' ORDER BY id DESC LIMIT 1",
            (streams.BACKTEST, streams.BACKTEST),
        ).fetchone()
    old = BacktestStarted.model_validate({**payload, "config_hash": _earlier_hash(load_config(None).config)})
    with open_storage(Settings(DATABASE_URL=books), FixedClock(datetime_now())) as storage:
        storage.events.append(
            [NewEvent.of(old, stream=streams.BACKTEST)], expected_versions={streams.BACKTEST: version}
        )
    resumed = _run(database_url, tmp_path, name, folder, SECOND)
    assert (resumed.weeks_done_before, resumed.weeks_run) == (1, 1)


def test_a_sweep_an_earlier_build_ran_is_done_earlier_after_the_upgrade(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep's run is identified by the hash of its config's dump: 972aba5's sweep, rerun after the upgrade, ran
    every run again under new ids (each in a new database), and a run it had killed midway began again from its first
    week."""
    name = f"h{uuid.uuid4().hex[:8]}"
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: {name}\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\nseeds: [7, 11]\n")
    monkeypatch.setenv("DATABASE_URL", database_url)
    with monkeypatch.context() as old_build:  # the ids as the earlier build made them: its config had no new fields

        def earlier(config: Config, *, prices: str, start: Any, end: Any, mode: str, **_: Any) -> str:
            dumped = config.model_dump(mode="json", exclude=_added_fields(config))
            document = {"config": dumped, "prices": prices, "start": start.isoformat(), "end": end.isoformat()}
            document |= {"mode": mode, "version": __version__}
            return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()

        old_build.setattr(sweep_spec, "run_hash", earlier)
        first = runner.invoke(cli, ["backtest", "sweep", str(path), "--json"])
        assert first.exit_code == 0, first.output
    before = {r["run_id"] for r in json.loads(first.stdout[: first.stdout.rindex("}") + 1])["runs"]}
    again = runner.invoke(cli, ["backtest", "sweep", str(path), "--json"])
    assert again.exit_code == 0, again.output
    runs = json.loads(again.stdout[: again.stdout.rindex("}") + 1])["runs"]
    assert {r["status"] for r in runs} == {"done_earlier"}
    assert {r["run_id"] for r in runs} == before


def _added_fields(config: Config) -> dict[str, Any]:
    """pydantic's `exclude` for the fields added since 972aba5, written out by hand."""
    return {
        "assets": {"universe": {i: {"held_only": True} for i in range(len(config.assets.universe))}},
        "models": {
            "providers": {
                k: {"attempt_floor_seconds": True, "min_tokens_per_second": True, "context_tokens": True}
                for k in config.models.providers
            }
        },
    }
