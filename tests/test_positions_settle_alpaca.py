"""`positions settle` is refused for an account at Alpaca (exit 2): the broker holds the position and only a trade
there closes it; llmtrade's books follow the broker's fills. The loopback fake Alpaca of tests/test_crash_points.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_alpaca_reset_ended_cli import AFTER_THE_WEEK, at_alpaca
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    CountingAlpaca,
    Runs,
    World,
    alpaca,
    runs,
)
from tests.test_crash_points import world as crash_world  # noqa: F401  (fixture)

__all__ = ["at_alpaca"]

runner = CliRunner()


@pytest.fixture(scope="module")
def world(crash_world: World) -> Iterator[World]:  # noqa: F811
    yield crash_world


def test_settle_is_refused_at_alpaca_saying_to_sell_it_there(
    runs: Runs,  # noqa: F811
    at_alpaca: CountingAlpaca,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs.fresh_beside(at_alpaca)
    monkeypatch.setenv("LLMTRADE_NOW", AFTER_THE_WEEK)
    refused = runner.invoke(app, ["positions", "settle", "acct_3", "GLD"])
    assert refused.exit_code == 2, refused.output
    assert "acct_3 trades at alpaca, which holds its positions: close GLD there" in refused.stderr
