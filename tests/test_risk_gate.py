"""The risk gate: conviction sizing, the hard limits, and rejections that never move a position."""

from __future__ import annotations

import random
from datetime import date
from typing import Literal

import pytest

from llmtrade.config.loader import load_config
from llmtrade.config.models import AssetsConfig, Config, RiskConfig
from llmtrade.domain.market import PriceAge
from llmtrade.domain.trading import AccountSnapshot, Order, Position, RiskVerdict, Side, TradeIntent
from llmtrade.risk import gate
from llmtrade.risk.halt import may_send
from llmtrade.risk.stale import STALE_AFTER, STALE_PRICE


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_config(None).config


def _account(
    equity: float = 100_000.0,
    cash: float | None = None,
    buying_power: float | None = None,
    positions: dict[str, tuple[int, float]] | None = None,
) -> AccountSnapshot:
    return AccountSnapshot(
        account_id="pm-a",
        cash=equity if cash is None else cash,
        equity=equity,
        buying_power=2 * equity if buying_power is None else buying_power,
        positions={s: Position(symbol=s, qty=q, avg_price=p) for s, (q, p) in (positions or {}).items()},
    )


def _intent(instrument: str, direction: Literal["LONG", "SHORT", "FLAT"], conviction: int) -> TradeIntent:
    return TradeIntent(
        account_id="pm-a", instrument=instrument, direction=direction, conviction=conviction, source="pitch:1"
    )


def _check(
    cfg: Config,
    intent: TradeIntent,
    account: AccountSnapshot,
    price: float = 50.0,
    *,
    assets: AssetsConfig | None = None,
    risk: RiskConfig | None = None,
    prices: dict[str, float] | None = None,
    **flags: object,
) -> RiskVerdict:
    return gate.check(
        intent,
        account,
        price,
        assets=assets or cfg.assets,
        risk=risk or cfg.risk,
        prices=prices or {},
        **flags,  # type: ignore[arg-type]
    )


def _with_limits(cfg: Config, **limits: object) -> RiskConfig:
    return cfg.risk.model_copy(update={"limits": cfg.risk.limits.model_copy(update=limits)})


def _not_shortable(cfg: Config, symbol: str) -> AssetsConfig:
    universe = [i.model_copy(update={"shortable": False}) if i.symbol == symbol else i for i in cfg.assets.universe]
    return cfg.assets.model_copy(update={"universe": universe})


# ---------------------------------------------------------------- sizing


def test_conviction_two_takes_the_full_position_limit_and_one_half_in_whole_shares(cfg: Config) -> None:
    account = _account(equity=100_000.0)
    full = _check(cfg, _intent("SPY", "LONG", 2), account, 50.0)
    half = _check(cfg, _intent("SPY", "LONG", 1), account, 50.0)
    assert (full.approved, full.target_qty, full.adjustments) == (True, 400, [])
    assert (half.approved, half.target_qty, half.adjustments) == (True, 200, [])
    assert full.price == 50.0

    # Shorts size the same way, signed negative; a price that does not divide evenly floors.
    assert _check(cfg, _intent("SPY", "SHORT", 2), account, 50.0).target_qty == -400
    assert _check(cfg, _intent("SPY", "SHORT", -1), account, 50.0).target_qty == -200
    assert _check(cfg, _intent("SPY", "LONG", 2), account, 30.0).target_qty == 666  # 20000 / 30 = 666.67


def test_larger_conviction_never_gives_a_smaller_position_and_never_breaks_the_position_limit(cfg: Config) -> None:
    rng = random.Random(20240607)
    symbols = cfg.assets.symbols
    for _ in range(3000):
        equity = rng.choice([500.0, 10_000.0, 100_000.0, 1_234_567.0]) * rng.uniform(0.1, 3.0)
        price = rng.choice([0.5, 7.3, 50.0, 412.9, 5_000.0]) * rng.uniform(0.5, 2.0)
        cash = equity * rng.uniform(-0.2, 1.2)
        buying_power = equity * rng.uniform(0.0, 2.5)
        held = rng.sample(symbols, rng.randint(0, 6))
        positions = {s: (rng.choice([-1, 1]) * rng.randint(1, 500), rng.uniform(1.0, 300.0)) for s in held}
        prices = {s: rng.uniform(1.0, 300.0) for s in held if rng.random() < 0.7}
        account = _account(equity=equity, cash=cash, buying_power=buying_power, positions=positions)
        symbol = rng.choice(symbols)
        current = positions[symbol][0] if symbol in positions else 0
        for direction in ("LONG", "SHORT"):
            strong = _check(cfg, _intent(symbol, direction, 2), account, price, prices=prices)
            weak = _check(cfg, _intent(symbol, direction, 1), account, price, prices=prices)
            assert abs(strong.target_qty) >= abs(weak.target_qty), (strong, weak)
            for verdict in (strong, weak):
                if verdict.approved:
                    assert abs(verdict.target_qty) * price <= 0.20 * equity + 1e-6
                else:
                    assert verdict.target_qty == current


