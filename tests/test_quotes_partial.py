"""QuoteService.priced: what it could price and why each other symbol has none, where `quotes` raises for all.
Alpaca's latest trades are faked at the HTTP level (tests/fakes/alpaca_latest.py), the bars are the synthetic
market's, the refusals are recorded on a real PostgreSQL."""

from __future__ import annotations

import pytest

from llmtrade.errors import MarketDataUnavailable
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_latest import FakeLatestPrices
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_quotes import latest as latest  # the fixture
from tests.test_alpaca_quotes import server as server  # the fixture
from tests.test_quote_bad_prints import at, last_close, refusals, service


def test_a_refused_print_leaves_that_symbol_alone_without_a_price_said_and_recorded(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("TLT", round(last_close("TLT") * 0.4, 2), at(11, 58))  # a bad print
    latest.set_trade("SPY", round(last_close("SPY") * 1.004, 2), at(11, 59))
    _, quotes = service(storage, server, fallback=False)
    priced, problems = quotes.priced(["SPY", "TLT"])
    assert list(priced) == ["SPY"] and priced["SPY"].provider == "alpaca"
    assert list(problems) == ["TLT"]
    assert "alpaca: TLT at" in problems["TLT"] and "0.40x its last close" in problems["TLT"]
    assert [(r["symbols"], r["reason"]) for r in refusals(storage)] == [(["TLT"], "suspect")]
    with pytest.raises(MarketDataUnavailable, match="no quote provider has a current price for TLT"):
        quotes.quotes(["SPY", "TLT"])  # for callers that need every price: unchanged
