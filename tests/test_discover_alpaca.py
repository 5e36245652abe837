"""Live candidates: the packaged list narrowed by Alpaca's assets API, through the real alpaca-py client
against the fake Alpaca server (one bare array, inactive assets unless asked, some names empty)."""

from __future__ import annotations

import pytest
from alpaca.trading.client import TradingClient

from llmtrade.config.candidates import CandidateInstrument, packaged_candidates
from llmtrade.config.models import AssetClass
from llmtrade.discovery.candidates import alpaca_candidates, trading_client
from llmtrade.errors import MarketDataError, MarketDataUnavailable
from tests.fakes.alpaca_server import FakeAlpacaServer

PACKAGED = [
    CandidateInstrument(symbol="SPY", asset_class=AssetClass.EQUITY, name="SPDR S&P 500 ETF"),
    CandidateInstrument(symbol="TLT", asset_class=AssetClass.RATES, name="Long treasuries"),
    CandidateInstrument(symbol="BKLN", asset_class=AssetClass.CREDIT, name="Senior loans"),
    CandidateInstrument(symbol="GONE", asset_class=AssetClass.EQUITY, name="Delisted Corp", kind="stock"),
    CandidateInstrument(symbol="HALT", asset_class=AssetClass.EQUITY, name="Halted Inc", kind="stock"),
]


def _client(server: FakeAlpacaServer) -> TradingClient:
    return TradingClient(server.key_id, server.secret_key, paper=True, url_override=server.base_url)


def test_live_candidates_keep_active_tradable_listed_ones_with_alpacas_flags() -> None:
    with FakeAlpacaServer() as server:
        server.add_asset("SPY", shortable=True, name="SPDR S&P 500 ETF Trust")
        server.add_asset("TLT", shortable=True, easy_to_borrow=False, fractionable=False, name="")
        server.add_asset("BKLN", shortable=False, exchange="NYSEARCA")
        server.add_asset("GONE", status="inactive")
        server.add_asset("HALT", tradable=False)
        server.add_asset("AAPL", shortable=True)  # listed, but not a packaged candidate
        found = alpaca_candidates(_client(server), PACKAGED)
        (request,) = [r for r in server.requests if r.path == "/v2/assets"]
    by = {c.symbol: c for c in found}
    assert list(by) == ["SPY", "TLT", "BKLN"]  # packaged order; the inactive, untradable and unknown left out
    assert request.query == {"status": "active", "asset_class": "us_equity"}
    assert by["SPY"].shortable and by["SPY"].name == "SPDR S&P 500 ETF Trust"
    assert not by["TLT"].shortable  # shortable but not easy to borrow: not available to short now
    assert not by["TLT"].fractionable and by["TLT"].name == "Long treasuries"  # Alpaca's empty name kept ours
    assert by["BKLN"].asset_class is AssetClass.CREDIT  # the gate's class comes from the packaged list


def test_the_fake_lists_inactive_assets_unless_asked_for_active_ones_as_alpaca_does() -> None:
    with FakeAlpacaServer() as server:
        server.add_asset("SPY")
        server.add_asset("GONE", status="inactive")
        every = _client(server).get_all_assets()
    assert sorted(a.symbol for a in every) == ["GONE", "SPY"]


@pytest.mark.parametrize(
    ("status", "error"), [(503, MarketDataUnavailable), (429, MarketDataUnavailable), (403, MarketDataError)]
)
def test_a_failing_assets_api_is_a_typed_error(status: int, error: type[Exception]) -> None:
    with FakeAlpacaServer() as server:
        server.fail_route("GET", "/v2/assets", status, times=5)
        client = trading_client(server.key_id, server.secret_key, url_override=server.base_url, timeout_seconds=5)
        with pytest.raises(error):
            alpaca_candidates(client, PACKAGED)


def test_every_packaged_candidate_has_a_class_the_gate_and_synthetic_market_know() -> None:
    from llmtrade.market.synthetic import FACTORS

    candidates = packaged_candidates()
    assert len(candidates) >= 100
    assert {c.asset_class.value for c in candidates} <= set(FACTORS)
    assert {c.asset_class for c in candidates} == set(AssetClass)
