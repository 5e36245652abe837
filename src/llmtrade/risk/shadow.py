"""Shadow trades: what a halted account would have traded, priced but never sent.

Pure code. A halted account keeps deciding (the week's pick, its checkpoints); the gate's uncut
verdict (`RiskVerdict.shadow_qty`) moves a shadow book that starts flat at the halt. Shadow fills are
priced at the decision's price with the paper broker's slippage and commission, so a shadow trade
wins only where a real one would have; their round trips (domain/ledger.py, the same accounting as
real trades) are what lets a loss-streak halt lift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from llmtrade.domain.ledger import Split, fold, with_splits
from llmtrade.domain.trading import Fill, Side


def shadow_fills(
    account_id: str,
    book: Sequence[Fill],
    *,
    instrument: str,
    target: int | None,
    prices: Mapping[str, float],
    roll: bool,
    source: str,
    at: datetime,
    slippage_bps: float = 0.0,
    commission: float = 0.0,
    splits: Sequence[Split] = (),
) -> list[Fill]:
    """The fills that take the shadow book (its fills so far) to `target` signed shares of `instrument`.

    `roll` (the week's decision) closes the whole book first and then opens the week's target: each
    week's shadow bet is one trade, valued at the next week's prices (a real position kept for
    weeks would be resized instead, but a shadow that never closed could never lift a halt).
    Otherwise (a checkpoint) only `instrument` moves; `target` None leaves it as it is. An
    instrument without a positive price in `prices` is left alone: a shadow priced at nothing would
    be a made-up win or loss. A side change is a close and an open, like a real one. Ids are
    `shadow-{source}-{symbol}-{n}`.
    """
    # Through the splits recorded (domain/ledger.py): a shadow bought before a 4-for-1 split closes 4x its shares.
    held = {symbol: position.qty for symbol, position in fold(with_splits(book, splits), 0.0).positions.items()}
    legs: list[tuple[str, int]] = []
    if roll:
        legs += [(symbol, -qty) for symbol, qty in sorted(held.items()) if qty and prices.get(symbol, 0.0) > 0]
        held = {symbol: qty for symbol, qty in held.items() if not prices.get(symbol, 0.0) > 0}
    if target is not None and instrument:
        current = held.get(instrument, 0)
        if current and target and (current > 0) != (target > 0):
            legs += [(instrument, -current), (instrument, target)]
        elif target != current:
            legs.append((instrument, target - current))
    fills: list[Fill] = []
    for n, (symbol, signed) in enumerate(legs):
        price = prices.get(symbol, 0.0)
        if not price > 0:
            continue
        slip = price * slippage_bps / 10_000
        fills.append(
            Fill(
                client_order_id=f"shadow-{source}-{symbol}-{n}",
                account_id=account_id,
                symbol=symbol,
                side=Side.BUY if signed > 0 else Side.SELL,
                qty=abs(signed),
                price=price + slip if signed > 0 else price - slip,
                commission=commission,
                filled_at=at,
            )
        )
    return fills
