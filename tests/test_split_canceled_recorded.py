"""A paper order a split cancels (queued before the split for its ex-day's open: brokers/paper_book.py `crossing`) is
recorded as canceled by the next job that records the account's fills, once. Before, only reads derived it: no event
said the order was canceled, or why (only the split's warning did). Provider mocked at yfinance.download."""

from __future__ import annotations

import pytest

from llmtrade.brokers.fills import record_new_fills
from llmtrade.domain.streams import fill_stream, ledger_stream
from llmtrade.domain.trading import OrderStatus, Side
from llmtrade.storage.bootstrap import Storage
from tests.test_paper_broker import _broker, _order
from tests.test_split_books import AFTER_SPLIT, WEEK, Clock, _at, _held_before_the_split, _restated
from tests.test_split_detection import SPLIT


@pytest.fixture
def clock() -> Clock:
    """The storage's clock and the broker's, one (which orders a split cancels depends on when each was stamped)."""
    return Clock(_at(WEEK, 23))


def _recorded(storage: Storage, kind: str) -> list[dict]:
    return [e.payload | {"stream": e.stream, "run_id": e.run_id} for e in storage.events.read(type=kind)]


def test_an_order_a_split_cancels_is_recorded_once_by_the_job_that_records_fills_and_never_twice(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    broker, _, market = _held_before_the_split(storage, clock, monkeypatch, 0.25, 40, said)
    cid = broker.submit(_order("SPY", Side.BUY, 100, "add")).client_order_id  # for the ex-day's open
    clock.set(_at(SPLIT, 23))
    _restated(storage, monkeypatch, said)  # the 1-for-4 split recorded
    # Reads derive the cancel and write nothing.
    found = broker.find(cid)
    assert found is not None and found.status is OrderStatus.CANCELED
    assert broker.open_orders() == [] and broker.account({}).positions["SPY"].qty == 10
    assert _recorded(storage, "PaperOrderCanceled") == [] and _recorded(storage, "QueuedOrderCanceled") == []
    # The job that records the fills records the cancel: on the ledger, and why on the order's own fill stream.
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")
    [canceled] = _recorded(storage, "PaperOrderCanceled")
    [why] = _recorded(storage, "QueuedOrderCanceled")
    assert (canceled["client_order_id"], canceled["stream"], canceled["run_id"]) == (cid, ledger_stream("acct_1"), "r3")
    assert (why["client_order_id"], why["stream"], why["status"]) == (cid, fill_stream("acct_1", cid), "canceled")
    assert why["reason"] == "split: SPY split 1-for-4 on 2025-12-15, after it was queued"
    # A rerun, another process's broker, a later job: nothing recorded twice; the order reads as before.
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")
    other = _broker(storage, clock, market, slippage_bps=0.0)  # type: ignore[arg-type]
    assert other.record_canceled(run_id="r4") == []
    clock.set(_at(AFTER_SPLIT, 16))
    record_new_fills(storage.events, other, week_id=WEEK, run_id="r5")
    assert len(_recorded(storage, "PaperOrderCanceled")) == 1 and len(_recorded(storage, "QueuedOrderCanceled")) == 1
    for looked in (broker, other):
        result = looked.find(cid)
        assert result is not None and result.status is OrderStatus.CANCELED
        assert result.message == "canceled: SPY split 1-for-4 on 2025-12-15, after it was queued"
        assert looked.open_orders() == [] and [f.qty for f in looked.fills()] == [40]
        assert looked.account({}).positions["SPY"].qty == 10


def test_a_job_with_no_split_recorded_cancels_nothing(storage: Storage, clock: Clock) -> None:
    """The usual call (every checkpoint of a backtest): no split, no read of the book, nothing written."""
    from tests.test_paper_broker import Opens

    broker = _broker(storage, clock, Opens({}))
    broker.submit(_order("SPY", Side.BUY, 100, "add"))
    assert broker.record_canceled(run_id="r1") == []
    assert [o.status for o in broker.open_orders()] == [OrderStatus.ACCEPTED]
    assert _recorded(storage, "PaperOrderCanceled") == []
