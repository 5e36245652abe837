"""A halted account's shadow trade, recorded from a stage's verdict (see risk/shadow.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from llmtrade.config.models import Config
from llmtrade.domain.trading import RiskVerdict
from llmtrade.risk.controls import record_shadow
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.desk import Desk


def record_shadow_trade(
    events: EventStore,
    desk: Desk,
    config: Config,
    verdict: RiskVerdict,
    prices: Mapping[str, float],
    *,
    roll: bool,
    source: str,
    at: datetime,
    week_id: date,
    run_id: str,
) -> None:
    """What the halted account would have traded on `verdict`, priced with the paper broker's costs.

    `roll`: the week's decision (the shadow book is rolled like the account); else a checkpoint's.
    Writes nothing for a running account or a `source` already recorded."""
    record_shadow(
        events,
        verdict,
        starting_equity=desk.account.starting_cash,
        config=config.risk.circuit_breaker,
        prices=prices,
        roll=roll,
        source=source,
        at=at,
        slippage_bps=float(config.accounts.paper.slippage_bps),
        commission=float(config.accounts.paper.commission_per_order),
        week_id=week_id,
        run_id=run_id,
    )
