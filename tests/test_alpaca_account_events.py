"""Account-level events at Alpaca (trial A, account events), through the real alpaca-py client against the loopback
fake: what Alpaca refuses to short is known to the risk gate before an order is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.domain.trading import Side
from llmtrade.errors import BrokerRejected
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET, broker_for, order


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        fake.set_price("SPY", 500.0)
        fake.set_price("TLT", 90.0)
        fake.add_asset("SPY", shortable=True)
        yield fake


def _short(broker: AlpacaBroker, symbol: str) -> None:
    broker.submit(order(f"w2026-01-07-pm-alpha-{symbol}-open", symbol=symbol, side=Side.SELL, qty=1))


def test_a_hard_to_borrow_or_untradable_asset_is_not_shortable_as_alpaca_refuses_to_short_it(
    server: FakeAlpacaServer,
) -> None:
    """Alpaca opens shorts only in easy-to-borrow assets (a hard-to-borrow one needs a locate), and trades no inactive
    (delisted) or untradable (halted) asset: the gate asked `is_shortable` and was told yes for all three, so the
    order went to Alpaca only to be refused there."""
    server.add_asset("TLT", shortable=True, easy_to_borrow=False)
    server.set_price("GONE", 4.0)
    server.add_asset("GONE", shortable=True, status="inactive")
    server.set_price("HALT", 9.0)
    server.add_asset("HALT", shortable=True, tradable=False)
    broker = broker_for(server)

    assert broker.is_shortable("SPY") is True
    for symbol in ("TLT", "GONE", "HALT"):
        assert broker.is_shortable(symbol) is False, symbol
        with pytest.raises(BrokerRejected, match="HTTP 422"):
            _short(broker, symbol)  # what sending it anyway gets


def test_an_account_alpaca_will_not_let_short_has_nothing_shortable(server: FakeAlpacaServer) -> None:
    """shorting_enabled false (an account under $2,000 equity, or set to no-shorting): Alpaca answers every short
    403 "account is not allowed to short", however easy the asset is to borrow."""
    server.set_account_flags(shorting_enabled=False)
    broker = broker_for(server)

    assert broker.is_shortable("SPY") is False
    with pytest.raises(BrokerRejected, match=r"account is not allowed to short \(HTTP 403\)"):
        _short(broker, "SPY")
