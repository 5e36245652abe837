"""Alpaca's trading API over the account's rate limit (200 requests a minute), through the real alpaca-py client
against the loopback fake: every answer carries X-RateLimit-Limit, -Remaining and -Reset (the window's end, epoch
seconds), and a request over the limit is answered 429 until then. Before, the broker read no header: any 429 failed
its call at once (exit 75) saying only "HTTP 429: too many requests.", neither when to try again nor waiting a window
that ended two seconds later. Now a near reset is waited out (a read sent again; an order looked up, then posted once
more only if Alpaca has none), and a far one fails at once naming when to try again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from typer.testing import CliRunner

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.cli import app
from llmtrade.domain.trading import Order, OrderStatus, Side
from llmtrade.errors import BrokerUnavailable
from llmtrade.market.alpaca_limits import RateLimitWaits
from tests.fakes.alpaca_server import FakeAlpacaServer, Wall
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    OPENED,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

KEY_ID, SECRET = "test-key-id", "test-secret"
ORDERS = "/v2/orders"
cli = CliRunner()
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


@pytest.fixture
def wall(server: FakeAlpacaServer) -> Wall:
    """The fake's clock and the broker's, stepped by a wait instead of sleeping."""
    stepped = Wall()
    server.wall = stepped
    return stepped


def broker_for(server: FakeAlpacaServer, wall: Wall) -> AlpacaBroker:
    waits = RateLimitWaits(most_seconds=9.0, wall=wall, sleep=wall.sleep)
    return AlpacaBroker("pm-alpha", KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, waits=waits)


def an_order() -> Order:
    return Order(
        client_order_id="w2026-01-05-pm-alpha-SPY-open",
        account_id="pm-alpha",
        week_id=date(2026, 1, 5),
        symbol="SPY",
        side=Side.BUY,
        qty=10,
        intent="open",
    )


def posts(server: FakeAlpacaServer) -> int:
    return sum(1 for r in server.requests if r.method == "POST" and r.path == ORDERS)


def test_a_read_over_the_rate_limit_is_waited_out_until_the_window_resets(server: FakeAlpacaServer, wall: Wall) -> None:
    broker = broker_for(server, wall)
    server.use_up_rate_limit(3.0)

    assert broker.open_orders() == []

    [slept] = wall.slept
    assert 3.0 <= slept <= 4.5  # until X-RateLimit-Reset (a whole second), and a margin


def test_a_rate_limit_further_off_fails_at_once_naming_when_to_try_again(server: FakeAlpacaServer, wall: Wall) -> None:
    broker = broker_for(server, wall)
    server.use_up_rate_limit(40.0)

    with pytest.raises(BrokerUnavailable) as caught:
        broker.open_orders()

    said = str(caught.value)
    assert re.search(r"HTTP 429: too many requests.\); Alpaca asked to wait 4[01] s, longer than the 9 s", said), said
    assert re.search(rf"try again from {WHEN}", said), said
    assert caught.value.exit_code == 75 and wall.slept == []
    assert len(server.requests) == 1  # no second request into the same window


def test_an_order_answered_429_is_looked_up_after_the_wait_and_posted_once_more(
    server: FakeAlpacaServer, wall: Wall
) -> None:
    server.set_price("SPY", 600.0)
    broker = broker_for(server, wall)
    broker.open_orders()  # the client built; the window then used up by someone else's requests
    server.reset()
    server.use_up_rate_limit(2.0)

    result = broker.submit(an_order())

    assert result.client_order_id == an_order().client_order_id and result.status is not OrderStatus.REJECTED
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", ORDERS),  # 429
        ("GET", f"{ORDERS}:by_client_order_id"),  # after the wait: Alpaca has no such order
        ("POST", ORDERS),
    ]
    assert len(server.orders) == 1 and len(wall.slept) == 1


def test_an_order_answered_429_far_off_is_posted_once_and_says_when_to_try_again(
    server: FakeAlpacaServer, wall: Wall
) -> None:
    server.set_price("SPY", 600.0)
    broker = broker_for(server, wall)
    server.use_up_rate_limit(50.0)

    with pytest.raises(BrokerUnavailable) as caught:
        broker.submit(an_order())

    said = str(caught.value)
    assert posts(server) == 1 and server.orders == {} and wall.slept == []
    assert re.search(rf"Alpaca asked to wait 5[01] s, longer than the 9 s .*; try again from {WHEN}", said), said
    assert caught.value.exit_code == 75


def test_a_429_that_names_no_wait_is_not_waited_and_says_so(server: FakeAlpacaServer, wall: Wall) -> None:
    """A proxy's 429 carries no X-RateLimit-Reset nor Retry-After: no wait guessed, the order never posted twice."""
    server.set_price("SPY", 600.0)
    broker = broker_for(server, wall)
    server.fail_route("POST", ORDERS, 429)

    with pytest.raises(BrokerUnavailable, match="Alpaca named no time to try again"):
        broker.submit(an_order())

    assert posts(server) == 1 and wall.slept == []


# ---------------------------------------------------------------- through the command line


def test_run_weekly_over_alpacas_rate_limit_holds_that_account_alone_naming_when_to_try_again(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The account's window used up by the user's own script a minute long: the weekly run held every account's week
    for it (exit 75), the paper accounts, independent of Alpaca, traded nothing. It holds that account alone, with one
    line that says when Alpaca's window resets (a degraded run, AccountWeekHeld recorded), and sends nothing for it;
    the next run of the week, the window reset, asks the broker first and trades it once."""
    name = runs.fresh_beside(alpaca)
    alpaca.server.rate_limit = 200
    alpaca.server.use_up_rate_limit(55.0)
    monkeypatch.setenv("LLMTRADE_NOW", OPENED)

    result = cli.invoke(app, ["run-weekly"])

    assert result.exit_code == 0, result.output
    assert re.search(
        rf"account acct_1 is held back this week: its broker did not answer .*HTTP 429: too many requests.\); Alpaca "
        rf"asked to wait 5\d s, .*try again from {WHEN}",
        result.output,
    ), result.output
    assert posts(alpaca.server) == 0
    events = runs.events(name)
    planned = {e["account_id"] for _, t, e in events if t == "OrdersPlanned"}
    assert planned and "acct_1" not in planned  # the paper accounts trade their week
    [held] = [e for _, t, e in events if t == "AccountWeekHeld"]
    assert held["account_id"] == "acct_1" and held["orders"] == [] and "try again from" in held["reason"]
    assert [e["degraded"] for _, t, e in events if t == "RunFinished"] == [True]

    alpaca.server.rate_limit = 10**9  # the window has reset
    again = cli.invoke(app, ["run-weekly"])
    assert again.exit_code == 0, again.output
    [mine] = [e for _, t, e in runs.events(name) if t == "OrdersPlanned" and e["account_id"] == "acct_1"]
    assert posts(alpaca.server) == len(mine["orders"]) > 0
    assert all(n == 1 for n in alpaca.submitted.values())
