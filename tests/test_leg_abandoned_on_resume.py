"""An order given up on its own after the first run (by the next checkpoint's resume, or by a backtest's delisting) is
recorded as that order only (whole_plan False), as the first run records a leg whose close ended: the plan's other
orders still go, each once. Both recorded the default whole_plan=True, so a rerun of the week skipped the whole plan
(a refused buy of another symbol never went) and said "plan abandoned ... Its orders will not be sent". Through the
real alpaca-py client against the loopback fake, and on the paper broker."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app.backtest_delisting import _abandon_undone
from llmtrade.app.report_controls import control_lines
from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import client_order_id, plan_orders
from llmtrade.brokers.paper import PaperBroker
from llmtrade.cli import app
from llmtrade.domain.events import NewEvent
from llmtrade.domain.reconciliation import PositionAdopted
from llmtrade.domain.streams import managed_stream
from llmtrade.domain.trading import Order, OrderResult, OrdersPlanned, PlanAbandoned, Position, Side
from llmtrade.errors import BrokerRejected
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.ended_close import leg_after_given_up_close
from llmtrade.workflows.execution import ABANDONED, Execution, abandonment_note, execute_plans
from llmtrade.workflows.legs import held_back_notes, resume_unfinished, unfinished_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_checkpoint_stages import week  # noqa: F401 - `week` is a fixture
from tests.test_plan_abandoned import _desk
from tests.test_side_changes import ACCOUNT, CONFIG, KEY_ID, SECRET, STREAM, WEEK, flipping

PRICES = {"QQQ": 400.0, "TLT": 90.0, "GLD": 100.0, "SPY": 100.0}


def _run(storage: Storage, desk: Desk, plan: OrdersPlanned) -> Execution:
    return asyncio.run(
        execute_plans(
            storage.events, {desk.account.id: desk}, [plan], CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="r"
        )
    )


def _abandoned(storage: Storage) -> list[PlanAbandoned]:
    return [PlanAbandoned.from_event(e) for e in storage.events.read(type=PlanAbandoned.event_type())]


def test_an_order_no_longer_valid_at_a_checkpoint_is_given_up_alone_and_a_rerun_sends_the_rest(
    storage: Storage,
) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.fill_immediately = True  # the market is open
        for symbol in ("QQQ", "TLT"):
            server.set_price(symbol, PRICES[symbol])
        server.set_position("QQQ", 10, 380)
        adopted = PositionAdopted(account_id=ACCOUNT.id, symbol="QQQ", qty=10, avg_price=380, price=400)
        storage.events.append([NewEvent.of(adopted, stream=managed_stream(ACCOUNT.id), account_id=ACCOUNT.id)])
        broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
        desk = Desk(ACCOUNT, broker)
        held = {"QQQ": Position(symbol="QQQ", qty=10, avg_price=380)}
        plan = OrdersPlanned(
            account_id=ACCOUNT.id,
            broker=broker.name,
            orders=plan_orders(WEEK, ACCOUNT.id, held, "TLT", 5),
            positions_before=held,
        )
        close, buy = plan.orders
        assert (close.symbol, close.intent, buy.symbol, buy.intent) == ("QQQ", "close", "TLT", "open")

        server.fail_route("POST", "/v2/orders", 422, times=2)
        first = _run(storage, desk, plan)  # the broker refuses both
        assert len(first.unfinished) == 2 and list(server.orders) == []
        server.set_position("QQQ", 0, 0)  # QQQ sold by hand: the close no longer has what it closes
        server.fail_route("POST", "/v2/orders", 422)  # ... and the buy is refused once more at the checkpoint
        notes = asyncio.run(
            resume_unfinished(
                storage.events, {ACCOUNT.id: desk}, CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="c"
            )
        ).notes
        assert any("refused" in n and buy.client_order_id in n for n in notes), notes
        [gone] = _abandoned(storage)
        assert gone.client_order_ids == [close.client_order_id]
        assert gone.whole_plan is False  # the close alone: the buy is still the plan's
        assert [o.client_order_id for o in unfinished_orders(storage.events, STREAM)] == [buy.client_order_id]

        rerun = _run(storage, desk, plan)  # the week's rerun (its unfinished buy makes it run again)

        assert list(server.orders) == [buy.client_order_id]  # the buy went; the close never did
        assert rerun.unfinished == []
        [note] = [abandonment_note(a) for a in rerun.abandoned]
        assert close.client_order_id in note and "other orders are sent" in note and "will not be sent" not in note
        [line] = control_lines(storage.events.read(type=PlanAbandoned.event_type()))
        assert line.kind == "order abandoned"
        _run(storage, desk, plan)  # and again: nothing twice
        assert server.count("POST", "/v2/orders") == 4  # two refusals, one more at the checkpoint, the buy once
        assert broker.account({}).positions["TLT"].qty == 5


class _Refusing(PaperBroker):
    """The paper broker, refusing every order while `refusing`."""

    refusing = False

    def submit(self, order: Order) -> OrderResult:
        if self.refusing:
            raise BrokerRejected(f"{order.symbol}: not tradable now")
        return super().submit(order)


def test_a_delisting_gives_up_the_symbols_orders_alone_and_a_rerun_sends_the_plans_others(storage: Storage) -> None:
    plain = _desk(storage, 0)
    paper = plain.broker
    assert isinstance(paper, PaperBroker)
    broker = _Refusing(
        paper.account_id,
        starting_cash=paper.starting_cash,
        events=storage.events,
        clock=paper._clock,
        calendar=paper._calendar,
        prices=paper._opens.prices,
        slippage_bps=0,
    )
    desk = Desk(plain.account, broker)
    account_id = desk.account.id
    earlier = Order(  # last week's GLD, llmtrade's own
        client_order_id=client_order_id(WEEK - timedelta(days=7), account_id, "GLD", "open"),
        account_id=account_id,
        week_id=WEEK - timedelta(days=7),
        symbol="GLD",
        side=Side.BUY,
        qty=10,
        intent="open",
    )
    broker.submit(earlier)
    held = dict(broker.account(PRICES).positions)
    plan = OrdersPlanned(
        account_id=account_id,
        broker="paper",
        orders=plan_orders(WEEK, account_id, held, "SPY", 5),
        positions_before=held,
    )
    close, buy = plan.orders
    assert (close.symbol, buy.symbol) == ("GLD", "SPY")
    broker.refusing = True
    _run(storage, desk, plan)  # both refused
    broker.refusing = False

    _abandon_undone(storage, desk, "GLD", WEEK, "delisting", PRICES)  # GLD's last session has closed

    [gone] = _abandoned(storage)
    assert gone.client_order_ids == [close.client_order_id] and "delisted" in gone.reason
    assert gone.whole_plan is False
    rerun = _run(storage, desk, plan)
    sent = [e.payload["order"]["client_order_id"] for e in storage.events.read(type="OrderSubmitted")]
    assert sent == [buy.client_order_id]  # the SPY buy went, once; nothing in GLD
    assert [a.whole_plan for a in rerun.abandoned] == [False]
    _run(storage, desk, plan)
    assert len(storage.events.read(type="OrderSubmitted")) == 1


_LEG = "lt-20260107-acct_1-SPY-open"
_OLD = {  # reason -> whole_plan, as schema-1 builds wrote them (the field absent, or True by default)
    (
        "its close lt-20260107-acct_1-SPY-close ended at alpaca before filling whole (4 shares filled; alpaca "
        "status expired at 2026-01-07 21:00 UTC, 4 of 10 filled), so SPY is still held (6 shares) and the opening "
        f"leg sell 16 SPY ({_LEG}) was not sent"
    ): False,
    "no longer valid for what the account holds": False,
    "planned before a split of its symbol, in the shares before it": False,
    "GLD delisted: its last session has closed, nothing in it can be traded": False,
    "superseded by a newer plan for the account": True,
    (
        "positions changed since its orders were planned (planned from nothing, now {'SPY': 3}); none of its orders "
        "is at the broker, so nothing was sent"
    ): True,
    "planned for the paper broker, but the account now uses alpaca": True,
}


def test_abandonments_stored_by_older_builds_read_as_the_orders_they_named(storage: Storage) -> None:
    """Schema 1: the leg of an ended close (written before whole_plan existed) and the single orders a checkpoint or a
    delisting gave up (written with its default) read as what they were; a plan's own abandonment stays whole."""
    stored = []
    for n, reason in enumerate(_OLD):
        payload = {
            "account_id": "acct_1",
            "broker": "alpaca",
            "reason": reason,
            "client_order_ids": [_LEG if n == 0 else f"lt-20260107-acct_1-X{n}-open"],
            "planned_positions": {},
            "actual_positions": {"SPY": 6},
        }
        if n % 2:
            payload["whole_plan"] = True  # the checkpoints' and delistings' default, written out
        stored.append(NewEvent(type="PlanAbandoned", stream=STREAM, payload=payload, schema_version=1))
    storage.events.append(stored)

    read = {a.reason: a.whole_plan for a in _abandoned(storage)}

    assert read == _OLD
    [line] = [c for c in control_lines(storage.events.read(type="PlanAbandoned")) if _LEG in c.detail]
    assert line.kind == "order abandoned"


