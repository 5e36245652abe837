"""Whose end is an order's end, the circuit breaker's or Alpaca's, when the breaker's cancel races another hand.

The breaker lists the halted account's open orders, says which it cancels (BreakerCancelRequested), then its broker
looks the order up and DELETEs it. A cancel made by hand between the listing and the look found the order canceled, or
pending_cancel, and the breaker took that end as its own: recorded with the halt's reason, or taken (BreakerCancelTaken)
and credited to the halt when it came, the trade the operator ended named nowhere as Alpaca's. The real alpaca-py
client against the loopback fake."""

from __future__ import annotations

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import observe
from llmtrade.brokers.order_ends import ended_notes, record_order_ends
from llmtrade.brokers.protocol import CancelAnswer
from llmtrade.config.loader import load_config
from llmtrade.domain.breaker import BreakerCancelFailed
from llmtrade.risk.controls import evaluate_breaker, halted, reset_breaker
from llmtrade.risk.halt_cancels import cancel_opening_orders, resume_by_hand
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.valuation import value_account
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, SECRET, WEEK, _ends, _queued

BREAKER = load_config(None).config.risk.circuit_breaker


def _halt(storage: Storage) -> None:
    evaluate_breaker(
        storage.events,
        "acct_1",
        starting_equity=100_000,
        equity=70_000,
        fills=[],
        config=BREAKER,
        week_id=WEEK,
        run_id="halt",
    )
    assert halted(storage.events, "acct_1")[0]


@pytest.mark.parametrize(
    ("after", "status"),
    [
        ("GET /v2/orders", "canceled"),  # between the listing and the look: done
        ("GET /v2/orders", "pending_cancel"),  # between the listing and the look: under way
        ("GET /v2/orders:by_client_order_id", "canceled"),  # between the look and the DELETE (answered 422)
    ],
)
def test_a_cancel_by_hand_just_ahead_of_the_breakers_is_alpacas_end(storage: Storage, after: str, status: str) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        _halt(storage)
        method, path = after.split(" ")

        def by_hand() -> None:
            if status == "canceled":
                server.end_order(CID, "canceled")
            else:
                server.orders[CID].update(status="pending_cancel")

        server.after_next(method, path, by_hand)

        canceled = cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")

        assert canceled == []  # the breaker canceled nothing
        deletes = server.count("DELETE", f"/v2/orders/{server.orders[CID]['id']}")
        assert deletes == (1 if path.endswith("by_client_order_id") else 0)
        [withdrawn] = [BreakerCancelFailed.from_event(e) for e in storage.events.read(type="BreakerCancelFailed")]
        assert withdrawn.client_order_id == CID and withdrawn.reason.startswith("not asked: "), withdrawn.reason
        server.settle_cancels()  # Alpaca's venue carries out the cancel made by hand
        assert record_order_ends(storage.events, broker, observe(broker), run_id="later") == [CID]

        [ended] = _ends(storage)
        assert ended.reason.startswith("ended at alpaca, unfilled: alpaca status canceled"), ended.reason
        [note] = ended_notes(storage.events, "later")
        assert CID in note and "the trade did not happen" in note


class _Killed(BaseException):
    """The process dying: nothing after it runs (not an error any handler catches)."""


class _KilledAfterTheAnswer(AlpacaBroker):
    """Alpaca, and a process killed right after Alpaca answered its cancel, before the answer was recorded."""

    def cancel(self, client_order_id: str) -> CancelAnswer | None:
        super().cancel(client_order_id)
        raise _Killed


class _KilledBeforeTheDelete(AlpacaBroker):
    """A process killed after the breaker said which order it cancels, before its DELETE left."""

    def cancel(self, client_order_id: str) -> CancelAnswer | None:
        raise _Killed


def _look(storage: Storage, broker: AlpacaBroker, run_id: str) -> None:
    config = load_config(None).config
    desk = Desk(config.accounts.accounts[0], broker)
    account = broker.account({})
    value_account(storage.events, desk, account, config, occasion=f"checkpoint {run_id}", week_id=WEEK, run_id=run_id)