# ---------------------------------------------------------------- clamping limits


def test_asset_class_limit_clamps_an_oversized_intent_to_the_room_left(cfg: Config) -> None:
    # 25% already in SPY (equity): QQQ may take only the remaining 5% of the 30% class limit.
    account = _account(equity=100_000.0, positions={"SPY": (500, 40.0)})
    verdict = _check(cfg, _intent("QQQ", "LONG", 2), account, 50.0, prices={"SPY": 50.0})
    assert verdict.approved and verdict.target_qty == 100
    [adjustment] = verdict.adjustments
    assert (adjustment.rule, adjustment.before_qty, adjustment.after_qty) == ("max_asset_class_pct", 400, 100)
    assert "25000.00" in adjustment.detail and "30000.00" in adjustment.detail and "5000.00" in adjustment.detail
    assert "max_asset_class_pct" in verdict.reason


def test_asset_class_exposure_falls_back_to_avg_price_and_counts_shorts_gross(cfg: Config) -> None:
    # No price for SPY: valued at its average price 50, and a short uses up the room like a long.
    account = _account(equity=100_000.0, positions={"SPY": (-500, 50.0), "TLT": (300, 90.0)})
    verdict = _check(cfg, _intent("IWM", "LONG", 2), account, 50.0, prices={})
    assert verdict.target_qty == 100
    assert verdict.adjustments[0].rule == "max_asset_class_pct"


def test_asset_class_limit_ignores_other_classes(cfg: Config) -> None:
    account = _account(equity=100_000.0, positions={"TLT": (300, 90.0), "GLD": (100, 180.0)})
    assert _check(cfg, _intent("SPY", "LONG", 2), account, 50.0).target_qty == 400


def test_a_full_asset_class_clamps_to_zero_approved_with_a_reason(cfg: Config) -> None:
    account = _account(equity=100_000.0, positions={"SPY": (300, 50.0), "QQQ": (300, 50.0)})
    verdict = _check(cfg, _intent("IWM", "SHORT", 2), account, 50.0, prices={"SPY": 50.0, "QQQ": 50.0})
    assert verdict.approved and verdict.target_qty == 0
    assert "clamped to zero" in verdict.reason and "max_asset_class_pct" in verdict.reason
    assert [(a.rule, a.before_qty, a.after_qty) for a in verdict.adjustments] == [("max_asset_class_pct", 400, 0)]


def test_little_cash_clamps_a_long_by_the_cash_rule(cfg: Config) -> None:
    account = _account(equity=100_000.0, cash=5_010.0)
    verdict = _check(cfg, _intent("SPY", "LONG", 2), account, 50.0)
    assert verdict.approved and verdict.target_qty == 100
    [adjustment] = verdict.adjustments
    assert (adjustment.rule, adjustment.before_qty, adjustment.after_qty) == ("cash", 400, 100)
    assert "20000.00" in adjustment.detail and "5010.00" in adjustment.detail


def test_cash_counts_only_shares_bought_beyond_an_existing_long(cfg: Config) -> None:
    account = _account(equity=100_000.0, cash=2_500.0, positions={"SPY": (300, 45.0)})
    verdict = _check(cfg, _intent("SPY", "LONG", 2), account, 50.0, prices={"SPY": 50.0})
    assert verdict.target_qty == 350  # 300 held + 2500 / 50
    assert [(a.rule, a.before_qty, a.after_qty) for a in verdict.adjustments] == [("cash", 400, 350)]
    # Shrinking a long costs no cash at all.
    assert _check(cfg, _intent("SPY", "LONG", 1), account, 50.0).target_qty == 200


