"""The risk gate's portfolio-level limits value the account's other positions at their marks: a mark that is a last
close more than risk/stale.py STALE_AFTER sessions old (a quiet symbol: no trade of it on its feed since) is counted
the careful way (risk/stale.py `StaleMarks`): its gain over cost is left out of the equity every budget is a fraction
of, and its exposure in its asset class is its shares at the larger of mark and cost. Said in the verdict (a
RiskAdjustment stale_price when the size changes), as RiskChecked records it. The limits: 20% a position, 30% a class.
"""

from __future__ import annotations

from datetime import date

import pytest

from llmtrade.config.loader import load_config
from llmtrade.config.models import Config
from llmtrade.domain.market import PriceAge
from llmtrade.risk.stale import STALE_AFTER, STALE_PRICE
from tests.test_risk_gate import _account, _check, _intent


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_config(None).config


def _age(symbol: str, sessions: int) -> PriceAge:
    return PriceAge(symbol=symbol, day=date(2026, 1, 5), session=date(2026, 1, 5 + sessions), sessions=sessions)


def test_a_stale_low_mark_makes_no_room_in_its_class(cfg: Config) -> None:
    """500 SPY bought at 40, marked at a close of 30 four sessions old: valued at 30 the class had room for 300 QQQ
    (30000 - 15000); at its cost, the larger, 200 (30000 - 20000)."""
    account = _account(equity=100_000.0, positions={"SPY": (500, 40.0)})
    intent = _intent("QQQ", "LONG", 2)
    stale = {"SPY": _age("SPY", STALE_AFTER + 2)}
    verdict = _check(cfg, intent, account, 50.0, prices={"SPY": 30.0}, mark_ages=stale)
    assert verdict.approved and verdict.target_qty == 200, verdict
    cut = verdict.adjustments[-1]
    assert (cut.rule, cut.before_qty, cut.after_qty) == (STALE_PRICE, 300, 200), verdict.adjustments
    assert "SPY (+500) is marked at its last close 30.00 of 2026-01-05, 4 sessions before" in verdict.reason
    assert "counted at cost 40.00" in cut.detail and "+300 at the marks as they are -> +200" in cut.detail
    # A mark of the last two sessions counts as it did.
    recent = _check(cfg, intent, account, 50.0, prices={"SPY": 30.0}, mark_ages={"SPY": _age("SPY", STALE_AFTER)})
    assert recent == _check(cfg, intent, account, 50.0, prices={"SPY": 30.0}) and recent.target_qty == 300


def test_a_stale_high_marks_gain_lends_no_budget_and_a_short_counts_its_higher_cost(cfg: Config) -> None:
    """300 TLT bought at 90, marked at a stale 120: its 9000 gain made the equity 100000, and the SPY budget 400
    shares; without it, 91000: 364. A short of 500 SPY at 40 marked at a stale 30: its 5000 gain is left out too
    (equity 95000, the class 28500) and it counts 40 a share in the class (20000): room for 170 QQQ, not 300."""
    account = _account(equity=100_000.0, positions={"TLT": (300, 90.0)})
    verdict = _check(
        cfg, _intent("SPY", "LONG", 2), account, 50.0, prices={"TLT": 120.0}, mark_ages={"TLT": _age("TLT", 5)}
    )
    assert verdict.approved and verdict.target_qty == 364, verdict
    assert [(a.rule, a.before_qty, a.after_qty) for a in verdict.adjustments] == [(STALE_PRICE, 400, 364)]
    short = _account(equity=100_000.0, positions={"SPY": (-500, 40.0)})
    cut = _check(cfg, _intent("QQQ", "LONG", 2), short, 50.0, prices={"SPY": 30.0}, mark_ages={"SPY": _age("SPY", 3)})
    assert cut.target_qty == 170 and cut.adjustments[-1].rule == STALE_PRICE


