"""The memory over several offline weeks of a backtest (its own database): point-in-time recall end to end, memory
off writing but showing nothing, and the paired leaderboard of a memory-on and a memory-off backtest."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.analytics.paired import week_ends, weekly_returns
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.cli import app as cli
from llmtrade.config.loader import LoadedConfig, load_config
from llmtrade.config.sections import MemoryConfig
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database

runner = CliRunner()
FIRST, LAST = date(2026, 1, 7), date(2026, 1, 28)  # four weeks
CITED = re.compile(r"\[((?:setup|condition|symbol|lesson):[^\]]+)\]")


def _url(admin_url: str, dbname: str) -> str:
    head, _, query = admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{dbname}" + (f"?{query}" if query else "")


def _with_memory(loaded: LoadedConfig, enabled: bool) -> LoadedConfig:
    models = loaded.config.models.model_copy(update={"memory": MemoryConfig(enabled=enabled)})
    return replace(loaded, config=loaded.config.model_copy(update={"models": models}))


@dataclass(frozen=True)
class Pair:
    live_url: str
    home: Path
    on: BacktestResult
    off: BacktestResult
    on_url: str
    off_url: str


@pytest.fixture(scope="module")
def pair(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    live = f"t{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{live}"')
    live_url = _url(pg_admin_url, live)
    home = tmp_path_factory.mktemp("memory-bt")
    settings = Settings(DATABASE_URL=live_url, LLMTRADE_HOME=str(home))
    results = {}
    for enabled in (True, False):
        name = f"mem{'on' if enabled else 'off'}{uuid.uuid4().hex[:6]}"
        spec = BacktestSpec(name=name, first=FIRST, last=LAST, offline=True, replay=False, audit=1)
        results[enabled] = backtest(settings, _with_memory(load_config(None), enabled), None, spec, say=lambda _t: None)
    on, off = results[True], results[False]
    return Pair(
        live_url,
        home,
        on,
        off,
        _url(pg_admin_url, backtest_database(on.name)),
        _url(pg_admin_url, backtest_database(off.name)),
    )


def _payloads(url: str, kind: str) -> list[tuple[str | None, dict[str, Any]]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT run_id, payload FROM events WHERE type = %s ORDER BY id", (kind,)).fetchall()
    return [(run_id, payload) for run_id, payload in rows]


def _known_at(url: str) -> dict[str, datetime]:
    """When each memory became visible: a setup when its outcome was known, anything else when it was."""
    known: dict[str, datetime] = {}
    for kind, key in (
        ("ConditionRemembered", "condition"),
        ("SymbolNoteRemembered", "note"),
        ("LessonRemembered", "lesson"),
    ):
        for _, payload in _payloads(url, kind):
            known[payload[key]["memory_id"]] = datetime.fromisoformat(payload[key]["known_at"])
    for _, payload in _payloads(url, "OutcomeRemembered"):
        known[payload["outcome"]["setup_id"]] = datetime.fromisoformat(payload["outcome"]["known_at"])
    return known


def test_over_several_weeks_no_role_is_shown_a_memory_known_after_its_as_of(pair: Pair) -> None:
    known = _known_at(pair.on_url)
    recalls = _payloads(pair.on_url, "MemoryRecalled")
    weeks = {payload["week_id"] for _, payload in recalls}
    assert len(weeks) >= 2, "the later weeks recalled nothing: the test would prove nothing"
    first = [(p["role"], p["as_of"], p["memory_ids"]) for _, p in recalls if p["week_id"] == str(FIRST)]
    assert not [r for r in first if r[0].startswith("pm:")], first  # nothing was known before the first week
    for _, payload in recalls:
        as_of = datetime.fromisoformat(payload["as_of"])
        for memory_id in payload["memory_ids"]:
            assert memory_id in known, f"{memory_id} was shown before its outcome existed"
            assert known[memory_id] < as_of, (memory_id, known[memory_id], as_of)
    # Each prompt's memory section cites exactly what its run recorded for that role.
    shown = {(run_id, payload["role"]): payload["memory_ids"] for run_id, payload in recalls}
    calls = [(run_id, p) for run_id, p in _payloads(pair.on_url, "LLMCallCompleted") if p["role"] == "pm_pitch"]
    cited = [(run_id, CITED.findall(p["messages"][-1]["content"])) for run_id, p in calls]
    with_memory = [(run_id, ids) for run_id, ids in cited if ids]
    assert with_memory
    for run_id, ids in with_memory:
        assert ids in [mids for (run, role), mids in shown.items() if run == run_id and role.startswith("pm:")]


def test_a_backtest_with_memory_off_remembers_every_week_but_shows_none_of_it(pair: Pair) -> None:
    assert _payloads(pair.off_url, "MemoryRecalled") == [] and _payloads(pair.off_url, "SetupFlagged") == []
    prompts = [p["messages"][-1]["content"] for _, p in _payloads(pair.off_url, "LLMCallCompleted")]
    assert prompts and not any("Similar past setups" in p or "validator's notes" in p for p in prompts)
    remembered = {payload["setup"]["week_id"] for _, payload in _payloads(pair.off_url, "SetupRemembered")}
    assert len(remembered) == 4  # every week's setups, ready for a memory switched on later
    assert len(_payloads(pair.off_url, "OutcomeRemembered")) >= 5


def test_the_leaderboard_pairs_memory_on_against_off_week_by_week_with_an_interval(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pair.live_url)
    monkeypatch.setenv("LLMTRADE_HOME", str(pair.home))
    shown = runner.invoke(cli, ["leaderboard", "--backtest", pair.on.name, "--versus", pair.off.name, "--json"])
    assert shown.exit_code == 0, shown.output
    board = json.loads(shown.stdout)
    paired = board["paired"]
    assert paired["versus"] == f"backtest {pair.off.name}" and paired["weeks"] == 4
    on_curves = {c["name"]: c for c in board["curves"] if c["kind"] == "account"}
    off_curves = {c.name: c for c in pair.off.leaderboard.curves if c.kind == "account"}
    assert {d["name"] for d in paired["differences"]} == set(on_curves)
    sessions = [date.fromisoformat(s) for s in next(iter(on_curves.values()))["sessions"]]
    ends = week_ends(sessions)
    for diff in paired["differences"]:
        on = weekly_returns(on_curves[diff["name"]]["equity"], ends)
        off = weekly_returns(off_curves[diff["name"]].equity, ends)
        assert diff["weekly"]["estimate"] == pytest.approx(sum(a - b for a, b in zip(on, off, strict=True)) / len(on))
        assert diff["weeks_better"] == sum(1 for a, b in zip(on, off, strict=True) if a > b)
        assert diff["weeks_worse"] == sum(1 for a, b in zip(on, off, strict=True) if a < b)
        assert diff["weeks_better"] + diff["weeks_worse"] + diff["weeks_tied"] == diff["weeks"]
    text = runner.invoke(cli, ["leaderboard", "--backtest", pair.on.name, "--versus", pair.off.name])
    assert text.exit_code == 0 and f"versus backtest {pair.off.name}" in text.stdout


@pytest.mark.parametrize("versus", ["same", "nosuchbacktest"])
def test_versus_the_same_books_or_a_missing_backtest_is_a_usage_error(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, versus: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", pair.live_url)
    monkeypatch.setenv("LLMTRADE_HOME", str(pair.home))
    other = pair.on.name if versus == "same" else versus
    result = runner.invoke(cli, ["leaderboard", "--backtest", pair.on.name, "--versus", other])
    assert result.exit_code == 2
    assert ("same books" if versus == "same" else "no backtest named") in result.output