def test_no_cash_clamps_a_long_to_zero_but_is_still_approved(cfg: Config) -> None:
    verdict = _check(cfg, _intent("SPY", "LONG", 2), _account(cash=-100.0), 50.0)
    assert verdict.approved and verdict.target_qty == 0
    assert "clamped to zero by cash" in verdict.reason


def test_little_buying_power_clamps_a_short_by_the_buying_power_rule(cfg: Config) -> None:
    account = _account(equity=100_000.0, buying_power=3_000.0, positions={"SPY": (-20, 50.0)})
    verdict = _check(cfg, _intent("SPY", "SHORT", 2), account, 50.0, prices={"SPY": 50.0})
    assert verdict.target_qty == -80  # 20 already short + 3000 / 50 more
    [adjustment] = verdict.adjustments
    assert (adjustment.rule, adjustment.before_qty, adjustment.after_qty) == ("buying_power", 400, 80)
    assert "3000.00" in adjustment.detail


def test_a_share_dearer_than_the_budget_sizes_to_zero_with_a_reason(cfg: Config) -> None:
    verdict = _check(cfg, _intent("SPY", "LONG", 1), _account(equity=10_000.0), 1_500.0)
    assert verdict.approved and verdict.target_qty == 0 and verdict.adjustments == []
    assert "clamped to zero" in verdict.reason and "1000.00" in verdict.reason


# ---------------------------------------------------------------- open positions


def _ten_positions(cfg: Config) -> dict[str, tuple[int, float]]:
    return {s: (1, 10.0) for s in cfg.assets.symbols[:10]}


def test_max_open_positions_rejects_an_eleventh_position(cfg: Config) -> None:
    positions = _ten_positions(cfg)
    eleventh = cfg.assets.symbols[10]
    verdict = _check(cfg, _intent(eleventh, "LONG", 2), _account(positions=positions), 50.0)
    assert not verdict.approved and verdict.target_qty == 0
    assert verdict.reason.startswith("max_open_positions:")


def test_max_open_positions_allows_resizing_a_held_position(cfg: Config) -> None:
    positions = _ten_positions(cfg)
    held = cfg.assets.symbols[9]
    verdict = _check(cfg, _intent(held, "LONG", 1), _account(positions=positions), 50.0)
    assert verdict.approved and verdict.target_qty == 200


def test_max_open_positions_follows_the_configured_limit(cfg: Config) -> None:
    risk = _with_limits(cfg, max_open_positions=2)
    account = _account(positions={"TLT": (10, 90.0), "GLD": (10, 180.0)})
    assert not _check(cfg, _intent("SPY", "LONG", 2), account, 50.0, risk=risk).approved
    assert _check(cfg, _intent("SPY", "LONG", 2), _account(positions={"TLT": (10, 90.0)}), 50.0, risk=risk).approved


# ---------------------------------------------------------------- rejections


def test_short_on_an_instrument_configured_not_shortable_is_rejected_and_position_unchanged(cfg: Config) -> None:
    account = _account(positions={"USO": (120, 70.0)})
    verdict = _check(cfg, _intent("USO", "SHORT", 2), account, 70.0, assets=_not_shortable(cfg, "USO"))
    assert not verdict.approved and verdict.target_qty == 120
    assert verdict.reason.startswith("shortable:") and "configured as not shortable" in verdict.reason


def test_short_the_broker_cannot_borrow_is_rejected_and_position_unchanged(cfg: Config) -> None:
    account = _account(positions={"HYG": (-30, 77.0)})
    verdict = _check(cfg, _intent("HYG", "SHORT", 2), account, 77.0, broker_shortable=False)
    assert not verdict.approved and verdict.target_qty == -30
    assert verdict.reason.startswith("shortable:") and "broker" in verdict.reason
    # The same broker answer does not stop a long.
    assert _check(cfg, _intent("HYG", "LONG", 1), account, 77.0, broker_shortable=False).approved


def test_allow_short_false_rejects_shorts(cfg: Config) -> None:
    risk = _with_limits(cfg, allow_short=False)
    verdict = _check(cfg, _intent("SPY", "SHORT", 1), _account(), 50.0, risk=risk)
    assert not verdict.approved and verdict.target_qty == 0
    assert verdict.reason.startswith("shortable:") and "do not allow short" in verdict.reason
    assert _check(cfg, _intent("SPY", "LONG", 1), _account(), 50.0, risk=risk).target_qty == 200