def test_a_checkpoint_says_every_abandonment_and_skips_an_account_only_for_its_whole_plan(
    week: tuple[object, str],  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A checkpoint took any abandonment of an account's orders for its whole checkpoint skipped (`skipped` set to the
    note, though its decision stood and its plan's other orders went), and kept one note per account."""
    import llmtrade.app.checkpoint_run as checkpoint_run

    def gone(account_id: str, cid: str, whole: bool) -> PlanAbandoned:
        return PlanAbandoned(
            account_id=account_id,
            broker="paper",
            reason=f"why {cid}",
            client_order_ids=[cid],
            planned_positions={},
            actual_positions={},
            whole_plan=whole,
        )

    abandoned = [gone("acct_1", "leg", False), gone("acct_2", "plan", True), gone("acct_2", "other", False)]
    real = checkpoint_run.execute

    def execute(*args: Any, **kwargs: Any) -> Any:  # the execute stage gave these up, now or in an earlier run
        done = real(*args, **kwargs)
        return done.with_value(ABANDONED, [*done.get(ABANDONED), *abandoned])

    monkeypatch.setattr(checkpoint_run, "execute", execute)

    result = CliRunner().invoke(app, ["checkpoint", "12:00", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    skipped = {a["account_id"]: a["skipped"] for a in report["accounts"]}
    assert skipped["acct_1"] is None  # its checkpoint stands: only an order of its plan was given up
    assert skipped["acct_2"] == abandonment_note(abandoned[1])
    assert all(abandonment_note(a) in report["degraded"] for a in abandoned)


def test_a_held_back_leg_whose_close_is_given_up_at_a_checkpoint_is_given_up_with_it(storage: Storage) -> None:
    """A side change whose close the broker refused holds its opening leg back for the close's fill. When a checkpoint
    gave the close up (the position was sold by hand), the leg was still taken as resumable and held back again, on
    every later checkpoint and rerun of the week, for a fill that can never come (the week ran again for it forever,
    the postmortem said it was never sent). As the first run gives up a leg whose close ended, it goes with its close:
    that leg alone (whole_plan False)."""
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.set_price("SPY", 600)
        server.add_asset("SPY", shortable=True)
        server.set_position("SPY", 10, 590)
        _, desk, plan = flipping(storage, server)
        close, leg = plan.orders
        server.fail_route("POST", "/v2/orders", 422)  # the broker refuses the close: the leg waits for it
        asyncio.run(
            execute_plans(
                storage.events, {ACCOUNT.id: desk}, [plan], CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="r"
            )
        )
        assert held_back_notes(storage.events, STREAM) != []
        server.set_position("SPY", 0, 0)  # sold by hand: the close has nothing left to close

        asyncio.run(
            resume_unfinished(
                storage.events, {ACCOUNT.id: desk}, CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="c"
            )
        )

        given_up = {cid: a.whole_plan for a in _abandoned(storage) for cid in a.client_order_ids}
        assert given_up == {close.client_order_id: False, leg.client_order_id: False}
        assert held_back_notes(storage.events, STREAM) == [] and unfinished_orders(storage.events, STREAM) == []
        assert list(server.orders) == []  # nothing sent


def test_a_leg_is_given_up_for_its_given_up_close_in_one_wording_whoever_gave_the_close_up(storage: Storage) -> None:
    """The rule "a leg whose close was given up is given up too" was written twice: the checkpoint that gives up the
    close wrote the leg's abandonment in its own words ("its close was given up (no longer valid ...)", naming neither
    the close nor why), send_orders (an earlier run gave the close up) in others. One rule now, one reason: the leg's
    names its close and the close's own reason, wherever it is given up."""
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.set_price("SPY", 600)
        server.add_asset("SPY", shortable=True)
        server.set_position("SPY", 10, 590)
        broker, desk, plan = flipping(storage, server)
        close, leg = plan.orders
        server.fail_route("POST", "/v2/orders", 422)  # the broker refuses the close: the leg waits for it
        _run(storage, desk, plan)
        server.set_position("SPY", 0, 0)  # sold by hand: the close has nothing left to close

        asyncio.run(
            resume_unfinished(
                storage.events, {ACCOUNT.id: desk}, CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="c"
            )
        )

        gone = {a.client_order_ids[0]: a for a in _abandoned(storage)}
        assert (
            gone[leg.client_order_id].reason
            == leg_after_given_up_close(broker, leg, gone[close.client_order_id]).reason
        )
        assert f"its close {close.client_order_id} was given up (no longer valid" in gone[leg.client_order_id].reason


def test_a_held_back_leg_whose_close_an_earlier_run_gave_up_is_given_up_and_not_held_back_for_good(
    storage: Storage,
) -> None:
    """The checkpoint that gives up a refused close and its held-back leg writes the two abandonments one after the
    other; killed between them (or the close given up by a build before the leg went with it), the close was given up
    alone and every later checkpoint and rerun of the week held the leg back again, for a close that is never sent."""
    from tests.crash_points import Crash, dying

    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.set_price("SPY", 600)
        server.add_asset("SPY", shortable=True)
        server.set_position("SPY", 10, 590)
        _, desk, plan = flipping(storage, server)
        close, leg = plan.orders
        server.fail_route("POST", "/v2/orders", 422)  # the broker refuses the close: the leg waits for it
        _run(storage, desk, plan)
        assert held_back_notes(storage.events, STREAM) != []
        server.set_position("SPY", 0, 0)  # sold by hand: the close has nothing left to close
        with dying("PlanAbandoned", "after"), pytest.raises(Crash):  # killed right after the close's abandonment
            asyncio.run(
                resume_unfinished(
                    storage.events, {ACCOUNT.id: desk}, CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="c"
                )
            )
        assert [a.client_order_ids for a in _abandoned(storage)] == [[close.client_order_id]]

        notes = asyncio.run(  # the checkpoint's rerun
            resume_unfinished(
                storage.events, {ACCOUNT.id: desk}, CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="c2"
            )
        ).notes

        given_up = {cid: a.whole_plan for a in _abandoned(storage) for cid in a.client_order_ids}
        assert given_up == {close.client_order_id: False, leg.client_order_id: False}
        assert any(leg.client_order_id in n and "abandoned" in n for n in notes), notes
        assert held_back_notes(storage.events, STREAM) == [] and unfinished_orders(storage.events, STREAM) == []
        _run(storage, desk, plan)  # and the week's rerun sends nothing either
        assert list(server.orders) == [] and server.count("POST", "/v2/orders") == 1  # the close's one refusal


def test_a_weeks_rerun_never_sends_an_opening_leg_whose_close_a_checkpoint_gave_up(storage: Storage) -> None:
    """A plan [close QQQ, close SPY, open SPY short] whose SPY close the broker refused, killed before the leg was held
    back for it: the next checkpoint gave the close up alone (6 of the 10 SPY sold by hand since), and the week's
    rerun, which leaves out the orders given up alone, sent the leg as if it had no close: a sell of 16 against the 4
    SPY still held, through zero in one order, which a plan never does (Alpaca refuses it, the paper broker crosses),
    and every later checkpoint sent it again while SPY was held."""
    from tests.crash_points import Crash, dying

    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        for symbol, qty, price in (("QQQ", 5, 400.0), ("SPY", 10, 590.0)):
            server.set_price(symbol, price)
            server.set_position(symbol, qty, price)
            adopted = PositionAdopted(account_id=ACCOUNT.id, symbol=symbol, qty=qty, avg_price=price, price=price)
            storage.events.append([NewEvent.of(adopted, stream=managed_stream(ACCOUNT.id), account_id=ACCOUNT.id)])
        server.add_asset("SPY", shortable=True)
        broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
        desk = Desk(ACCOUNT, broker)
        held = {s: Position(symbol=s, qty=q, avg_price=p) for s, q, p in (("QQQ", 5, 400.0), ("SPY", 10, 590.0))}
        orders = plan_orders(WEEK, ACCOUNT.id, held, "SPY", -16)
        plan = OrdersPlanned(account_id=ACCOUNT.id, broker=broker.name, orders=orders, positions_before=held)
        qqq, close, leg = plan.orders
        assert [(o.symbol, o.intent) for o in plan.orders] == [("QQQ", "close"), ("SPY", "close"), ("SPY", "open")]
        # QQQ's close is queued for the open; the broker refuses SPY's
        server.after_next("POST", "/v2/orders", lambda: server.fail_route("POST", "/v2/orders", 422))
        with dying("LegHeldBack"), pytest.raises(Crash):  # killed before the leg is held back for its close
            _run(storage, desk, plan)
        server.set_position("SPY", 4, 590)  # 6 sold by hand: the close of 10 no longer fits
        asyncio.run(
            resume_unfinished(
                storage.events, {ACCOUNT.id: desk}, CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="c"
            )
        )
        assert [(a.client_order_ids, a.whole_plan) for a in _abandoned(storage)] == [([close.client_order_id], False)]

        rerun = _run(storage, desk, plan)  # the week's rerun

        assert server.count("POST", "/v2/orders") == 2 and list(server.orders) == [qqq.client_order_id]
        given_up = {cid: a.whole_plan for a in _abandoned(storage) for cid in a.client_order_ids}
        assert given_up == {close.client_order_id: False, leg.client_order_id: False}
        assert [a.client_order_ids for a in rerun.abandoned if leg.client_order_id in a.client_order_ids] != []
        assert unfinished_orders(storage.events, STREAM) == []  # nothing left for a checkpoint to send


def test_a_checkpoint_asks_the_broker_for_a_refused_close_sent_again_before_giving_it_up(storage: Storage) -> None:
    """A checkpoint sends a refused close again; Alpaca accepts and fills it, and the process is killed before its
    answer is recorded. The next checkpoint read the close as still refused, found the position it closes gone (the
    close itself had closed it), gave it up as no longer valid and its held-back leg with it: the side change's short
    was never sent, and the books said a close that filled was abandoned. It now asks the broker first, as a rerun of
    the week does: the close is recorded from Alpaca's answer and the leg goes, once."""
    from tests.crash_points import Crash, dying

    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.fill_immediately = True  # the market is open
        server.set_price("SPY", 600)
        server.add_asset("SPY", shortable=True)
        server.set_position("SPY", 10, 590)
        _, desk, plan = flipping(storage, server)
        close, leg = plan.orders
        server.fail_route("POST", "/v2/orders", 422)  # the broker refuses the close: the leg waits for it
        _run(storage, desk, plan)
        assert held_back_notes(storage.events, STREAM) != []

        def checkpoint(run_id: str) -> list[str]:
            return asyncio.run(
                resume_unfinished(
                    storage.events, {ACCOUNT.id: desk}, CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id=run_id
                )
            )

        with dying("OrderSubmitted"), pytest.raises(Crash):  # Alpaca filled the close; its answer is not recorded
            checkpoint("c1")
        assert server.orders[close.client_order_id]["status"] == "filled" and "SPY" not in broker_positions(server)

        checkpoint("c2")

        assert _abandoned(storage) == []
        assert broker_positions(server) == {"SPY": -16}  # the side change is done
        assert {cid: o["status"] for cid, o in server.orders.items()} == {
            close.client_order_id: "filled",
            leg.client_order_id: "filled",
        }
        assert held_back_notes(storage.events, STREAM) == [] and unfinished_orders(storage.events, STREAM) == []


def broker_positions(server: FakeAlpacaServer) -> dict[str, int]:
    broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
    return {s: p.qty for s, p in broker.account({}).positions.items()}


def test_a_checkpoint_says_the_orders_it_gives_up_itself(storage: Storage) -> None:
    """resume_unfinished's own abandonments (an order no longer valid, one sized before a split, a leg whose close
    went with it) were returned to no one: the checkpoint neither warned of them nor counted itself degraded, though the
    trade the plan meant will not happen (only an abandonment send_orders made, an ended close's leg, was said)."""
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.set_price("SPY", 600)
        server.add_asset("SPY", shortable=True)
        server.set_position("SPY", 10, 590)
        _, desk, plan = flipping(storage, server)
        close, leg = plan.orders
        server.fail_route("POST", "/v2/orders", 422)  # the broker refuses the close: the leg waits for it
        _run(storage, desk, plan)
        server.set_position("SPY", 0, 0)  # sold by hand: the close has nothing left to close

        notes = asyncio.run(
            resume_unfinished(
                storage.events, {ACCOUNT.id: desk}, CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="c"
            )
        ).notes

        assert sorted(notes) == sorted(abandonment_note(a) for a in _abandoned(storage))
        assert any(close.client_order_id in n for n in notes) and any(leg.client_order_id in n for n in notes)
