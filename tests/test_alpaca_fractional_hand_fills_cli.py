"""Fills by hand in a fraction of a share at Alpaca (its fractional trading: "0.5", "2.25"), in the account llmtrade
trades, through the command line (the real alpaca-py client against the loopback fake): their P/L is the user's, kept
out of the account's managed equity to the cent, and the audit log records what the broker filled, not its whole shares.

Before, a filled quantity was read as whole shares (`int("2.25")`): a 0.5-share fill was no fill at all and a 2.25-share
one a 2-share one, so the P/L of the fraction (all of a 0.5-share round trip's) stayed in the equity llmtrade called the
account's: its return, its week P/L, the checkpoint's valuation (the breaker's peak) and the next week's sizing."""

from __future__ import annotations

from datetime import datetime

from tests.fakes.by_hand import trade_by_hand
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    OPENED,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

NOON = "2026-01-07T12:00:00-05:00"


def _shown_same(before: dict, after: dict) -> None:
    assert (after["equity"], after["total_return"], after["week_pnl"]) == (
        before["equity"],
        before["total_return"],
        before["week_pnl"],
    )


def test_round_trips_by_hand_in_fractions_of_a_share_are_not_the_accounts_to_the_cent(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """0.5 and 2.25 AAPL bought by hand at 100 and sold at 150: the user's 25.00 + 112.50 is in Alpaca's cash, and in
    neither the account's equity, its return nor its week P/L (before: all 25.00 and the 12.50 of the quarter share
    were). The audit log's fills say 0.5 and 2.25, and so do the unknown fills reconciliation reports."""
    name = runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    runs.invoke(["run-weekly"], OPENED)
    before = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:00:00-05:00")

    ids = {}
    for qty in (0.5, 2.25):
        alpaca.server.set_price("AAPL", 100.0)
        ids[trade_by_hand(alpaca.server, "AAPL", qty)] = ("buy", qty, "100.00")
        alpaca.server.set_price("AAPL", 150.0)
        ids[trade_by_hand(alpaca.server, "AAPL", qty, side="sell")] = ("sell", qty, "150.00")
    after = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:45:00-05:00")
    assert round(after["cash"] - before["cash"], 2) == 137.50  # the broker's cash holds the user's gains
    _shown_same(before, after)

    runs.invoke(["checkpoint", "12:00"], NOON)  # records the fills and the differences
    recorded = [
        (t, e)
        for _, t, e in runs.events(name)
        if e.get("account_id", e.get("fill", {}).get("account_id")) == ALPACA_ACCOUNT
    ]
    fills = {e["fill"]["client_order_id"]: e["fill"] for t, e in recorded if t == "OrderFilled"}
    for cid, (side, qty, _) in ids.items():
        assert (fills[cid]["side"], fills[cid]["qty"], fills[cid]["exact"]) == (side, int(qty), f"{qty:g}")
    said = {
        e["difference"]["client_order_id"]: e["difference"]["detail"]
        for t, e in recorded
        if t == "ReconciliationDifferenceFound" and e["difference"]["kind"] == "unknown_fill"
    }
    for cid, (side, qty, price) in ids.items():
        assert said[cid].startswith(f"{side} {qty:g} AAPL at {price} "), said[cid]
    valued = [e["equity"] for t, e in recorded if t == "AccountValued" and e["occasion"].startswith("checkpoint")]
    assert valued == [before["equity"]]
    page = runs.invoke(["report", "--live", "-o", "-"], NOON)  # the audit log's fills say what the broker filled
    for cid, (side, qty, _) in ids.items():
        assert f'<td>{cid}</td><td>{side}</td><td class="n">{qty:g}</td>' in page


def test_a_fraction_of_a_share_held_by_hand_beyond_whole_ones_is_not_the_accounts_to_the_cent(
    runs: Runs,  # noqa: F811
    world,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """2.25 QQQ bought by hand 10.00 under its close and marked at the close: the user's 22.50 unrealised is in Alpaca's
    equity and not in the account's (before: the 2.50 of the quarter share was, as only whole shares were taken out)."""
    runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    runs.invoke(["run-weekly"], OPENED)
    before = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:00:00-05:00")

    close = world.closes["QQQ"]
    alpaca.server.set_price("QQQ", close - 10.0)
    trade_by_hand(alpaca.server, "QQQ", 2.25)
    alpaca.server.set_price("QQQ", close)  # the price llmtrade values QQQ at: the broker's mark and its agree
    after = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:45:00-05:00")
    kinds = {d["difference"]["kind"] for d in after["differences"]}
    assert kinds == {"unknown_fill", "unmanaged_position", "fractional_shares"}, after["differences"]
    _shown_same(before, after)