HALT = {"halted": True, "halt_reason": "10 consecutive losing trades"}


def test_a_halted_account_may_close_or_reduce_what_it_holds(cfg: Config) -> None:
    account = _account(positions={"SPY": (150, 50.0)})
    exit_ = _check(cfg, _intent("SPY", "FLAT", 0), account, 50.0, **HALT)
    assert exit_.approved and exit_.target_qty == 0 and exit_.shadow_qty == 0
    assert "halted (10 consecutive losing trades)" in exit_.reason
    smaller = _check(cfg, _intent("SPY", "LONG", 1), account, 50.0, **HALT)  # conviction 1 sizes 200, held 150
    assert smaller.approved and smaller.target_qty == 150 and smaller.shadow_qty == 200
    assert smaller.adjustments[-1].rule == "circuit_breaker"
    small = _check(cfg, _intent("SPY", "LONG", 1), _account(positions={"SPY": (300, 50.0)}), 50.0, **HALT)
    assert small.approved and small.target_qty == 200  # cut from 300 to the gate's 200: a reduce goes


def test_a_halted_account_never_opens_adds_or_takes_a_side_changes_open_leg(cfg: Config) -> None:
    flat = _account()
    opened = _check(cfg, _intent("SPY", "LONG", 2), flat, 50.0, **HALT)
    assert not opened.approved and opened.target_qty == 0 and opened.shadow_qty == 400
    assert opened.reason.startswith("circuit_breaker:") and "10 consecutive losing trades" in opened.reason
    held = _account(positions={"SPY": (150, 50.0)})
    added = _check(cfg, _intent("SPY", "LONG", 2), held, 50.0, **HALT)
    assert added.target_qty == 150 and added.shadow_qty == 400  # held, not added to
    flipped = _check(cfg, _intent("SPY", "SHORT", 2), held, 50.0, **HALT)
    assert flipped.approved and flipped.target_qty == 0 and flipped.shadow_qty == -400  # the close only
    other = _check(cfg, _intent("QQQ", "SHORT", 1), held, 50.0, **HALT)
    assert not other.approved and other.target_qty == 0


def test_a_halted_accounts_shadow_trade_is_not_sized_off_a_suspect_price(cfg: Config) -> None:
    # SPY's last close jumped to 2.5x (a bad row not confirmed yet): a running account opens nothing off it, and the
    # halted account's what-if trade is not worked out from it either, said in the verdict.
    flat, held = _account(), _account(positions={"SPY": (150, 50.0)})
    opened = _check(cfg, _intent("SPY", "LONG", 2), flat, 125.0, suspect="unconfirmed", **HALT)
    assert not opened.approved and opened.target_qty == 0 and opened.shadow_qty is None
    assert "its shadow trade is not sized either (+160 would be worked out from it)" in opened.reason
    assert gate.SUSPECT_PRICE in opened.reason
    kept = _check(cfg, _intent("SPY", "LONG", 1), held, 125.0, suspect="unconfirmed", **HALT)
    assert kept.target_qty == 150 and kept.shadow_qty is None and "shadow trade is not sized" in kept.reason
    # A shadow close needs no price, as a real one: it stands.
    closed = _check(cfg, _intent("SPY", "FLAT", 0), held, 125.0, suspect="unconfirmed", **HALT)
    assert closed.target_qty == 0 and closed.shadow_qty == 0 and "shadow" not in closed.reason
    # Another symbol's suspect close the account is valued at: the same.
    other = _check(cfg, _intent("QQQ", "LONG", 2), held, 50.0, suspect_held={"SPY": "unconfirmed"}, **HALT)
    assert other.shadow_qty is None and "shadow trade is not sized" in other.reason


def test_a_running_account_has_no_shadow(cfg: Config) -> None:
    assert _check(cfg, _intent("SPY", "LONG", 2), _account(), 50.0).shadow_qty is None


