"""Trading by hand at the fake Alpaca: what a user does in Alpaca's web page, outside llmtrade.

The order goes through alpaca-py's own TradingClient, with a client_order_id llmtrade never made
(Alpaca's web page leaves it to Alpaca, which makes a UUID), so the fake books the fill, the cash
and the position exactly as for any order.
"""

from __future__ import annotations

import uuid

from tests.fakes.alpaca_server import FakeAlpacaServer


def trade_by_hand(
    server: FakeAlpacaServer, symbol: str, qty: float | None, *, side: str = "buy", notional: float | None = None
) -> str:
    """Send a market order for `qty` shares of `symbol` (a fraction too), or for `notional` dollars of it (Alpaca's web
    page offers both for a fractionable asset), as a person would; returns its client_order_id."""
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    client = TradingClient(server.key_id, server.secret_key, paper=True, url_override=server.base_url)
    client_order_id = str(uuid.uuid4())
    client.submit_order(
        MarketOrderRequest(
            symbol=symbol,
            qty=qty,
            notional=notional,
            side=OrderSide(side),
            time_in_force=TimeInForce.DAY,
            client_order_id=client_order_id,
        )
    )
    return client_order_id
