"""Discovery's candidates, point-in-time: the packaged list, narrowed live by Alpaca's assets API.

GET /v2/assets (alpaca-py's TradingClient.get_all_assets) answers one JSON array of every US
equity asset, ETFs included (it has no ETF flag, so the asset class for the risk gate comes from
the packaged list), inactive ones too unless status=active is asked. A live run keeps the packaged
candidates Alpaca lists as active and tradable now, with Alpaca's shortable (and easy to borrow)
and fractionable flags; a candidate Alpaca does not list (delisted, renamed) is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmtrade.config.candidates import CandidateInstrument
from llmtrade.errors import MarketDataError, MarketDataUnavailable
from llmtrade.market.alpaca_http import configure_retries, impose_timeout
from llmtrade.market.failures import no_answer, wire_reason


def trading_client(key: str, secret: str, *, url_override: str | None, timeout_seconds: float) -> Any:
    """alpaca-py's TradingClient for the assets API: no retries of its own (a rerun retries), a timeout."""
    # lazy: alpaca-py is heavy; keeps CLI start-up fast
    from alpaca.trading.client import TradingClient

    client = TradingClient(api_key=key, secret_key=secret, paper=True, url_override=url_override)
    configure_retries(client, 0, 0, ())
    impose_timeout(client._session, timeout_seconds)
    return client


def alpaca_candidates(client: Any, packaged: Sequence[CandidateInstrument]) -> list[CandidateInstrument]:
    """The packaged candidates Alpaca lists as active, tradable US equities, with its flags.

    `client` is an alpaca-py TradingClient. Raises MarketDataUnavailable (retry later) when Alpaca
    is down or throttling, MarketDataError when it refuses the request (keys) or answers nonsense."""
    # lazy: alpaca-py is heavy; keeps CLI start-up fast
    from alpaca.common.exceptions import APIError
    from alpaca.trading.enums import AssetClass, AssetStatus
    from alpaca.trading.requests import GetAssetsRequest

    try:
        assets = client.get_all_assets(GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=AssetClass.US_EQUITY))
    except APIError as exc:
        status = exc.status_code
        if status is not None and (status >= 500 or status == 429):
            raise MarketDataUnavailable(f"Alpaca assets API answered {status}: {exc}") from exc
        raise MarketDataError(f"Alpaca assets API refused the request ({status}): {exc}") from exc
    except (OSError, ValueError) as exc:  # connection failures; a body that is not the documented array
        if no_answer(exc):
            raise MarketDataUnavailable(f"could not reach the Alpaca assets API: {wire_reason(exc)}") from exc
        raise MarketDataUnavailable(f"the Alpaca assets API answered unreadably: {' '.join(str(exc).split())}") from exc
    listed = {
        a.symbol: a
        for a in assets
        # Asked for active US equities; still checked, as the list is the ground truth for what is tradable.
        if str(getattr(a.status, "value", a.status)) == "active" and a.tradable
    }
    out = []
    for c in packaged:
        asset = listed.get(c.symbol)
        if asset is None:
            continue
        out.append(
            c.model_copy(
                update={
                    "shortable": bool(asset.shortable and asset.easy_to_borrow),
                    "fractionable": bool(asset.fractionable),
                    "name": asset.name or c.name,  # Alpaca leaves some names empty
                }
            )
        )
    return out
