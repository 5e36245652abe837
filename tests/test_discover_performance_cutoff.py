"""`discover performance` of an LLM picker over sessions its model may have read about in training (models.yaml
`knowledge_cutoff` of research[0], the model that picks): says how many of the matured sessions were judged on or
before that cutoff, as the leaderboard splits its weeks (issue 13: an LLM that has read the future is not evidence)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.discovery import ForwardReturns, Suggestion, SuggestionsMade, WatchlistSet
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import RunStarted
from llmtrade.domain.streams import DISCOVERY, forward_returns_stream, run_stream
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage

runner = CliRunner()
SYMBOLS = ("SPY", "TLT", "GLD", "QQQ")
DAYS = [date(2026, 1, d) for d in (5, 6, 7, 8, 9)]


def _made(picker: str, session: date, scores: tuple[float, ...]) -> SuggestionsMade:
    order = sorted(zip(SYMBOLS, scores, strict=True), key=lambda p: -p[1])
    return SuggestionsMade(
        picker=picker,  # type: ignore[arg-type]
        asof=datetime.combine(session, datetime.min.time(), tzinfo=UTC),
        session=session,
        suggestions=[Suggestion(symbol=s, rank=i + 1, score=v) for i, (s, v) in enumerate(order)],
    )


def _books(url: str, mode: str) -> None:
    """A discovery run (`mode`) judging four sessions, each matured a session later."""
    with open_storage(Settings(DATABASE_URL=url), FixedClock(datetime(2026, 1, 5, tzinfo=UTC))) as storage:
        started = RunStarted(
            command="discover", arguments={}, mode=mode, mode_reason="test", config_source="test", version="0"
        )
        storage.events.append([NewEvent.of(started, stream=run_stream("d1"), run_id="d1")])
        for i, session in enumerate(DAYS[:4]):
            made = [_made(p, session, (0.9, 0.6 - 0.1 * (i % 2), 0.5 + 0.1 * (i % 2), 0.1)) for p in ("llm", "metric")]
            watchlist = WatchlistSet(asof=made[0].asof, session=session, entries=[])
            returns = ForwardReturns(
                session=session,
                horizon=1,
                matured=DAYS[i + 1],
                benchmark_return=0.0,
                returns={"SPY": 0.0, "TLT": 0.01 * (i + 1), "GLD": -0.01, "QQQ": 0.002},
            )
            storage.events.append(
                [
                    *(NewEvent.of(m, stream=DISCOVERY, run_id="d1") for m in made),
                    NewEvent.of(watchlist, stream=DISCOVERY, run_id="d1"),
                    NewEvent.of(returns, stream=forward_returns_stream(session, 1)),
                ]
            )


def _config(tmp_path: Path, cutoff: str | None) -> Path:
    config = tmp_path / "config"
    assert runner.invoke(app, ["init", str(config)]).exit_code == 0
    models = config / "models.yaml"
    picker = "{id: A, model: perplexity/sonar-pro, provider: openrouter, temperature: 0.2"
    assert picker in models.read_text()
    if cutoff is not None:
        models.write_text(models.read_text().replace(picker, f"{picker}, knowledge_cutoff: {cutoff}"))
    return config


def _performance(config: Path, *extra: str) -> tuple[dict, str]:
    shown = runner.invoke(app, ["--config", str(config), "discover", "performance", "--horizon", "1", "--json"])
    assert shown.exit_code == 0, shown.output
    text = runner.invoke(app, ["--config", str(config), "discover", "performance", "--horizon", "1"])
    assert text.exit_code == 0, text.output
    return json.loads(shown.stdout), text.stdout


def test_sessions_judged_on_or_before_the_llm_pickers_cutoff_are_counted_and_said(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The LLM picker's model (research A) was trained to 2026-01-06: two of the four matured sessions it ranked are
    ones whose outcome it may have read. Its rank IC and hit rate, and the ensemble's, counted them as skill, and
    nothing said so."""
    _books(cli_env["DATABASE_URL"], "live")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-12T17:00:00-05:00")
    found, text = _performance(_config(tmp_path, "2026-01-06"))
    assert found["matured_sessions"] == 4
    assert found["knowledge_cutoff"] == "2026-01-06" and found["read_sessions"] == 2
    assert "2 of the 4 matured sessions were judged on or before the LLM picker's knowledge cutoff" in text
    assert "perplexity/sonar-pro" in text


def test_an_llm_picker_of_no_cutoff_says_so(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _books(cli_env["DATABASE_URL"], "live")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-12T17:00:00-05:00")
    found, text = _performance(_config(tmp_path, None))
    assert found["knowledge_cutoff"] is None and found["read_sessions"] is None
    assert "no knowledge_cutoff in models.yaml for the LLM picker's model (perplexity/sonar-pro, research[0])" in text


def test_offline_discoveries_are_the_rules_and_no_cutoff_applies(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The offline rules provider answered the LLM picker: it has read nothing, so no model's cutoff is said."""
    _books(cli_env["DATABASE_URL"], "offline")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-12T17:00:00-05:00")
    found, text = _performance(_config(tmp_path, "2026-01-06"))
    assert found["knowledge_cutoff"] is None and found["read_sessions"] is None and found["cutoff_note"] is None
    assert "knowledge cutoff" not in text
