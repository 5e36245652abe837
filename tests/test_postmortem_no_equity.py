"""An Alpaca account with nothing in it (a live account not funded yet, a paper account emptied) began its week at an
equity of 0: the risk gate refuses every trade on it (risk/gate.py), and the week went on, until the postmortem
divided the week's P/L by that starting equity (ZeroDivisionError: the job failed, and the week's postmortem with it,
at every rerun). A return over a week that began at no equity is undefined: it is recorded as none (null), said as
n/a, and the rest of the postmortem (the P/L, the other accounts) is kept."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from llmtrade.agents import validator
from llmtrade.agents.postmortem_writer import offline_reflection
from llmtrade.cli import app
from llmtrade.domain.checkpoints import Postmortem
from llmtrade.domain.memory import Outcome
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)
from tests.test_memory_use_units import _hit, _pitch

POSTMORTEM = "2026-01-13T16:30:00-05:00"


def test_a_week_begun_at_no_equity_has_no_return_and_its_postmortem_completes(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    name = runs.fresh_beside(alpaca)
    alpaca.server.set_account(cash=0.0)
    runs.invoke(["run-weekly"], WEEKLY)
    runs.monkeypatch.setenv("LLMTRADE_NOW", POSTMORTEM)
    done = CliRunner().invoke(app, ["postmortem", "--json"])
    assert done.exit_code == 0, done.output
    written = {
        e["postmortem"]["account_id"]: e["postmortem"] for _, t, e in runs.events(name) if t == "PostmortemWritten"
    }
    empty = written[ALPACA_ACCOUNT]
    assert (empty["start_equity"], empty["week_return"]) == (0.0, None)
    others = [p for a, p in written.items() if a != ALPACA_ACCOUNT]
    assert others and all(p["week_return"] is not None for p in others)  # the paper accounts' weeks as ever
    shown = CliRunner().invoke(app, ["postmortem"])
    assert shown.exit_code == 0, shown.output
    [row] = [row for row in shown.stdout.splitlines() if row.startswith(f"{ALPACA_ACCOUNT}\t")]
    assert row.split("\t")[5] == "n/a", shown.stdout  # the table's return column
    assert f"{ALPACA_ACCOUNT} return: n/a, its week began at equity 0.00: no return over nothing" in shown.stdout
    assert json.loads(done.stdout)  # its --json is a document


def _stored(start: float, end: float, week_return: float) -> dict[str, object]:
    """A PostmortemWritten's record as a version before migration 0021 stored it: the P/L over its start equity."""
    return {
        "week_id": "2026-01-07", "account_id": "acct_1", "instrument": None, "direction": None,
        "start_equity": start, "end_equity": end, "realized_pnl": 0.0, "unrealized_pnl": 0.0,
        "week_pnl": end - start, "week_return": week_return, "instrument_return": None, "indicators": [],
        "reflection": None,
    }  # fmt: skip


@pytest.mark.parametrize(("start", "end", "stored"), [(-1_000.0, -500.0, 0.5), (0.0, 10.0, 0.0)])
def test_a_postmortem_stored_with_a_return_over_no_equity_reads_as_none(
    start: float, end: float, stored: float
) -> None:
    """From -1,000 to -500 was stored as +50% (the P/L over a negative base): a gain read from a loss's sign."""
    assert Postmortem.model_validate(_stored(start, end, stored)).week_return is None
    assert Postmortem.model_validate(_stored(100.0, 150.0, 0.5)).week_return == 0.5  # a real base: as stored


def test_the_validator_neither_counts_nor_averages_a_setup_without_a_return() -> None:
    """Two losers and a setup whose week began at no equity: it did not lose, and is not in the mean."""
    hits = [_hit(1, -0.02), _hit(2, -0.01), _hit(3, 0.03)]
    none = _hit(4, 0.01, rank=4)
    assert none.outcome is not None
    outcome = Outcome.model_validate({**none.outcome.model_dump(), "week_return": None})
    flag = validator.judge(_pitch(), [*hits, none.model_copy(update={"outcome": outcome})], min_losers=2)
    assert flag is not None
    assert flag.losers == 2 and flag.mean_return == pytest.approx(0)
    assert flag.similar == tuple(h.memory_id for h in hits)


def test_the_offline_reflection_of_a_week_without_a_return_says_so() -> None:
    answer = offline_reflection("LONG", None, 0.01, [], random.Random(0))
    assert "made no return (its week began at no equity)" in answer.what_the_thesis_got_right
    assert answer.lessons == ["Nothing to size until the account holds equity."]
