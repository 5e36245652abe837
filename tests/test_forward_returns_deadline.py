"""run-due's daily discovery forward returns read their prices within a deadline of their own, as every other read of a
job does (Container.market's `deadline`): FORWARD_RETURNS_WAIT from when they begin, never past the next scheduled job.
They were read with none, so each read waited out a 429 up to 90 s whatever the schedule, holding the cron wake-up
into the next job's slot; and a wait was said as a warning with exit 0. Now a wait past the deadline is not begun: the
wake-up exits 75 naming it, the provider's failure on record, and the next wake-up records the returns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app import due_run
from llmtrade.app.container import Container
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.discovery import Suggestion, SuggestionsMade, WatchlistSet
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import DISCOVERY
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.alpaca_http import DataAccess
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.fakes.alpaca_server import FakeAlpacaServer, FakeRequest, FakeResponse, Wall
from tests.support import stored_events

runner = CliRunner()
JUDGED = date(2026, 1, 6)  # its 1-session return matured with the 7th's close
DAYS = [date(2026, 1, d) for d in (5, 6, 7, 8, 9)]


def _judged(url: str, sessions: list[date]) -> None:
    """A discovery run's suggestion (TLT) for each of `sessions`, and its watchlist, on the books at `url`."""
    with open_storage(Settings(DATABASE_URL=url), FixedClock(datetime(2026, 1, 7, tzinfo=UTC))) as storage:
        for session in sessions:
            asof = datetime.combine(session, datetime.min.time(), tzinfo=UTC)
            made = SuggestionsMade(
                picker="metric", asof=asof, session=session, suggestions=[Suggestion(symbol="TLT", rank=1, score=1.0)]
            )
            watchlist = WatchlistSet(asof=asof, session=session, entries=[])
            storage.events.append([NewEvent.of(made, stream=DISCOVERY), NewEvent.of(watchlist, stream=DISCOVERY)])


@pytest.fixture
def limited(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeAlpacaServer, Wall]]:
    """A discovery run judged 2026-01-06 on the books; Alpaca the only provider, its first bars request answered 429
    with a Retry-After of 80 s (within the 90 s a read waits at most), the next ones with the bars. Waits are spent on
    the Wall, not slept; nothing is due but the forward returns."""
    _judged(cli_env["DATABASE_URL"], [JUDGED])
    wall = Wall()
    with FakeAlpacaServer(key_id="key", secret_key="secret", page_size=1000) as server:
        server.wall = wall
        for n, symbol in enumerate(("SPY", "TLT")):
            rows = [(d, 100.0 + n + i) for i, d in enumerate(DAYS)]
            server.add_bars(symbol, [{"t": d, "o": c, "h": c + 1, "l": c - 1, "c": c, "v": 1e6} for d, c in rows])
        asked: list[int] = []

        def answer(request: FakeRequest) -> FakeResponse:
            asked.append(1)
            if len(asked) == 1:
                return FakeResponse(429, {"message": "too many requests."}, {"Retry-After": "80"})
            return server._stock_bars(request)

        server.route("GET", r"/v2/stocks/bars", answer, first=True)
        for name, value in (("ALPACA_DATA_KEY", "key"), ("ALPACA_DATA_SECRET", "secret")):
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LLMTRADE_ALPACA_DATA_URL", server.base_url)
        monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "alpaca")
        built = Container.bar_providers

        def on_the_wall(self: Container, names: list[str]) -> list[Any]:
            stepped = lambda p: p.waiting(replace(p.waits, wall=wall, sleep=wall.sleep))  # noqa: E731
            return [stepped(p) if isinstance(p, DataAccess) else p for p in built(self, names)]

        monkeypatch.setattr(Container, "bar_providers", on_the_wall)
        monkeypatch.setattr(due_run, "due", lambda _app: [])
        monkeypatch.setattr(due_run, "run_event_checkpoints", lambda _app, _waits: [])
        yield server, wall


def test_forward_returns_wait_out_no_rate_limit_past_the_next_job_and_the_wake_up_exits_75(
    limited: tuple[FakeAlpacaServer, Wall], cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, wall = limited
    url = cli_env["DATABASE_URL"]
    # Thursday 11:59: the 12:00 checkpoint is the next job, 60 s away; Alpaca asks 80 s.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T11:59:00-05:00")
    woke = runner.invoke(app, ["-q", "run-due"])
    assert woke.exit_code == 75, woke.output
    assert wall.slept == []  # no wait begun that would end past the deadline
    line = " ".join(woke.stderr.split())
    assert "discovery forward returns not filled" in line and "Traceback" not in woke.output, line
    assert "Alpaca asked to wait 80 s, longer than the 60 s left before the job's deadline (2026-01-08 12:00" in line
    [failed] = stored_events(url, type="MarketProviderFailed")
    assert failed.payload["provider"] == "alpaca" and "the job's deadline (2026-01-08 12:00" in failed.payload["error"]
    assert stored_events(url, type="ForwardReturns") == []
    # The next wake-up (Alpaca answering again) records them: a wait, not a failure for good.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:05:00-05:00")
    again = runner.invoke(app, ["-q", "run-due"])
    assert again.exit_code == 0, again.output
    [filled] = stored_events(url, type="ForwardReturns")
    assert filled.payload["session"] == JUDGED.isoformat() and filled.payload["horizon"] == 1


def test_forward_returns_matured_before_a_session_not_final_yet_are_recorded_and_nothing_is_warned(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thursday 16:05, the 8th's bar final at no provider yet (Alpaca's SIP feed: from 16:16): 2025-12-31's 5-session
    return (to the 8th) waits; 2026-01-06's 1-session one (to the 7th) had matured. Met first, the wait stopped the
    fill, and a warning went to cron's mail at every wake-up until 16:20; 2026-01-06's waited with it."""
    url = cli_env["DATABASE_URL"]
    _judged(url, [date(2025, 12, 31), JUDGED])
    now = datetime.fromisoformat("2026-01-08T16:05:00-05:00")
    monkeypatch.setenv("LLMTRADE_NOW", now.isoformat())
    sip = SimpleNamespace(feed="sip", clock=FixedClock(now), waits=SimpleNamespace(wall=now.timestamp))
    monkeypatch.setattr(SyntheticMarket, "incomplete", lambda self, close: AlpacaBarProvider.incomplete(sip, close))
    monkeypatch.setattr(due_run, "due", lambda _app: [])
    monkeypatch.setattr(due_run, "run_event_checkpoints", lambda _app, _waits: [])
    woke = runner.invoke(app, ["-q", "run-due"])
    assert woke.exit_code == 0 and woke.stderr == "", woke.output
    filled = sorted((e.payload["session"], e.payload["horizon"]) for e in stored_events(url, type="ForwardReturns"))
    assert filled == [("2025-12-31", 1), ("2026-01-06", 1)]
    said = runner.invoke(app, ["run-due"])  # without -q: why the rest waits
    assert said.exit_code == 0 and "2026-01-08's close is not final yet" in said.stderr, said.output