def _killed_at_the_halt(storage: Storage, server: FakeAlpacaServer, kind: type[AlpacaBroker]) -> AlpacaBroker:
    """The account halts (down 30%) with a buy queued for the open; the process asking its cancel is killed."""
    server.hold_cancels = True  # outside market hours: the cancel waits for the open
    broker = _queued(storage, server)
    _look(storage, broker, "c0")  # valued at its 100,000 first: a first valuation at 70,000 is where its books begin
    server.set_account(equity=70_000)
    dying = kind("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
    with pytest.raises(_Killed):
        _look(storage, dying, "c1")
    assert halted(storage.events, "acct_1")[0]
    return broker


@pytest.mark.parametrize("resume", ["by hand", "by hand before any look", "by recovery"])
def test_a_cancel_alpaca_took_before_the_process_died_ends_as_the_breakers(storage: Storage, resume: str) -> None:
    """Alpaca took the breaker's cancel (pending_cancel until the open) and the process died before it recorded that
    (BreakerCancelTaken). The request stood unanswered, and the resume took it back as a cancel never made: the end,
    when Alpaca made it at the open, was recorded as Alpaca's own and said as a trade that did not happen."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _killed_at_the_halt(storage, server, _KilledAfterTheAnswer)
        assert server.orders[CID]["status"] == "pending_cancel"
        if resume == "by hand":
            _look(storage, broker, "c2")  # the next checkpoint, still halted
            reset_breaker(storage.events, "acct_1", starting_equity=100_000, equity=70_000)
        elif resume == "by hand before any look":
            # `llmtrade breaker reset` right after the crash: no valuation has settled the request (it took it back)
            resume_by_hand(storage.events, broker, "acct_1", starting_equity=100_000, equity=70_000)
            [taken] = storage.events.read(type="BreakerCancelTaken")
            assert taken.payload["client_order_id"] == CID
        else:
            server.set_account(equity=100_000)
            _look(storage, broker, "c2")  # the drawdown recovered: this look resumes the account
        assert not halted(storage.events, "acct_1")[0]
        server.settle_cancels()  # the open: the venue takes the cancel
        _look(storage, broker, "c3")

        [ended] = _ends(storage)
        assert ended.reason.startswith("circuit breaker: "), ended.reason
        assert ended_notes(storage.events, "c3") == []
        assert server.count("DELETE", f"/v2/orders/{server.orders[CID]['id']}") == 1


def test_a_cancel_never_made_before_the_process_died_is_not_the_breakers_after_a_resume(storage: Storage) -> None:
    """The process died after the breaker's request and before its DELETE: the next look finds the order still working,
    the cancel not made; the account resumed at that look, a cancel by hand later is Alpaca's end."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _killed_at_the_halt(storage, server, _KilledBeforeTheDelete)
        assert server.orders[CID]["status"] == "accepted"
        server.set_account(equity=100_000)
        _look(storage, broker, "c2")  # resumes
        assert not halted(storage.events, "acct_1")[0]
        server.end_order(CID, "canceled")  # by hand
        _look(storage, broker, "c3")

        [ended] = _ends(storage)
        assert ended.reason.startswith("ended at alpaca, unfilled: alpaca status canceled"), ended.reason
        assert server.count("DELETE", f"/v2/orders/{server.orders[CID]['id']}") == 0


def test_a_cancel_taken_by_one_process_stays_the_breakers_when_another_settled_it_as_not_made(storage: Storage) -> None:
    """Two looks at once: the second settles the first's request, its DELETE still on the way, as not made; the first's
    DELETE then lands (pending_cancel) and the broker's taking of it is what counts, after a resume too."""
    from llmtrade.risk.halt_cancels import settle_unanswered  # inside: the module is part of the fix

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.hold_cancels = True
        broker = _queued(storage, server)
        _halt(storage)
        other = AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
        server.after_next(
            "GET",
            r"/v2/orders:by_client_order_id",
            lambda: settle_unanswered(storage.events, other, other.open_orders(), week_id=WEEK, run_id="other"),
        )

        cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")
        assert server.orders[CID]["status"] == "pending_cancel"
        reset_breaker(storage.events, "acct_1", starting_equity=100_000, equity=70_000)
        server.settle_cancels()
        record_order_ends(storage.events, broker, observe(broker), run_id="later")

        [ended] = _ends(storage)
        assert ended.reason.startswith("circuit breaker: "), ended.reason
        [withdrawn] = storage.events.read(type="BreakerCancelFailed")
        assert withdrawn.run_id == "other"  # settled as not made while its DELETE was on the way
