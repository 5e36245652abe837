"""Side changes in sequence against the fake Alpaca, through the real alpaca-py client: the close goes
first, the opening leg only once the close has filled; a refused leg is recorded, reported, and retried."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import date

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.config.loader import load_config
from llmtrade.domain.events import NewEvent
from llmtrade.domain.reconciliation import PositionAdopted
from llmtrade.domain.streams import managed_stream
from llmtrade.domain.trading import LegHeldBack, OrderRejected, OrdersPlanned, OrderSubmitted, Position
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import Execution, execute_plans
from llmtrade.workflows.legs import held_back_notes, resume_unfinished
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.by_hand import trade_by_hand

KEY_ID = "test-key-id"
SECRET = "test-secret"
WEEK = date(2026, 1, 7)
CONFIG = load_config(None).config
ACCOUNT = CONFIG.accounts.accounts[0]
STREAM = "week:2026-01-07:orders"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        fake.set_price("SPY", 600)
        fake.add_asset("SPY", shortable=True)
        fake.set_position("SPY", 10, 590)
        yield fake


def held_by_llmtrade(storage: Storage, account_id: str) -> None:
    """The +10 SPY the fake holds is llmtrade's (as after an earlier week), not a position made by hand:
    reconciliation manages only what llmtrade opened or was given."""
    adopted = PositionAdopted(account_id=account_id, symbol="SPY", qty=10, avg_price=590, price=600)
    storage.events.append([NewEvent.of(adopted, stream=managed_stream(account_id), account_id=account_id)])


def flip(broker: AlpacaBroker) -> OrdersPlanned:
    held = {"SPY": Position(symbol="SPY", qty=10, avg_price=590)}
    orders = plan_orders(WEEK, ACCOUNT.id, held, "SPY", -16)
    return OrdersPlanned(account_id=ACCOUNT.id, broker=broker.name, orders=orders, positions_before=held)


def run(storage: Storage, desk: Desk, plan: OrdersPlanned) -> Execution:
    return asyncio.run(
        execute_plans(
            storage.events, {ACCOUNT.id: desk}, [plan], CONFIG, {"SPY": 600.0}, stream=STREAM, week_id=WEEK, run_id="r"
        )
    )


def sent_to_broker(server: FakeAlpacaServer) -> list[str]:
    """client_order_ids of the orders the broker holds, in the order they arrived (refused ones are not held)."""
    return list(server.orders)


def flipping(storage: Storage, server: FakeAlpacaServer) -> tuple[AlpacaBroker, Desk, OrdersPlanned]:
    """The account's broker and desk, its +10 SPY llmtrade's, and the plan that flips it to -16."""
    broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
    held_by_llmtrade(storage, ACCOUNT.id)
    return broker, Desk(ACCOUNT, broker), flip(broker)


def test_flip_sends_the_open_only_after_the_close_fills_and_ends_short(
    storage: Storage, server: FakeAlpacaServer
) -> None:
    broker, desk, plan = flipping(storage, server)
    close, opening = plan.orders
    assert (close.intent, opening.intent) == ("close", "open")

    first = run(storage, desk, plan)  # the close is accepted and waits (market closed): the open is held back
    assert sent_to_broker(server) == [close.client_order_id]
    assert first.unfinished == []  # a held-back leg is not a refusal: it does not degrade the run
    assert [n for n in held_back_notes(storage.events, STREAM) if "held back" in n and "SPY" in n] != []
    held = [e for e in storage.events.read_stream(STREAM) if e.type == LegHeldBack.event_type()]
    assert [LegHeldBack.from_event(e).order.client_order_id for e in held] == [opening.client_order_id]

    again = run(storage, desk, plan)  # a rerun before the fill holds it back again, without a second record
    assert sent_to_broker(server) == [close.client_order_id]
    assert again.unfinished == [] and len(held_back_notes(storage.events, STREAM)) == 1
    assert len([e for e in storage.events.read_stream(STREAM) if e.type == LegHeldBack.event_type()]) == 1

    server.fill_open_orders()  # the market opens: the close fills, the account is flat
    notes = asyncio.run(
        resume_unfinished(
            storage.events, {ACCOUNT.id: desk}, CONFIG, {"SPY": 600.0}, stream=STREAM, week_id=WEEK, run_id="c"
        )
    ).notes
    assert notes == []
    assert sent_to_broker(server) == [close.client_order_id, opening.client_order_id]
    assert held_back_notes(storage.events, STREAM) == []  # sent: no longer reported as held back
    server.fill_open_orders()
    assert broker.account({}).positions["SPY"].qty == -16


def test_refused_leg_marks_the_run_unfinished_and_a_rerun_retries_it(
    storage: Storage, server: FakeAlpacaServer
) -> None:
    broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
    desk = Desk(ACCOUNT, broker)
    server.fill_immediately = True  # the market is open: the close fills at once
    server.add_asset("SPY", shortable=True)
    held_by_llmtrade(storage, ACCOUNT.id)
    plan = flip(broker)
    close, opening = plan.orders
    # ... and the broker refuses the short for a reason that may pass (a refusal for good, "cannot be sold short", is
    # given up instead: tests/test_lasting_refusals.py).
    server.after_next(
        "POST", r"/v2/orders", lambda: server.refuse_next_order(403, 40310000, "insufficient buying power")
    )

    first = run(storage, desk, plan)
    refusals = [
        OrderRejected.from_event(e) for e in storage.events.read_stream(STREAM) if e.type == OrderRejected.event_type()
    ]
    assert [r.order.client_order_id for r in refusals] == [opening.client_order_id]
    assert "insufficient buying power" in refusals[0].reason and not refusals[0].lasting
    assert any("refused" in note and "insufficient buying power" in note for note in first.unfinished)
    assert broker.account({}).positions == {}

    second = run(storage, desk, plan)  # the rerun retries the refused leg, and only it
    assert second.unfinished == []
    assert sent_to_broker(server) == [close.client_order_id, opening.client_order_id]
    assert server.count("POST", "/v2/orders") == 3  # close, refused open, retried open
    submitted = [
        OrderSubmitted.from_event(e).order.client_order_id
        for e in storage.events.read_stream(STREAM)
        if e.type == OrderSubmitted.event_type()
    ]
    assert submitted == [close.client_order_id, opening.client_order_id]
    assert broker.account({}).positions["SPY"].qty == -16


def test_a_second_sell_while_the_close_is_working_is_refused_with_alpacas_body(server: FakeAlpacaServer) -> None:
    broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
    close, opening = flip(broker).orders
    broker.submit(close)  # accepted, working: its 10 shares are held for it
    from llmtrade.errors import BrokerRejected

    held = r"insufficient qty available for order \(requested: 16, available: 0\)"
    with pytest.raises(BrokerRejected, match=held) as refused:
        broker.submit(opening)
    # The order in the way is llmtrade's own close: named, and nothing for the user to cancel.
    said = str(refused.value)
    assert f"sell 10 SPY ({close.client_order_id}) is working; a rerun or the next checkpoint sends this one" in said
    assert "dashboard" not in said


def test_a_close_refused_for_shares_an_order_by_hand_holds_names_it_and_what_to_do(server: FakeAlpacaServer) -> None:
    """The user left a sell of 4 of the account's 10 SPY queued in Alpaca's dashboard: Alpaca holds those shares for it
    and refuses llmtrade's close of 10 (403 "insufficient qty available for order (requested: 10, available: 6)").
    Before, the refusal said only Alpaca's words, naming neither the order holding the shares nor what to do."""
    from llmtrade.errors import BrokerRejected

    broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
    close, _ = flip(broker).orders
    by_hand = trade_by_hand(server, "SPY", 4, side="sell")  # queued for the open, by hand

    with pytest.raises(BrokerRejected) as refused:
        broker.submit(close)

    said = str(refused.value)
    assert "insufficient qty available for order (requested: 10, available: 6)" in said  # Alpaca's words, kept
    assert f"sell 4 SPY ({by_hand}, by hand) is open; cancel the one placed by hand in Alpaca's dashboard" in said


