"""`discover performance`'s rank IC is the mean over the sessions whose IC is defined: a session whose scores are all
alike (the metric picker's 1.0 for every candidate that passes its filters) ranks nothing and has none. A trial's
backtest on seven ETFs showed the metric picker with "sessions 12" and a rank IC of 0.204, and "re-fitted from matured
outcomes metric 0.99 fuzzy 0.01 llm 0.00": that IC, and the weight re-fitted from it, came from one session (0.204 is
1/sqrt(24), one session's IC with one candidate failing a filter), and nothing said so. The count of sessions with an
IC is now given (`ic_sessions` in --json), and the table says when it is fewer than the picker's sessions."""

from __future__ import annotations

import pytest

from llmtrade.app.discovery_results import PerformanceResult
from llmtrade.commands.render.discover import print_performance
from llmtrade.config.sections import EnsembleWeights
from llmtrade.console import Output
from llmtrade.discovery.performance import evaluate, refit_weights
from tests.test_discover_performance import D1, D2, D3, D4, _made, _returns

DAYS = (D1, D2, D3)


def _fixture() -> tuple[dict, list]:
    judged = {
        D1: [_made("metric", D1, (1.0, 1.0, 1.0, 0.0)), _made("fuzzy", D1, (0.9, 0.6, 0.3, 0.1))],
        D2: [_made("metric", D2, (1.0, 1.0, 1.0, 1.0)), _made("fuzzy", D2, (0.1, 0.3, 0.6, 0.9))],
        D3: [_made("metric", D3, (1.0, 1.0, 1.0, 1.0)), _made("fuzzy", D3, (0.9, 0.6, 0.3, 0.1))],
    }
    outcomes = [_returns(day, (0.04, 0.02, -0.01, 0.0), D4) for day in DAYS]
    return judged, outcomes


def test_the_rank_ic_says_how_many_sessions_it_is_the_mean_of() -> None:
    judged, outcomes = _fixture()
    rows = {r.picker: r for r in evaluate(judged, outcomes, horizon=5, top=2)}
    assert rows["metric"].sessions == 3 and rows["metric"].ic_sessions == 1
    assert rows["fuzzy"].sessions == 3 and rows["fuzzy"].ic_sessions == 3


def test_the_table_says_an_ic_and_its_refit_weight_rest_on_fewer_sessions(capsys: pytest.CaptureFixture[str]) -> None:
    judged, outcomes = _fixture()
    weights = EnsembleWeights(metric=0.3, fuzzy=0.4, llm=0.3)
    result = PerformanceResult(
        asof_session=D4,
        horizon=5,
        top=2,
        judged_sessions=3,
        matured_sessions=3,
        unmeasured_picks=0,
        pickers=evaluate(judged, outcomes, horizon=5, top=2),
        weights=weights,
        refit_weights=refit_weights(judged, outcomes, horizon=5, default=weights),
        judged_candidates=4,
    )
    print_performance(Output(), result)
    out = capsys.readouterr().out
    row = next(line.split("\t") for line in out.splitlines() if line.startswith("metric\t"))
    assert row[1] == "3" and row[2].endswith(" (1 session)"), row
    fuzzy = next(line.split("\t") for line in out.splitlines() if line.startswith("fuzzy\t"))
    assert "session" not in fuzzy[2], fuzzy
    assert "rank IC from fewer sessions than judged: metric 1 of 3" in out, out
    assert "its scores were all alike" in out, out
    assert "re-fitted weights rest on metric's IC of 1 session" in out, out
