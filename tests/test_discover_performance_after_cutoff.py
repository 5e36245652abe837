"""`discover performance` over the sessions after the LLM picker's knowledge cutoff: the llm and ensemble rank IC and
hit rate over the matured sessions judged after research[0]'s `knowledge_cutoff`, beside the whole-range figures that
count sessions whose outcome the model may have read about (app/picker_cutoff.py; issue 13)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
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
from tests.test_discover_performance_cutoff import _config, _performance

runner = CliRunner()
SYMBOLS = ("SPY", "TLT", "GLD", "QQQ", "IWM")
DAYS = [date(2026, 1, d) for d in (5, 6, 7, 8, 9, 12)]  # five judged sessions, each matured the session after
SCORES = {
    "llm": [
        (0.9, 0.7, 0.5, 0.3, 0.1),
        (0.2, 0.8, 0.6, 0.4, 0.9),
        (0.5, 0.9, 0.1, 0.7, 0.3),
        (0.3, 0.2, 0.9, 0.8, 0.6),
        (0.8, 0.1, 0.4, 0.95, 0.2),
    ],
    "ensemble": [
        (0.1, 0.9, 0.3, 0.5, 0.7),
        (0.4, 0.2, 0.8, 0.9, 0.1),
        (0.3, 0.6, 0.2, 0.9, 0.5),
        (0.2, 0.1, 0.7, 0.6, 0.9),
        (0.6, 0.5, 0.1, 0.8, 0.3),
    ],
    "metric": [(0.5, 0.4, 0.3, 0.2, 0.1)] * 5,
}
RETURNS = [
    (0.001, 0.02, -0.01, 0.005, -0.003),
    (0.001, -0.004, 0.012, 0.008, -0.02),
    (0.001, 0.015, -0.006, 0.009, 0.003),
    (0.001, -0.011, 0.007, 0.018, -0.002),
    (0.001, 0.004, -0.009, 0.013, 0.006),
]
TOP = 2


def _made(picker: str, session: date, scores: tuple[float, ...]) -> SuggestionsMade:
    order = sorted(zip(SYMBOLS, scores, strict=True), key=lambda p: -p[1])
    return SuggestionsMade(
        picker=picker,  # type: ignore[arg-type]
        asof=datetime.combine(session, datetime.min.time(), tzinfo=UTC),
        session=session,
        suggestions=[Suggestion(symbol=s, rank=i + 1, score=v) for i, (s, v) in enumerate(order)],
    )


def _books(url: str) -> None:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(datetime(2026, 1, 5, tzinfo=UTC))) as storage:
        started = RunStarted(
            command="discover", arguments={}, mode="live", mode_reason="test", config_source="test", version="0"
        )
        storage.events.append([NewEvent.of(started, stream=run_stream("d1"), run_id="d1")])
        for i, session in enumerate(DAYS[:5]):
            made = [_made(p, session, SCORES[p][i]) for p in SCORES]
            returns = ForwardReturns(
                session=session,
                horizon=1,
                matured=DAYS[i + 1],
                benchmark_return=RETURNS[i][0],
                returns=dict(zip(SYMBOLS, RETURNS[i], strict=True)),
            )
            storage.events.append(
                [
                    *(NewEvent.of(m, stream=DISCOVERY, run_id="d1") for m in made),
                    NewEvent.of(WatchlistSet(asof=made[0].asof, session=session, entries=[]), stream=DISCOVERY),
                    NewEvent.of(returns, stream=forward_returns_stream(session, 1)),
                ]
            )


def _ranks(values: tuple[float, ...]) -> np.ndarray:
    return np.argsort(np.argsort(np.array(values))).astype(float)


def _expected(picker: str, sessions: range) -> tuple[float, float]:
    """Mean rank IC (Spearman: Pearson's of the ranks, no ties here) and hit rate (share of the top TOP picks whose
    excess over SPY is above 0, a pick of SPY itself left out: it cannot beat itself) over `sessions`, by numpy."""
    ics, hits = [], []
    for i in sessions:
        excess = tuple(r - RETURNS[i][0] for r in RETURNS[i])
        ics.append(np.corrcoef(_ranks(SCORES[picker][i]), _ranks(excess))[0, 1])
        best = np.argsort(-np.array(SCORES[picker][i]))[:TOP]
        hits += [excess[k] > 0 for k in best if SYMBOLS[k] != "SPY"]
    return float(np.mean(ics)), float(np.mean(hits))


def test_llm_and_ensemble_figures_after_the_pickers_cutoff(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """research A trained to 2026-01-06: two of the five matured sessions may be ones it read about; the rank IC and
    hit rate over the other three are the evidence, and were computed nowhere."""
    _books(cli_env["DATABASE_URL"])
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T17:00:00-05:00")
    config = _config(tmp_path, "2026-01-06")
    assets = config / "assets.yaml"
    assets.write_text(assets.read_text().replace("watchlist_size: 20", f"watchlist_size: {TOP}"))
    found, text = _performance(config)
    assert found["matured_sessions"] == 5 and found["read_sessions"] == 2
    assert found["after_cutoff_sessions"] == 3
    after = {p["picker"]: p for p in found["after_cutoff"]}
    assert set(after) == {"llm", "ensemble"}
    whole = {p["picker"]: p for p in found["pickers"]}
    for picker in ("llm", "ensemble"):
        ic, hit = _expected(picker, range(2, 5))
        assert after[picker]["sessions"] == 3
        assert after[picker]["mean_ic"] == pytest.approx(ic, abs=1e-12)
        assert after[picker]["hit_rate"] == pytest.approx(hit, abs=1e-12)
        all_ic, all_hit = _expected(picker, range(5))  # the whole range is kept as it was
        assert whole[picker]["mean_ic"] == pytest.approx(all_ic, abs=1e-12)
        assert whole[picker]["hit_rate"] == pytest.approx(all_hit, abs=1e-12)
        assert whole[picker]["mean_ic"] != pytest.approx(after[picker]["mean_ic"])
    assert (
        "llm and ensemble after the LLM picker's knowledge cutoff (2026-01-06): 3 matured sessions, the evidence"
        in text
    )
    llm_ic, _ = _expected("llm", range(2, 5))
    [row] = [line for line in text.splitlines() if line.startswith("llm") and f"{llm_ic:.3f}" in line]
    assert row


def test_no_session_after_the_cutoff_is_said_plainly(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _books(cli_env["DATABASE_URL"])
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T17:00:00-05:00")
    found, text = _performance(_config(tmp_path, "2026-06-30"))
    assert found["read_sessions"] == 5 and found["after_cutoff_sessions"] == 0 and found["after_cutoff"] == []
    assert "no matured session was judged after the LLM picker's knowledge cutoff (2026-06-30)" in text


def test_the_published_schema_names_the_after_cutoff_fields() -> None:
    shown = runner.invoke(app, ["schema", "discover", "performance"])
    assert shown.exit_code == 0, shown.output
    properties = json.loads(shown.stdout)["properties"]
    assert "after_cutoff" in properties and "after_cutoff_sessions" in properties
