"""Fills made by hand in fractions of a share (Alpaca's fractional trading), as pure records and functions: a fill
carries the exact quantity the broker filled, the user's realised P/L is folded on it, and the managed view takes the
P/L of a fraction held beyond the whole shares out of the account's equity. The command-line story, through alpaca-py
against the loopback fake, is tests/test_alpaca_fractional_hand_fills_cli.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from pydantic import ValidationError

from llmtrade.domain.hand_fills import realized_by_hand
from llmtrade.domain.ledger import Split, fold, with_splits
from llmtrade.domain.reconciliation import LedgerView, managed_view, with_hands
from llmtrade.domain.trading import AccountSnapshot, Fill, OrderFilled, Position, Side

AT = datetime(2026, 1, 7, 15, tzinfo=UTC)


def _fill(cid: str, side: Side, qty: int, price: float, exact: str = "", minutes: int = 0) -> Fill:
    return Fill(
        client_order_id=cid,
        account_id="acct_1",
        symbol="AAPL",
        side=side,
        qty=qty,
        exact=exact,
        price=price,
        filled_at=AT + timedelta(minutes=minutes),
    )


def test_a_fill_carries_the_exact_shares_and_a_whole_one_is_recorded_as_before() -> None:
    assert _fill("a", Side.BUY, 0, 100.0, "0.5").shares() == Fraction(1, 2)
    assert _fill("b", Side.BUY, 2, 100.0, "2.25").shares() == Fraction(9, 4)
    with pytest.raises(ValidationError, match="not the whole shares"):
        _fill("c", Side.BUY, 1, 100.0, "2.25")
    with pytest.raises(ValidationError, match="greater than 0"):
        _fill("d", Side.BUY, 0, 100.0)
    with pytest.raises(ValidationError):
        _fill("e", Side.BUY, 2, 100.0, "2.0")  # whole shares are `qty`'s alone
    # A whole fill (llmtrade's, every backtest's) is recorded without the field, as before, and a record of that shape
    # reads: no upcast needed, no stored event of a backtest changed.
    whole = _fill("f", Side.BUY, 3, 100.0)
    payload = OrderFilled(fill=whole, broker="alpaca").model_dump(mode="json")
    assert "exact" not in payload["fill"]
    assert OrderFilled.model_validate(payload).fill == whole


def test_round_trips_by_hand_in_fractions_realise_on_their_exact_shares() -> None:
    hands = [
        _fill("a", Side.BUY, 0, 100.0, "0.5"),
        _fill("b", Side.SELL, 0, 150.0, "0.5", 1),
        _fill("c", Side.BUY, 2, 100.0, "2.25", 2),
        _fill("d", Side.SELL, 2, 150.0, "2.25", 3),
    ]
    assert with_hands(LedgerView(), hands, frozenset(), ()).hands_realized == 137.50  # not 100.00 (2 shares' worth)


def test_on_whole_shares_the_fold_by_hand_is_the_ledgers_to_the_bit() -> None:
    fills = [
        _fill("a", Side.BUY, 7, 101.37),
        _fill("b", Side.BUY, 3, 99.11, minutes=1),
        _fill("c", Side.SELL, 12, 104.03, minutes=3),  # through zero: 2 short
        _fill("d", Side.BUY, 5, 97.5, minutes=5),  # through zero again
        _fill("e", Side.SELL, 3, 98.25, minutes=7),
    ]
    split = Split("AAPL", AT + timedelta(minutes=4), Fraction(3, 2), 98.0)
    events = with_splits(fills, [split])
    assert realized_by_hand(events) == fold(events, 0.0).realized_pnl


def test_a_fraction_held_by_hand_beside_managed_shares_is_taken_out_of_the_equity() -> None:
    """10 AAPL of llmtrade's and 2.25 bought by hand, all at 100 and now at 110 (Alpaca: 12.25 shares, an unrealised
    122.50): the hand's 22.50 is taken out, not 2 whole shares' worth (20.00 at a price, 20.42 of the broker's mark)."""
    account = AccountSnapshot(
        account_id="acct_1",
        cash=98_775.0,
        equity=100_122.5,
        buying_power=98_775.0,
        positions={"AAPL": Position(symbol="AAPL", qty=12, avg_price=100.0)},
        fractions={"AAPL": 0.25},
        broker_pnl={"AAPL": 122.5},
    )
    ledger = LedgerView(own={"AAPL": 10})
    for prices in ({"AAPL": 110.0}, {}):  # priced by llmtrade's data, else at the broker's mark
        view = managed_view(account, ledger, prices)
        assert view.equity == 100_100.0
        assert view.positions["AAPL"].qty == 10
