"""A 429 Alpaca's market data answers is waited out until its window resets (X-RateLimit-Reset, or a proxy's
Retry-After: docs.alpaca.markets, rate limits: 200 requests a minute, "do not retry before X-RateLimit-Reset"), within
the job's bound. The wait, up to 90 s, was silent: a run seemed to hang on its prices, and nothing in the log said why.
It is said now, at its start: what answered 429, how long, until when, by which header, and within what bound."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.alpaca_limits import RateLimitWaits
from tests.fakes.alpaca_server import FakeAlpacaServer, Wall
from tests.test_alpaca_data import KEY_ID, SECRET, WINTER_DAYS, load_two_symbols
from tests.test_alpaca_data import server as server


def test_a_rate_limit_wait_is_said_with_what_it_waits_for(
    server: FakeAlpacaServer, caplog: pytest.LogCaptureFixture
) -> None:
    load_two_symbols(server)
    wall = Wall()
    server.wall = wall
    server.use_up_rate_limit(40.0)
    waits = RateLimitWaits(wall=wall, sleep=wall.sleep)
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, waits=waits)
    with caplog.at_level(logging.INFO, logger="llmtrade"):
        bars = provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 9))
    assert [bar.day for bar in bars["SPY"]] == WINTER_DAYS[:5]
    [slept] = wall.slept
    [said] = [r for r in caplog.records if r.name.startswith("llmtrade") and "429" in r.getMessage()]
    message = said.getMessage()
    assert said.levelno == logging.INFO
    assert message.startswith(f"alpaca answered HTTP 429 (rate limit, 200 requests a minute) to GET {server.base_url}")
    assert f"waiting {slept:.0f} s, until " in message and " UTC, as its X-RateLimit-Reset says" in message
    assert "within the 90 s llmtrade waits at most" in message
