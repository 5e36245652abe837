"""A checkpoint looks at each account's broker once (fills.observe: open orders, then fills) and hands that
look to the reconciliation, the queue check and the valuation, which used to read the broker each. What they
conclude from the look must be what they concluded reading the broker themselves."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from llmtrade.brokers.fills import observe
from llmtrade.brokers.paper import PaperBroker
from llmtrade.brokers.reconcile import look
from llmtrade.config.loader import load_config
from llmtrade.domain.trading import BrokerOrder, Fill, OrderFilled, Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import queued_order_ids
from llmtrade.workflows.valuation import value_account
from tests.test_paper_broker import BEFORE_OPEN, DURING, WEEK, Clock, Opens, _order

CONFIG = load_config(None).config
PRICES = {"TLT": 91.0, "GLD": 180.0}


class Counting:
    """The paper broker, counting the reads a look makes."""

    def __init__(self, inner: PaperBroker):
        self._inner = inner
        self.reads: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_orders(self) -> list[BrokerOrder]:
        self.reads["open_orders"] += 1
        return self._inner.open_orders()

    def fills(self, since: datetime | None = None) -> list[Fill]:
        self.reads["fills"] += 1
        return self._inner.fills(since)


def _traded(storage: Storage) -> Counting:
    """acct_1 with a fill (TLT, at the open) and an order still working (GLD: its opening price not known yet)."""
    clock = Clock(BEFORE_OPEN)
    paper = PaperBroker(
        "acct_1",
        starting_cash=100_000.0,
        events=storage.events,
        clock=clock,
        calendar=TradingCalendar(),
        prices=Opens({("TLT", WEEK): 90.0}),
    )
    paper.submit(_order("TLT", Side.BUY, 100))
    paper.submit(_order("GLD", Side.BUY, 10))
    clock.set(DURING)
    return Counting(paper)


def test_a_look_given_the_brokers_observation_reconciles_as_a_fresh_look_and_reads_the_broker_no_more(
    storage: Storage,
) -> None:
    broker = _traded(storage)
    account = broker.account(PRICES)
    observed = observe(broker)
    assert broker.reads == Counter(open_orders=1, fills=1)

    given = look(storage.events, broker, account, PRICES, observed=observed)
    desk = Desk(CONFIG.accounts.account("acct_1"), broker)
    queued = queued_order_ids(desk, observed.orders)

    assert broker.reads == Counter(open_orders=1, fills=1)  # nothing read again
    assert [f.symbol for f in observed.fills] == ["TLT"] and queued == [_order("GLD", Side.BUY, 10).client_order_id]
    assert given == look(storage.events, broker, account, PRICES)
    assert queued == queued_order_ids(desk)


def test_a_valuation_given_the_observation_records_its_fills_without_reading_the_broker_again(
    storage: Storage,
) -> None:
    broker = _traded(storage)
    account = broker.account(PRICES)
    observed = observe(broker)
    desk = Desk(CONFIG.accounts.account("acct_1"), broker)

    value_account(
        storage.events, desk, account, CONFIG, occasion="checkpoint", week_id=WEEK, run_id="r1", observed=observed
    )

    assert broker.reads == Counter(open_orders=1, fills=1)
    recorded = [e.payload["fill"]["symbol"] for e in storage.events.read(type=OrderFilled.event_type())]
    assert recorded == ["TLT"]  # the working GLD order has no fill to record
