"""A checkpoint that plans an account anew gives up what is left undone of the account's earlier plan of the week
(refused orders, a leg held back): a PlanAbandoned of the whole plan, "superseded by a newer plan for the account".
Nothing told the operator: the checkpoint said every other abandonment, this one was "no news", and a refused order
that never went simply vanished from every later run's notes. It is now said by the checkpoint that gives it up (its
summary, human and --json), as what it is: the account's new plan replacing the old, not a degraded run."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

from typer.testing import CliRunner

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import Order, OrderRejected, OrdersPlanned, PlanAbandoned, Position, Side
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.legs import resume_unfinished
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.support import FIXED_NOW
from tests.test_checkpoint_stages import week  # noqa: F401 - `week` is a fixture
from tests.test_leg_abandoned_on_resume import PRICES, _run
from tests.test_side_changes import ACCOUNT, CONFIG, KEY_ID, SECRET, STREAM, WEEK

runner = CliRunner()


def test_the_orders_a_newer_plan_supersedes_are_said_not_degraded(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.set_price("TLT", 90)
        broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
        desk = Desk(ACCOUNT, broker)
        held: dict[str, Position] = {}
        plan = OrdersPlanned(
            account_id=ACCOUNT.id,
            broker=broker.name,
            orders=plan_orders(WEEK, ACCOUNT.id, held, "TLT", 5),
            positions_before=held,
        )
        [buy] = plan.orders
        server.fail_route("POST", "/v2/orders", 422)
        _run(storage, desk, plan)  # the week's buy, refused

        resumed = asyncio.run(
            resume_unfinished(
                storage.events,
                {ACCOUNT.id: desk},
                CONFIG,
                PRICES,
                stream=STREAM,
                week_id=WEEK,
                run_id="c",
                superseded=frozenset({ACCOUNT.id}),  # this checkpoint planned the account anew
            )
        )

        [gone] = [PlanAbandoned.from_event(e) for e in storage.events.read(type=PlanAbandoned.event_type())]
        assert gone.whole_plan and gone.client_order_ids == [buy.client_order_id]
        assert resumed.notes == []  # not a degraded run: the new plan is the account's now
        [line] = resumed.superseded
        assert ACCOUNT.id in line and buy.client_order_id in line and "superseded" in line, line
        assert list(server.orders) == []  # nothing sent


def test_a_checkpoint_says_the_earlier_orders_its_plan_supersedes(week: tuple[Any, str]) -> None:  # noqa: F811
    _, url = week
    week_id = date(2026, 1, 7)
    refused = Order(
        client_order_id="lt-20260107-acct_1-GLD-open",
        account_id="acct_1",
        week_id=week_id,
        symbol="GLD",
        side=Side.BUY,
        qty=3,
        intent="open",
    )
    # An order of the week's plan the broker refused, for an account the checkpoint plans anew.
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        rejected = OrderRejected(order=refused, broker="paper", reason="not tradable now")
        stream = week_stream(week_id, ORDERS)
        storage.events.append([NewEvent.of(rejected, stream=stream, week_id=week_id, account_id="acct_1")])

    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_account = {a["account_id"]: a for a in report["accounts"]}
    assert by_account["acct_1"]["orders"]  # the checkpoint planned acct_1 anew
    [line] = report["superseded"]
    assert refused.client_order_id in line and "acct_1" in line
    assert not any(refused.client_order_id in n for n in report["degraded"])
    human = runner.invoke(app, ["checkpoint", "12:00"])  # the repeat says nothing more: it gave nothing up
    assert "SUPERSEDED" not in human.output
