"""The circuit breaker's halt and resume rules, and the realised P/L of closed trades it counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from llmtrade.config.models import CircuitBreaker
from llmtrade.domain.account_events import AccountHalted, AccountResumed
from llmtrade.domain.ledger import closed_trade_pnls, round_trips
from llmtrade.domain.trading import Fill, Side
from llmtrade.risk.breaker import (
    BreakerState,
    Transition,
    initial_state,
    manual_reset,
    observe_equity,
    observe_trade,
)

CONFIG = CircuitBreaker()  # 20% halt, 10 losses, 15% resume, 3 wins
START = 100_000.0


def _marks(state: BreakerState, *equities: float) -> tuple[BreakerState, list[Transition]]:
    """Feed equity marks in order; return the final state and every transition on the way."""
    seen = []
    for equity in equities:
        state, transition = observe_equity(state, equity, CONFIG)
        if transition is not None:
            seen.append(transition)
    return state, seen


def _trades(state: BreakerState, *pnls: float) -> tuple[BreakerState, list[Transition]]:
    seen = []
    for pnl in pnls:
        state, transition = observe_trade(state, pnl, CONFIG)
        if transition is not None:
            seen.append(transition)
    return state, seen


def _loss_halted() -> BreakerState:
    state, seen = _trades(initial_state("acct_1", START), *[-100.0] * 10)
    assert state.halted and [t.kind for t in seen] == ["halted"]
    return state


def _drawdown_halted() -> BreakerState:
    state, seen = _marks(initial_state("acct_1", START), 78_000.0)
    assert state.halted and [t.kind for t in seen] == ["halted"]
    return state


# ---------------------------------------------------------------- drawdown


def test_initial_state_is_running_with_the_starting_equity_as_peak() -> None:
    state = initial_state("acct_1", START)
    assert state == BreakerState(
        account_id="acct_1", halted=False, reason="", peak_equity=START, consecutive_losses=0, consecutive_wins=0
    )
    assert state.manual is False and state.halted_for is None


def test_a_drawdown_of_exactly_20_percent_does_not_halt() -> None:
    # The rule is "exceeds": at the limit itself the account keeps trading.
    state, transition = observe_equity(initial_state("acct_1", START), 80_000.0, CONFIG)
    assert transition is None
    assert state.halted is False


def test_a_drawdown_past_20_percent_halts_with_the_numbers_in_the_reason() -> None:
    state, transition = observe_equity(initial_state("acct_1", START), 78_700.0, CONFIG)
    assert transition is not None
    assert transition.kind == "halted"
    assert transition.reason == "drawdown 21.3% from peak 100,000.00 exceeds 20%"
    assert transition.drawdown == pytest.approx(0.213)  # 1 - 78,700 / 100,000
    assert (transition.peak, transition.equity) == (START, 78_700.0)
    assert state.halted is True
    assert state.halted_for == "drawdown"
    assert state.reason == transition.reason


def test_the_peak_follows_new_highs_and_the_drawdown_is_measured_from_it() -> None:
    state = initial_state("acct_1", START)
    state, seen = _marks(state, 120_000.0, 110_000.0)
    assert state.peak_equity == 120_000.0  # a lower mark never lowers the peak
    assert seen == []

    # 97,000 is only 3% below the start but 19.2% below the 120,000 peak: still within the limit.
    state, seen = _marks(state, 97_000.0)
    assert seen == [] and state.halted is False

    # 95,000 is 20.8% below the peak (1 - 95/120 = 0.2083): halted, though still 5% below the start.
    state, seen = _marks(state, 95_000.0)
    assert [t.kind for t in seen] == ["halted"]
    assert seen[0].reason == "drawdown 20.8% from peak 120,000.00 exceeds 20%"
    assert seen[0].drawdown == pytest.approx(1 - 95 / 120)


def test_a_halted_account_keeps_raising_its_peak() -> None:
    state = _drawdown_halted()
    state, _ = _marks(state, 130_000.0)
    assert state.peak_equity == 130_000.0


def test_a_drawdown_halt_resumes_below_15_percent_but_not_at_16_or_exactly_15() -> None:
    state = _drawdown_halted()  # 22% down from 100,000

    # Between the limits nothing changes: the gap keeps an account near 20% from flapping.
    state, seen = _marks(state, 84_000.0, 85_000.0)  # 16%, then exactly 15%
    assert seen == []
    assert state.halted is True

    state, transition = observe_equity(state, 86_000.0, CONFIG)  # 14%
    assert transition is not None
    assert transition.kind == "resumed"
    assert transition.reason == "drawdown 14.0% from peak 100,000.00 is back below 15%"
    assert transition.drawdown == pytest.approx(0.14)
    assert state.halted is False
    assert state.halted_for is None
    assert state.peak_equity == START  # resuming keeps the peak: falling past 20% again halts again


def test_a_running_account_below_the_resume_line_gets_no_transition() -> None:
    state, seen = _marks(initial_state("acct_1", START), 99_000.0, 90_000.0)
    assert seen == []
    assert state.halted is False


def test_a_drawdown_halt_is_not_lifted_by_wins() -> None:
    state, seen = _trades(_drawdown_halted(), 50.0, 60.0, 70.0, 80.0)
    assert seen == []
    assert state.halted is True
    assert state.consecutive_wins == 4


def test_a_drawdown_halt_restarts_the_win_count() -> None:
    # Wins count from the halt, so a streak that began before it must not carry over.
    state, _ = _trades(initial_state("acct_1", START), 10.0, 20.0)
    assert state.consecutive_wins == 2
    state, seen = _marks(state, 70_000.0)
    assert [t.kind for t in seen] == ["halted"]
    assert state.consecutive_wins == 0


# ---------------------------------------------------------------- losing streaks


def test_ten_consecutive_losses_halt_the_account_and_nine_do_not() -> None:
    state, seen = _trades(initial_state("acct_1", START), *[-100.0] * 9)
    assert seen == [] and state.halted is False
    assert state.consecutive_losses == 9

    state, transition = observe_trade(state, -250.0, CONFIG)
    assert transition is not None
    assert transition.kind == "halted"
    assert transition.reason == "10 consecutive losing trades (limit 10); last lost 250.00"
    assert (transition.drawdown, transition.peak, transition.equity) == (None, None, None)
    assert state.halted is True
    assert state.halted_for == "losses"


def test_a_win_between_losses_restarts_the_loss_count() -> None:
    state, seen = _trades(initial_state("acct_1", START), *[-100.0] * 9, 5.0, *[-100.0] * 9)
    assert seen == []
    assert state.consecutive_losses == 9

    state, seen = _trades(state, -100.0)
    assert [t.kind for t in seen] == ["halted"]


def test_a_break_even_trade_neither_extends_nor_breaks_a_streak() -> None:
    state, _ = _trades(initial_state("acct_1", START), *[-100.0] * 9, 0.0)
    assert (state.consecutive_losses, state.consecutive_wins) == (9, 0)

    state, seen = _trades(state, -100.0)  # the tenth loss, with an even trade in between
    assert [t.kind for t in seen] == ["halted"]

    state, _ = _trades(state, 10.0, 10.0, 0.0)
    assert (state.consecutive_losses, state.consecutive_wins) == (0, 2)
    assert state.halted is True


def test_three_wins_after_a_loss_halt_resume_it_and_two_do_not() -> None:
    state, seen = _trades(_loss_halted(), 10.0, 20.0)
    assert seen == [] and state.halted is True

    state, transition = observe_trade(state, 30.0, CONFIG)
    assert transition is not None
    assert transition.kind == "resumed"
    assert transition.reason == "3 consecutive winning trades since the halt"
    assert state.halted is False
    assert state.halted_for is None
    assert state.consecutive_losses == 0


def test_a_loss_during_the_win_streak_restarts_the_count_to_resume() -> None:
    state, seen = _trades(_loss_halted(), 10.0, 20.0, -5.0, 10.0, 20.0)
    assert seen == [] and state.halted is True

    state, seen = _trades(state, 30.0)
    assert [t.kind for t in seen] == ["resumed"]


def test_a_loss_halt_is_not_lifted_by_a_small_drawdown() -> None:
    # Without this, ten straight losses at a 3% drawdown would be undone by the next equity mark.
    state, seen = _marks(_loss_halted(), 97_000.0, 99_000.0)
    assert seen == []
    assert state.halted is True
    assert state.halted_for == "losses"


def test_a_loss_halted_account_whose_drawdown_passes_the_limit_is_halted_again_for_the_drawdown() -> None:
    state, transition = observe_equity(_loss_halted(), 75_000.0, CONFIG)
    assert transition is not None
    assert transition.kind == "halted"
    assert transition.reason == "drawdown 25.0% from peak 100,000.00 exceeds 20%"
    assert state.halted_for == "drawdown"

    # From now on it waits for the drawdown to recover: wins no longer resume it.
    state, seen = _trades(state, 10.0, 20.0, 30.0)
    assert seen == [] and state.halted is True

    state, seen = _marks(state, 90_000.0)
    assert [t.kind for t in seen] == ["resumed"]


def test_a_drawdown_halted_account_is_not_halted_again_by_more_drawdown_or_losses() -> None:
    state, seen = _marks(_drawdown_halted(), 60_000.0)
    assert seen == []
    state, seen = _trades(state, *[-10.0] * 12)
    assert seen == []
    assert state.halted_for == "drawdown"


def test_a_halt_of_unknown_cause_resumes_by_either_rule() -> None:
    # A state rebuilt from an AccountHalted event alone does not know which rule halted it.
    halted = BreakerState(
        account_id="acct_1",
        halted=True,
        reason="halted before causes were recorded",
        peak_equity=START,
        consecutive_losses=0,
        consecutive_wins=0,
    )
    _, seen = _marks(halted, 90_000.0)
    assert [t.kind for t in seen] == ["resumed"]
    _, seen = _trades(halted, 1.0, 1.0, 1.0)
    assert [t.kind for t in seen] == ["resumed"]


# ---------------------------------------------------------------- by hand


def test_manual_reset_resumes_and_restarts_the_peak_and_both_streaks() -> None:
    state, _ = _trades(initial_state("acct_1", START), *[-10.0] * 4)
    state, _ = _marks(state, 70_000.0)  # 30% down: halted
    assert state.halted is True

    state, transition = manual_reset(state, 70_000.0)
    assert state.halted is False
    assert state.manual is True
    assert state.reason == "reset by hand"
    assert state.peak_equity == 70_000.0
    assert (state.consecutive_losses, state.consecutive_wins) == (0, 0)
    assert state.halted_for is None
    # The transition keeps the numbers at the moment of the reset, against the peak it forgets.
    assert transition.kind == "resumed"
    assert transition.reason == "reset by hand"
    assert transition.peak == START
    assert transition.equity == 70_000.0
    assert transition.drawdown == pytest.approx(0.3)


def test_after_a_manual_reset_the_old_peak_cannot_halt_the_account_again() -> None:
    state, _ = _marks(initial_state("acct_1", START), 70_000.0)
    state, _ = manual_reset(state, 70_000.0)

    # 30% below the old peak but at the new one: still running.
    state, seen = _marks(state, 70_000.0, 60_000.0)  # 1 - 60/70 = 14.3% from the new peak
    assert seen == [] and state.halted is False
    assert state.manual is True

    # 55,000 is 21.4% below the new peak of 70,000: halted again, and no longer by a human's word.
    state, seen = _marks(state, 55_000.0)
    assert [t.reason for t in seen] == ["drawdown 21.4% from peak 70,000.00 exceeds 20%"]
    assert state.manual is False


def test_a_manual_reset_of_a_running_account_still_restarts_its_streaks() -> None:
    state, _ = _trades(initial_state("acct_1", START), *[-10.0] * 9)
    state, transition = manual_reset(state, 101_000.0)
    assert state.consecutive_losses == 0
    assert state.peak_equity == 101_000.0
    assert transition.drawdown == 0.0
    state, seen = _trades(state, -10.0)
    assert seen == [] and state.halted is False


# ---------------------------------------------------------------- records and guards


def test_a_transition_names_the_event_to_append() -> None:
    state, halt = observe_equity(initial_state("acct_1", START), 50_000.0, CONFIG)
    assert halt is not None
    assert halt.event() == AccountHalted(account_id="acct_1", reason="drawdown 50.0% from peak 100,000.00 exceeds 20%")
    _, resume = manual_reset(state, 50_000.0)
    assert resume.event() == AccountResumed(account_id="acct_1", reason="reset by hand")


def test_states_and_transitions_are_frozen() -> None:
    state, transition = manual_reset(initial_state("acct_1", START), START)
    with pytest.raises(ValueError):
        state.halted = True  # type: ignore[misc]
    with pytest.raises(ValueError):
        transition.kind = "halted"  # type: ignore[misc]


def test_the_breaker_honours_a_configured_limit() -> None:
    strict = CircuitBreaker(halt_drawdown_pct=0.175, resume_drawdown_pct=0.1, halt_consecutive_losses=2)
    _, transition = observe_equity(initial_state("acct_1", START), 82_000.0, strict)
    assert transition is not None
    assert transition.reason == "drawdown 18.0% from peak 100,000.00 exceeds 17.5%"
    state, _ = observe_trade(initial_state("acct_1", START), -1.0, strict)
    state, transition = observe_trade(state, -1.0, strict)
    assert transition is not None and state.halted is True


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_number_is_refused_rather_than_silently_never_halting(bad: float) -> None:
    state = initial_state("acct_1", START)
    with pytest.raises(ValueError, match="finite"):
        observe_equity(state, bad, CONFIG)
    with pytest.raises(ValueError, match="finite"):
        observe_trade(state, bad, CONFIG)
    with pytest.raises(ValueError, match="finite"):
        manual_reset(state, bad)
    with pytest.raises(ValueError, match="finite"):
        initial_state("acct_1", bad)


# ---------------------------------------------------------------- closed trades' P/L


T0 = datetime(2026, 1, 7, 14, 30, tzinfo=UTC)


def _fills(*specs: tuple[str, Side, int, float] | tuple[str, Side, int, float, float]) -> Sequence[Fill]:
    """Fills of acct_1 from (symbol, side, qty, price[, commission]), a minute apart, in order."""
    fills = []
    for n, spec in enumerate(specs):
        symbol, side, qty, price = spec[:4]
        commission = spec[4] if len(spec) == 5 else 0.0
        fills.append(
            Fill(
                client_order_id=f"o{n}",
                account_id="acct_1",
                symbol=symbol,
                side=side,
                qty=qty,
                price=price,
                commission=commission,
                filled_at=T0 + timedelta(minutes=n),
            )
        )
    return fills


BUY, SELL = Side.BUY, Side.SELL


def test_closed_trade_pnls_of_a_long_built_in_two_buys_and_closed_at_once() -> None:
    # Average cost (100 x 50 + 100 x 60) / 200 = 55; closing 200 at 58 makes 200 x 3 = 600.
    pnls = closed_trade_pnls(_fills(("SPY", BUY, 100, 50.0), ("SPY", BUY, 100, 60.0), ("SPY", SELL, 200, 58.0)))
    assert pnls == [600.0]


def test_a_partial_close_is_not_a_trade_until_the_position_is_flat() -> None:
    # 40 sold at 55 against a cost of 50 (+200), the other 60 at 45 (-300): one trade of -100.
    pnls = closed_trade_pnls(_fills(("SPY", BUY, 100, 50.0), ("SPY", SELL, 40, 55.0), ("SPY", SELL, 60, 45.0)))
    assert pnls == [-100.0]


def test_ten_one_share_resizes_are_no_trades_at_all() -> None:
    # A position trimmed and topped up a share at a time, each trim a hair below cost: the old
    # accounting counted ten losing trades; it is one position, still open, so no trade yet.
    specs: list[tuple[str, Side, int, float]] = [("SPY", BUY, 100, 50.0)]
    for _ in range(10):
        specs += [("SPY", SELL, 1, 49.97), ("SPY", BUY, 1, 50.03)]
    assert closed_trade_pnls(_fills(*specs)) == []
    trips = round_trips(_fills(*specs, ("SPY", SELL, 100, 51.0)))
    assert len(trips) == 1 and trips[0].fills == 22 and trips[0].direction == "LONG"


def test_closed_trade_pnls_of_shorts_gain_when_the_price_falls() -> None:
    # Short 50 at 100, cover at 90: 50 x 10 = +500. Short 10 at 20, cover at 25: 10 x -5 = -50.
    pnls = closed_trade_pnls(
        _fills(("TLT", SELL, 50, 100.0), ("TLT", BUY, 50, 90.0), ("GLD", SELL, 10, 20.0), ("GLD", BUY, 10, 25.0))
    )
    assert pnls == [500.0, -50.0]


def test_closed_trade_pnls_of_a_fill_crossing_through_zero() -> None:
    # Long 100 at 10, sell 150 at 12: closes the 100 for +200 and opens a 50 short at 12,
    # which is covered at 11 for 50 x 1 = +50.
    pnls = closed_trade_pnls(_fills(("QQQ", BUY, 100, 10.0), ("QQQ", SELL, 150, 12.0), ("QQQ", BUY, 50, 11.0)))
    assert pnls == [200.0, 50.0]


def test_a_trades_pnl_is_net_of_the_entry_commission_too() -> None:
    # Bought 100 at 10 (commission 1), sold at 10.50 (commission 1): 100 x 0.50 - 1 - 1 = 48. A
    # second round trip at the same price loses both its commissions.
    fills = _fills(
        ("SPY", BUY, 100, 10.0, 1.0),
        ("SPY", SELL, 100, 10.5, 1.0),
        ("SPY", BUY, 10, 20.0, 1.0),
        ("SPY", SELL, 10, 20.0, 1.0),
    )
    assert closed_trade_pnls(fills) == [48.0, -2.0]
    assert [t.commissions for t in round_trips(fills)] == [2.0, 2.0]


def test_a_crossing_fills_commission_is_shared_by_shares_between_the_two_trades() -> None:
    # 150 sold at 12 with commission 3: 100 shares close the long (+200 - 2), 50 open the short,
    # which carries the other 1 and is covered at 12 with commission 3: -1 - 3 = -4.
    fills = _fills(("QQQ", BUY, 100, 10.0), ("QQQ", SELL, 150, 12.0, 3.0), ("QQQ", BUY, 50, 12.0, 3.0))
    trips = round_trips(fills)
    assert [(t.direction, t.pnl) for t in trips] == [("LONG", 198.0), ("SHORT", -4.0)]


def test_closed_trade_pnls_track_each_symbol_and_account_on_its_own() -> None:
    fills = [
        *_fills(("AAA", BUY, 10, 10.0), ("BBB", SELL, 10, 50.0), ("AAA", SELL, 10, 11.0), ("BBB", BUY, 10, 52.0)),
        # Another account's sale of AAA closes nothing of acct_1's: it opens that account's short.
        Fill(
            client_order_id="other",
            account_id="acct_2",
            symbol="AAA",
            side=SELL,
            qty=5,
            price=12.0,
            filled_at=T0,
        ),
    ]
    assert closed_trade_pnls(fills) == [10.0, -20.0]


def test_closed_trade_pnls_ignore_opening_fills_and_are_empty_for_none() -> None:
    assert closed_trade_pnls([]) == []
    assert closed_trade_pnls(_fills(("SPY", BUY, 10, 10.0), ("SPY", BUY, 10, 12.0), ("TLT", SELL, 5, 90.0))) == []


def test_closed_trade_pnls_round_float_noise_to_an_even_trade() -> None:
    # The average cost of 3 at 0.70 and 7 at 0.10 is 0.28 on paper but 0.27999999999999997 in
    # floats; selling at 0.28 would otherwise realise 5.6e-16 and count as a win.
    pnls = closed_trade_pnls(_fills(("X", BUY, 3, 0.7), ("X", BUY, 7, 0.1), ("X", SELL, 10, 0.28)))
    assert pnls == [0.0]
    assert str(pnls[0]) == "0.0"  # not "-0.0"