def test_the_halt_decision_is_a_function_of_the_order_and_the_position() -> None:
    def order(side: Side, qty: int) -> Order:
        return Order(
            client_order_id="x", account_id="a", week_id=date(2026, 1, 5), symbol="SPY", side=side, qty=qty, intent="x"
        )

    assert may_send(order(Side.SELL, 10), 10)  # an EXIT
    assert may_send(order(Side.SELL, 4), 10)  # a REDUCE
    assert may_send(order(Side.BUY, 10), -10)  # covering a short
    assert not may_send(order(Side.SELL, 16), 10)  # through zero: the open leg of a flip
    assert not may_send(order(Side.BUY, 1), 10)  # an add
    assert not may_send(order(Side.BUY, 1), 0)  # an open
    assert not may_send(order(Side.SELL, 1), -10)  # adding to a short


def test_an_instrument_outside_the_universe_is_rejected(cfg: Config) -> None:
    verdict = _check(cfg, _intent("TSLA", "LONG", 2), _account(), 50.0)
    assert not verdict.approved and verdict.target_qty == 0
    assert verdict.reason.startswith("universe:") and "TSLA" in verdict.reason


def test_a_halted_accounts_close_outside_the_universe_closes_its_shadow_too(cfg: Config) -> None:
    """Held though out of the universe, a halted account's close goes through (risk-reducing) and its shadow book, the
    halt's cost, closes too: it kept the position, counting a cost on shares neither book held. A position kept is left
    to the shadow book's own quantity (None), not set to the real one."""
    account = _account(positions={"TSLA": (30, 200.0)})
    halted = {"halted": True, "halt_reason": "drawdown 10%"}
    closed = _check(cfg, _intent("TSLA", "FLAT", 0), account, 210.0, **halted)
    assert closed.approved and closed.target_qty == 0 and closed.shadow_qty == 0, closed
    flipped = _check(cfg, _intent("TSLA", "SHORT", -2), account, 210.0, **halted)
    assert flipped.target_qty == 0 and flipped.shadow_qty == 0, flipped  # the close of a side change, no open
    kept = _check(cfg, _intent("TSLA", "LONG", 2), account, 210.0, **halted)
    assert kept.target_qty == 30 and kept.shadow_qty is None, kept
    assert _check(cfg, _intent("TSLA", "FLAT", 0), account, 210.0).shadow_qty is None  # not halted: no shadow


def test_a_price_that_is_not_positive_is_rejected(cfg: Config) -> None:
    account = _account(positions={"SPY": (10, 50.0)})
    for price in (0.0, -5.0, float("nan")):
        verdict = _check(cfg, _intent("SPY", "LONG", 2), account, price)
        assert not verdict.approved and verdict.target_qty == 10 and verdict.reason.startswith("price:")


def test_equity_that_is_not_positive_is_rejected(cfg: Config) -> None:
    account = _account(equity=0.0, cash=0.0, positions={"SPY": (10, 50.0)})
    verdict = _check(cfg, _intent("SPY", "LONG", 2), account, 50.0)
    assert not verdict.approved and verdict.target_qty == 10 and verdict.reason.startswith("equity:")


# ---------------------------------------------------------------- closing


def test_flat_closes_the_position(cfg: Config) -> None:
    account = _account(positions={"GLD": (-40, 180.0)})
    for intent in (_intent("GLD", "FLAT", 0), _intent("GLD", "FLAT", 2), _intent("GLD", "LONG", 0)):
        verdict = _check(cfg, intent, account, 185.0)
        assert verdict.approved and verdict.target_qty == 0 and verdict.adjustments == []
        assert verdict.reason.startswith("flat:")


def test_the_gates_reasons_say_one_share_not_one_shares(cfg: Config) -> None:
    # A conviction-1 budget that buys one share (half the position limit: 10,000 of 20,000, at 9,999 a share), then the
    # cash rule leaving room for one: both said in the singular, as `events` and the report show the stored reasons.
    sized_one = _check(cfg, _intent("SPY", "LONG", 1), _account(equity=100_000.0), 9_999.0)
    assert sized_one.target_qty == 1 and "sizes 1 share " in sized_one.reason, sized_one.reason
    cash_one = _check(cfg, _intent("SPY", "LONG", 2), _account(equity=100_000.0, cash=60.0), 50.0)
    [adjustment] = cash_one.adjustments
    assert adjustment.after_qty == 1 and "at most 1 share (holding 0 long)" in adjustment.detail, adjustment.detail
    assert "1 shares" not in sized_one.reason + cash_one.reason + adjustment.detail