def _flip_run(storage: Storage, server: FakeAlpacaServer, account_id: str, stream: str, *, from_step: int) -> None:
    """The flip's life from `from_step`: 1 plan sent (close queued, open held back), 2 the open fills the
    close, 3 the next run sends the held-back leg."""
    account = ACCOUNT.model_copy(update={"id": account_id})
    broker = AlpacaBroker(account_id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
    desk = Desk(account, broker)
    held = {"SPY": Position(symbol="SPY", qty=10, avg_price=590)}
    plan = OrdersPlanned(
        account_id=account_id,
        broker=broker.name,
        orders=plan_orders(WEEK, account_id, held, "SPY", -16),
        positions_before=held,
    )
    args = {"stream": stream, "week_id": WEEK, "run_id": "r"}
    if from_step <= 1:
        asyncio.run(execute_plans(storage.events, {account_id: desk}, [plan], CONFIG, {"SPY": 600.0}, **args))  # type: ignore[arg-type]
    if from_step <= 2 and not server.fill_immediately:
        server.fill_open_orders()
        server.fill_immediately = True
    asyncio.run(resume_unfinished(storage.events, {account_id: desk}, CONFIG, {"SPY": 600.0}, **args))  # type: ignore[arg-type]


def test_a_flip_killed_around_each_of_its_writes_ends_short_with_each_leg_sent_once(storage: Storage) -> None:
    from tests.crash_points import Crash, dying

    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as clean_server:
        clean_server.set_price("SPY", 600)
        clean_server.add_asset("SPY", shortable=True)
        clean_server.set_position("SPY", 10, 590)
        held_by_llmtrade(storage, "acct_clean")  # before counting, as for the crashing runs: the same indices
        with dying(None) as clean:
            _flip_run(storage, clean_server, "acct_clean", "orders:clean", from_step=1)
    assert "LegHeldBack" in clean.types  # the pending leg's write is one of the points
    points = [
        i
        for i, kinds in enumerate(clean.types)
        if {"LegHeldBack", "OrderSubmitted", "OrderFilled"} & set(kinds.split(","))
    ]
    assert points
    found: list[str] = []
    for index in points:
        for when in ("before", "after"):
            account_id, stream = f"acct_{index}{when[0]}", f"orders:{index}{when}"
            with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
                server.set_price("SPY", 600)
                server.add_asset("SPY", shortable=True)
                server.set_position("SPY", 10, 590)
                held_by_llmtrade(storage, account_id)
                step = 1
                with dying(index, when) as state:  # type: ignore[arg-type]
                    try:
                        _flip_run(storage, server, account_id, stream, from_step=1)
                    except Crash:
                        step = 1 if not server.fill_immediately else 3
                if not state.dead:
                    found.append(f"{when} {index}: did not die")
                _flip_run(storage, server, account_id, stream, from_step=step)  # the rerun
                submitted = Counter(
                    OrderSubmitted.from_event(e).order.client_order_id
                    for e in storage.events.read_stream(stream)
                    if e.type == OrderSubmitted.event_type()
                )
                positions = {
                    s: p.qty
                    for s, p in AlpacaBroker(account_id, KEY_ID, SECRET, url_override=server.base_url)
                    .account({})
                    .positions.items()
                }
                if positions != {"SPY": -16} or sorted(submitted.values()) != [1, 1] or len(server.orders) != 2:
                    found.append(
                        f"{when} {index} ({clean.types[index]}): {positions} {dict(submitted)} {list(server.orders)}"
                    )
    assert found == []


def test_a_refusal_for_want_of_shares_with_no_order_in_the_way_still_says_what_the_account_says(
    server: FakeAlpacaServer,
) -> None:
    """The user sold 4 of the account's 10 SPY by hand (filled: no order holds shares), and the account was blocked
    as llmtrade's close of 10 went: Alpaca refuses it (403 "insufficient qty available ... available: 6"). Reading the
    open orders for this refusal found none in the way and returned nothing, where the account object's note (not open
    for trading) was said before; now it falls through to that note."""
    from llmtrade.errors import BrokerRejected

    broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
    close, _ = flip(broker).orders
    server.set_position("SPY", 6, 590)  # 4 sold by hand, filled
    server.after_next("POST", r"/v2/orders", lambda: server.set_account_flags(trading_blocked=True))

    with pytest.raises(BrokerRejected) as refused:
        broker.submit(close)

    said = str(refused.value)
    assert "insufficient qty available for order (requested: 10, available: 6)" in said  # Alpaca's words, kept
    assert "the Alpaca account is not open for trading" in said and "trading_blocked true" in said


def test_an_order_refused_for_crossing_shares_held_by_hand_names_them_and_what_to_do(
    server: FakeAlpacaServer,
) -> None:
    """An audit: 5 SPY bought by hand (not adopted, so not among the shares llmtrade plans from), the PM's short of 10
    sent as one sell of 10 from an account llmtrade sees flat, refused by Alpaca (403 "insufficient qty available ...
    available: 5"), and nothing named the 5 shares: every rerun refused it again."""
    from llmtrade.brokers.order_plan import plan_orders
    from llmtrade.errors import BrokerRejected

    broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
    server.set_price("SPY", 590.0)
    server.set_position("SPY", 5, 590)
    [short] = plan_orders(date(2026, 1, 7), ACCOUNT.id, {}, "SPY", -10)

    with pytest.raises(BrokerRejected) as refused:
        broker.submit(short)

    said = str(refused.value)
    assert "insufficient qty available for order (requested: 10, available: 5)" in said
    assert "the account holds 5 SPY long at Alpaca and this sell of 10 would carry the position past zero" in said
    assert "`llmtrade positions adopt`" in said


def test_an_order_refused_for_crossing_a_fraction_of_a_share_names_it_and_what_to_do(
    server: FakeAlpacaServer,
) -> None:
    """Half a share of SPY bought by hand (Alpaca's fractional trading; or left by a split): llmtrade, which trades
    whole shares, sees the account flat, and the PM's short of 10 is refused by Alpaca (403 "insufficient qty available
    ... available: 0.5": no one order carries a position past zero). The note read the whole shares alone, found none,
    and said nothing: Alpaca's bare words at every rerun and checkpoint of the week, and nothing said what to do."""
    from llmtrade.brokers.order_plan import plan_orders
    from llmtrade.errors import BrokerRejected

    broker = AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
    server.set_position("SPY", 0, 590)
    trade_by_hand(server, "SPY", 0.5)
    server.fill_open_orders()
    [short] = plan_orders(date(2026, 1, 7), ACCOUNT.id, {}, "SPY", -10)

    with pytest.raises(BrokerRejected) as refused:
        broker.submit(short)

    said = str(refused.value)
    assert "insufficient qty available for order (requested: 10, available: 0.5)" in said
    assert "the account holds 0.5 SPY long at Alpaca and this sell of 10 would carry the position past zero" in said
    assert (
        "a fraction of a share, which llmtrade's whole-share orders cannot trade: close it in Alpaca's dashboard"
        in (said)
    )
