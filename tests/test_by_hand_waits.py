"""A command run by hand waits out a rate-limited provider BY_HAND_SECONDS in all, its reads together, then says what
it could not read and exits 75. Each read waited up to its own 90 s: `market bars` waited 61 s for one read, `status`
a minute or more per read (the universe's, the SPY baseline's, the drawdown's) and then exited 0 with every position at
cost. Alpaca (the only provider here) answers every bars request 429, its window resetting 30 s on; waits are spent on
the Wall, not slept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app.container import Container
from llmtrade.cli import app
from llmtrade.market.alpaca_http import DataAccess
from llmtrade.market.alpaca_limits import BY_HAND_SECONDS
from tests.fakes.alpaca_server import FakeAlpacaServer, FakeRequest, FakeResponse, Wall

runner = CliRunner()


def waits_on(wall: Wall, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Alpaca provider a Container builds (bars and quotes) spends its rate-limit waits on `wall`."""

    def stepped(build: Any) -> Any:
        def providers(self: Container, names: list[str]) -> list[Any]:
            return [
                p.waiting(replace(p.waits, wall=wall, sleep=wall.sleep)) if isinstance(p, DataAccess) else p
                for p in build(self, names)
            ]

        return providers

    monkeypatch.setattr(Container, "bar_providers", stepped(Container.bar_providers))
    monkeypatch.setattr(Container, "quote_providers", stepped(Container.quote_providers))


def alpaca_only(server: FakeAlpacaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Alpaca's market data at `server` (keys "key"/"secret"), the only provider, offline models."""
    for name, value in (("ALPACA_DATA_KEY", "key"), ("ALPACA_DATA_SECRET", "secret")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LLMTRADE_ALPACA_DATA_URL", server.base_url)
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "alpaca")


@pytest.fixture
def throttled(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wall]:
    wall = Wall()
    wall.now = float(int(wall.now))  # a whole second: each wait is the 30 s asked and the 0.5 s margin
    with FakeAlpacaServer(key_id="key", secret_key="secret") as server:
        server.wall = wall

        def answer(_request: FakeRequest) -> FakeResponse:
            told = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(wall.now) + 30)}
            return FakeResponse(429, {"message": "too many requests."}, told)

        server.route("GET", r"/v2/stocks/bars", answer, first=True)
        alpaca_only(server, monkeypatch)
        waits_on(wall, monkeypatch)
        yield wall


@pytest.mark.parametrize(
    "command",
    [["market", "bars", "SPY"], ["market", "snapshot"], ["status"], ["positions", "list"]],
    ids=["market-bars", "market-snapshot", "status", "positions-list"],
)
def test_a_command_run_by_hand_waits_out_rate_limits_a_bound_in_all_then_exits_75_saying_what_it_could_not_read(
    throttled: Wall, command: list[str]
) -> None:
    result = runner.invoke(app, command)
    assert result.exit_code == 75, result.output
    assert throttled.slept and sum(throttled.slept) <= BY_HAND_SECONDS  # one wait of 30.5 s, then no more
    line = " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert "Alpaca asked to wait 30 s" in line and f"the 14 s left of the {BY_HAND_SECONDS:g} s a command run" in line
    assert "no market data provider could supply " in line and "SPY" in line  # what it could not read


def test_a_job_keeps_its_own_bound_per_read(throttled: Wall) -> None:
    """run-weekly, a job, is bounded by its deadline, not by what a person waits: its snapshot's read waits its 90 s."""
    result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 75, result.output
    assert sum(throttled.slept) > BY_HAND_SECONDS


def test_a_breaker_reset_by_hand_waits_a_bound_in_all_and_resumes_nothing(throttled: Wall, wednesday_week: str) -> None:
    """`breaker reset` values the account at the last close before it restarts its peak: a person's command, its reads
    bounded as `status`'s are (it waited its own 90 s per read)."""
    from llmtrade.clock import FixedClock
    from llmtrade.config.models import CircuitBreaker
    from llmtrade.risk.controls import evaluate_breaker
    from llmtrade.settings import Settings
    from llmtrade.storage.bootstrap import open_storage
    from tests.support import FIXED_NOW, stored_events

    with open_storage(Settings(DATABASE_URL=wednesday_week), FixedClock(FIXED_NOW)) as storage:
        evaluate_breaker(
            storage.events,
            "acct_3",
            starting_equity=100_000,
            equity=60_000,  # down 40%: the drawdown halt
            fills=[],
            config=CircuitBreaker(),
            week_id=None,
            run_id=None,
        )
    result = runner.invoke(app, ["breaker", "reset", "acct_3"])
    assert result.exit_code == 75, result.output
    assert throttled.slept and sum(throttled.slept) <= BY_HAND_SECONDS
    assert "Traceback" not in result.output
    assert stored_events(wednesday_week, type="AccountResumed") == []
