"""A split that cancels a queued paper order, and brokers/order_ends.py: the paper broker records its own ends.

A checkpoint's valuation recorded the order's end (order_ends) before the broker's split cancel, on the order's
write-once stream; PaperBroker.record_canceled, whose write takes that stream with the ledger's cancel, then called
itself on the same book for ever (RecursionError on every later record_new_fills of the account, every postmortem
failing, the ledger never holding the cancel). Provider mocked at yfinance.download."""

from __future__ import annotations

import pytest

from llmtrade.brokers.fills import observe, record_new_fills
from llmtrade.brokers.order_ends import ENDED_AT, ended_notes, record_order_ends
from llmtrade.config.loader import load_config
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import ORDERS, fill_stream, ledger_stream, week_stream
from llmtrade.domain.trading import OrderStatus, OrderSubmitted, QueuedOrderCanceled, Side
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.valuation import value_account
from tests.test_paper_broker import _order
from tests.test_split_books import WEEK, Clock, _at, _held_before_the_split, _restated
from tests.test_split_canceled_recorded import _recorded
from tests.test_split_detection import SPLIT

CONFIG = load_config(None).config


@pytest.fixture
def clock() -> Clock:
    return Clock(_at(WEEK, 23))


def _queued_across_the_split(storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> tuple:  # type: ignore[type-arg]
    said: list[str] = []
    broker, _, _ = _held_before_the_split(storage, clock, monkeypatch, 0.25, 40, said)
    order = _order("SPY", Side.BUY, 100, "add")
    result = broker.submit(order)
    assert result.status is OrderStatus.ACCEPTED
    sent = OrderSubmitted(order=order, broker=broker.name, result=result)
    stream = week_stream(WEEK, ORDERS)
    storage.events.append([NewEvent.of(sent, stream=stream, week_id=WEEK, run_id="r1", account_id="acct_1")])
    clock.set(_at(SPLIT, 23))
    _restated(storage, monkeypatch, said)  # the 1-for-4 split recorded: the queued order is canceled by it
    return broker, order.client_order_id


def test_a_checkpoints_valuation_records_the_split_cancel_not_an_end_at_the_broker(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, cid = _queued_across_the_split(storage, clock, monkeypatch)
    # order_ends leaves the paper broker's orders alone: it records its own ends.
    assert record_order_ends(storage.events, broker, observe(broker), run_id="r2") == []
    assert ended_notes(storage.events, "r2") == []
    # A checkpoint's valuation: the broker's own cancel first, the ledger's and why together.
    account = broker.account({})
    desk = Desk(CONFIG.accounts.account("acct_1"), broker)
    value_account(storage.events, desk, account, CONFIG, occasion="checkpoint", week_id=WEEK, run_id="r3")
    [canceled] = _recorded(storage, "PaperOrderCanceled")
    [why] = _recorded(storage, "QueuedOrderCanceled")
    assert (canceled["client_order_id"], canceled["run_id"]) == (cid, "r3")
    assert why["reason"].startswith("split: ") and why["stream"] == fill_stream("acct_1", cid)
    # The postmortem's record_new_fills: nothing more, no recursion.
    assert record_new_fills(storage.events, broker, week_id=WEEK, run_id="r4") == []
    assert len(_recorded(storage, "PaperOrderCanceled")) == 1 and len(_recorded(storage, "QueuedOrderCanceled")) == 1


def test_a_split_cancel_whose_why_is_recorded_already_writes_the_ledgers_cancel_only(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As an earlier build left it: the order's stream holds an end at the broker, the ledger no cancel."""
    broker, cid = _queued_across_the_split(storage, clock, monkeypatch)
    old = QueuedOrderCanceled(
        account_id="acct_1",
        client_order_id=cid,
        reason=f"{ENDED_AT}paper, unfilled: canceled",
        status=OrderStatus.CANCELED,
    )
    stream = fill_stream("acct_1", cid)
    storage.events.append(
        [NewEvent.of(old, stream=stream, week_id=WEEK, account_id="acct_1", run_id="r2")], expected_versions={stream: 0}
    )

    record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")  # recursed for ever before
    assert broker.record_canceled(run_id="r4") == []  # a rerun: nothing left to record

    [canceled] = _recorded(storage, "PaperOrderCanceled")
    assert (canceled["client_order_id"], canceled["stream"], canceled["run_id"]) == (cid, ledger_stream("acct_1"), "r3")
    assert [w["run_id"] for w in _recorded(storage, "QueuedOrderCanceled")] == ["r2"]  # its why, once
    assert broker.open_orders() == [] and broker.account({}).positions["SPY"].qty == 10