def test_a_stale_mark_that_changes_no_size_is_said_and_a_close_is_untouched(cfg: Config) -> None:
    account = _account(equity=100_000.0, positions={"TLT": (300, 90.0), "SPY": (100, 50.0)})
    ages = {"TLT": _age("TLT", 4)}
    # A stale low mark in another class: no gain to leave out, no room taken from SPY's class.
    verdict = _check(cfg, _intent("QQQ", "LONG", 1), account, 50.0, prices={"TLT": 80.0}, mark_ages=ages)
    assert verdict.target_qty == 200 and [a.rule for a in verdict.adjustments] == []
    assert f"{STALE_PRICE}: TLT (+300) is marked at its last close 80.00" in verdict.reason
    closed = _check(cfg, _intent("SPY", "FLAT", 0), account, 50.0, prices={"TLT": 80.0}, mark_ages=ages)
    assert closed.approved and closed.target_qty == 0 and STALE_PRICE not in closed.reason
    # The instrument's own mark is its price's age (`age`), not another position's.
    own = _check(cfg, _intent("SPY", "LONG", 1), account, 50.0, prices={"SPY": 50.0}, mark_ages={"SPY": _age("SPY", 4)})
    assert STALE_PRICE not in own.reason


def test_a_kept_position_whose_prices_ended_counts_in_its_class_at_the_larger_of_cost_and_last_close(
    cfg: Config,
) -> None:
    """The week's roll keeps 500 SPY whose prices ended (no close of it to sell at: workflows/roll_sizing.py), bought at
    40, last close 50: sized from its cost, the equity class had room for 200 QQQ (30000 - 20000); at its last close,
    the larger, 100 (30000 - 25000). Its equity already counts the lower of the two (`after_roll`): nothing more is
    left out of it. A last close below cost counts at cost, as before."""
    account = _account(equity=100_000.0, positions={"SPY": (500, 40.0)})
    intent = _intent("QQQ", "LONG", 2)
    verdict = _check(cfg, intent, account, 50.0, prices={}, ended_closes={"SPY": 50.0})
    assert verdict.approved and verdict.target_qty == 100, verdict
    cut = verdict.adjustments[-1]
    assert (cut.rule, cut.before_qty, cut.after_qty) == (STALE_PRICE, 200, 100), verdict.adjustments
    assert "SPY (+500) is valued at its last close 50.00, its prices ended" in verdict.reason
    assert "+200 at the marks as they are -> +100" in cut.detail
    fell = _check(cfg, intent, account, 50.0, prices={}, ended_closes={"SPY": 30.0})
    assert fell.target_qty == 200 and STALE_PRICE not in fell.reason, fell
    # A position with a mark in `prices` is counted at that mark; the instrument's own is its price.
    assert _check(cfg, intent, account, 50.0, prices={"SPY": 40.0}, ended_closes={"SPY": 50.0}).target_qty == 200


def test_a_position_at_cost_whose_prices_ended_below_it_lends_no_loss_to_equity(cfg: Config) -> None:
    """A checkpoint's account counts 500 SPY whose prices ended at its cost 40 (`at_cost`: no price now), its last
    close 30: its 5000 loss to that close is left in equity (95000), so a conviction-2 TLT at 50 is 380, not 400. The
    week's roll already counts it at the lower (`after_roll`: not at cost then): nothing more is taken."""
    account = _account(equity=100_000.0, positions={"SPY": (500, 40.0)}).model_copy(update={"at_cost": ["SPY"]})
    intent = _intent("TLT", "LONG", 2)
    verdict = _check(cfg, intent, account, 50.0, prices={}, ended_closes={"SPY": 30.0})
    assert verdict.approved and verdict.target_qty == 380, verdict
    assert [(a.rule, a.before_qty, a.after_qty) for a in verdict.adjustments] == [(STALE_PRICE, 400, 380)]
    assert "SPY (+500) is valued at its last close 30.00, its prices ended" in verdict.reason
    rolled = account.model_copy(update={"at_cost": [], "equity": 95_000.0})
    assert _check(cfg, intent, rolled, 50.0, prices={}, ended_closes={"SPY": 30.0}).target_qty == 380
