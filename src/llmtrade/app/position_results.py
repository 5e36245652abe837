"""What the `positions` commands return (app/positions.py, app/settle_ended.py): frozen and typed as every job's result
(app/results.py); `--json` is their dump and DOCUMENTS their schemas."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import ConfigDict, RootModel

from llmtrade.app.results import DifferenceLine, Result
from llmtrade.domain.trading import Position


class ManagedAccount(Result):
    """One account at its broker: what llmtrade manages, what the broker holds, and how they differ now."""

    account_id: str
    managed: list[Position]
    broker: list[Position]
    differences: list[DifferenceLine]


class ManagedAccounts(RootModel[list[ManagedAccount]]):
    """`positions list --json`."""

    model_config = ConfigDict(frozen=True)


class PositionChange(Result):
    """`positions adopt|release --json`: signed shares handed to (adopted) or taken from (released) llmtrade,
    and the shares of the symbol it manages afterwards."""

    action: Literal["adopted", "released"]
    account_id: str
    symbol: str
    qty: int
    managed_qty: int


class PositionSettled(Result):
    """`positions settle --json`: the signed shares closed (a long's sale is positive), the order that closed them and
    its fill price; `last_day` the day of the symbol's last close, `given` whether the price was the user's (--price),
    `earlier` whether an earlier run had settled it already (nothing was done now)."""

    account_id: str
    symbol: str
    qty: int
    client_order_id: str
    price: float
    last_day: date
    given: bool
    earlier: bool


# The `--json` document of each `positions` command, for `llmtrade schema COMMAND`.
DOCUMENTS: dict[str, Any] = {
    "positions list": ManagedAccounts,
    "positions adopt": PositionChange,
    "positions release": PositionChange,
    "positions settle": PositionSettled,
}
