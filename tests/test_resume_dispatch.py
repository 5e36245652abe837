"""A checkpoint resends the week's undone orders on a thread per account that has some, and starts no
thread at all when nothing is undone (most checkpoints): the sending itself is tested in test_held_back.py
and test_refused_rerun.py."""

from __future__ import annotations

import asyncio
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import Order, OrderRejected, OrderResult, OrderStatus, OrderSubmitted, Side
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows import legs

WEEK = date(2026, 1, 7)
STREAM = week_stream(WEEK, ORDERS)


def _order(account_id: str, cid: str) -> Order:
    return Order(
        client_order_id=cid, account_id=account_id, week_id=WEEK, symbol="SPY", side=Side.BUY, qty=3, intent="open"
    )


def _record(storage: Storage, *payloads: Any) -> None:
    storage.events.append(
        [NewEvent.of(p, stream=STREAM, week_id=WEEK, account_id=p.order.account_id) for p in payloads]
    )


def _threads(storage: Storage, monkeypatch: pytest.MonkeyPatch, own: frozenset[str] = frozenset()) -> list[str]:
    """The accounts `resume_unfinished` hands to a thread (the threads' work left out)."""
    started: list[str] = []

    async def on_threads(calls: Any) -> list[tuple[list[str], list[str]]]:
        started.extend(call.args[0].account.id for call in calls)  # each a partial(resume, desk)
        return [([], []) for _ in calls]

    monkeypatch.setattr(legs, "on_threads", on_threads)
    desks = {a: SimpleNamespace(account=SimpleNamespace(id=a)) for a in ("acct_1", "acct_2", "acct_3")}
    asyncio.run(
        legs.resume_unfinished(
            storage.events,
            desks,
            None,
            {},
            stream=STREAM,
            week_id=WEEK,
            run_id="r1",
            own=own,  # type: ignore[arg-type]
        )
    )
    return started


def test_nothing_undone_starts_no_thread(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = OrderRejected(order=_order("acct_2", "c1"), broker="paper", reason="no buying power")
    _record(
        storage,
        refused,
        OrderSubmitted(
            order=_order("acct_2", "c1"),
            broker="paper",
            result=OrderResult(client_order_id="c1", status=OrderStatus.ACCEPTED),
        ),
    )
    assert _threads(storage, monkeypatch) == []


def test_only_an_account_with_an_undone_order_gets_a_thread(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    _record(storage, OrderRejected(order=_order("acct_3", "c2"), broker="paper", reason="market closed"))
    assert _threads(storage, monkeypatch) == ["acct_3"]
    # The caller's own order is the caller's to send: no thread for it.
    assert _threads(storage, monkeypatch, own=frozenset({"c2"})) == []