# ---------------------------------------------------------------- a price not traded at for sessions


def _age(sessions: int) -> PriceAge:
    """SPY's last close is of 2026-01-05; `sessions` sessions after it have no bar of it (the feed saw no trade)."""
    return PriceAge(symbol="SPY", day=date(2026, 1, 5), session=date(2026, 1, 5 + sessions), sessions=sessions)


def test_a_close_older_than_the_bound_opens_and_adds_nothing_and_says_why(cfg: Config) -> None:
    """A quiet symbol (a thin name on IEX, a halt) is priced at its last close up to 10 sessions old
    (market/untraded.py QUIET_TAIL): the gate sized an open off it as off today's, at a price nobody traded at for
    days. Past STALE_AFTER sessions, no open or add is sized off it: refused from flat, held when adding."""
    stale = _age(STALE_AFTER + 1)
    opened = _check(cfg, _intent("SPY", "LONG", 2), _account(), 50.0, age=stale)
    assert not opened.approved and opened.target_qty == 0
    assert opened.reason.startswith(f"{STALE_PRICE}:"), opened.reason
    assert "2026-01-05" in opened.reason and f"{STALE_AFTER + 1} sessions" in opened.reason
    held = _account(positions={"SPY": (150, 50.0)})
    added = _check(cfg, _intent("SPY", "LONG", 2), held, 50.0, age=stale)  # conviction 2 sizes 400
    assert added.approved and added.target_qty == 150 and added.adjustments[-1].rule == STALE_PRICE
    flipped = _check(cfg, _intent("SPY", "SHORT", 2), held, 50.0, age=stale)
    assert flipped.approved and flipped.target_qty == 0  # the close of a side change goes, not its open
    short = _check(cfg, _intent("SPY", "SHORT", 1), _account(), 50.0, age=stale)
    assert not short.approved and short.target_qty == 0


def test_a_stale_close_still_closes_and_reduces_and_a_recent_one_sizes_as_before(cfg: Config) -> None:
    held = _account(positions={"SPY": (300, 50.0)})
    stale = _age(STALE_AFTER + 1)
    closed = _check(cfg, _intent("SPY", "FLAT", 0), held, 50.0, age=stale)
    assert closed.approved and closed.target_qty == 0
    cut = _check(cfg, _intent("SPY", "LONG", 1), held, 50.0, age=stale)  # conviction 1 sizes 200: a reduce
    assert cut.approved and cut.target_qty == 200
    # Within the bound (a thin name's quiet Thursday and Friday): sized as a close of the last session is.
    fresh = _check(cfg, _intent("SPY", "LONG", 2), _account(), 50.0)
    recent = _check(cfg, _intent("SPY", "LONG", 2), _account(), 50.0, age=_age(STALE_AFTER))
    assert recent == fresh and recent.target_qty == 400


def test_a_halted_accounts_shadow_opens_nothing_off_a_stale_close_either(cfg: Config) -> None:
    opened = _check(cfg, _intent("SPY", "LONG", 2), _account(), 50.0, age=_age(STALE_AFTER + 1), **HALT)
    assert not opened.approved and opened.target_qty == 0 and opened.shadow_qty == 0


def test_a_snapshots_quiet_symbol_has_its_closes_age_and_a_traded_one_none() -> None:
    """What the week's gate is given (workflows/week_gate.py): the snapshot's sessions after a symbol's last bar."""
    from datetime import UTC, datetime

    from llmtrade.domain.research import MarketSnapshot
    from llmtrade.market.indicators import indicators_of
    from llmtrade.market.snapshot import price_age
    from tests.market_series import good_bars

    spy, thin = good_bars("SPY"), good_bars("TLT")[:-3]  # TLT: no bar of the last 3 sessions
    snapshot = MarketSnapshot(
        asof=datetime(2026, 1, 10, tzinfo=UTC),
        session=spy[-1].day,
        source="test",
        synthetic=False,
        indicators={"SPY": indicators_of(spy, spy), "TLT": indicators_of(thin, spy)},
    )
    assert price_age(snapshot, "SPY") is None
    assert price_age(snapshot, "TLT") == PriceAge(symbol="TLT", day=thin[-1].day, session=spy[-1].day, sessions=3)
    assert price_age(snapshot, "QQQ") is None  # not in the snapshot (held outside the universe: its own rule)
