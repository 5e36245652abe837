"""The risk gate: every intended trade passes through `check` before an order can exist.

Pure code on purpose (DESIGN.md section 7): no I/O and no model call, so no LLM answer can talk
its way past a hard limit, and the same inputs always give the same verdict.

The verdict names the signed whole-share position the account should hold in the instrument
after the trade (replacing any existing one). A rejected verdict always names the position the
account already holds, so acting on any verdict, approved or not, is safe: a rejection never
opens, closes or resizes anything. A rejection's reason starts with the rule that refused it;
every clamp is a RiskAdjustment with the numbers behind it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from llmtrade.config.candidates import packaged_candidates
from llmtrade.config.models import AssetClass, AssetsConfig, RiskConfig
from llmtrade.domain.market import PriceAge, jump_named
from llmtrade.domain.trading import AccountSnapshot, RiskAdjustment, RiskVerdict, TradeIntent
from llmtrade.domain.wording import counted
from llmtrade.risk.halt import cut_to_reducing, held_only, reducing_target
from llmtrade.risk.stale import StaleMarks, cut_to_stale, cut_to_stale_held, stale, with_stale_marks

# Rule names, as they appear at the start of a rejection's reason or in an adjustment's `rule`.
UNIVERSE = "universe"
PRICE = "price"
SUSPECT_PRICE = "suspect_price"
CIRCUIT_BREAKER = "circuit_breaker"
EQUITY = "equity"
SHORTABLE = "shortable"
MAX_POSITION_PCT = "max_position_pct"
MAX_ASSET_CLASS_PCT = "max_asset_class_pct"
MAX_OPEN_POSITIONS = "max_open_positions"
CASH = "cash"
BUYING_POWER = "buying_power"

# Conviction 2 takes the whole single-position limit, conviction 1 half of it. Increasing in
# |conviction| so that stronger conviction can never mean a smaller position.
_SIZE_FRACTION = {0: 0.0, 1: 0.5, 2: 1.0}

# Budgets like 0.2 x 100000 are not exact in binary floating point (20000.000000000004, or just
# below); without the slack a budget of exactly 400 shares could floor to 399.
_EPSILON = 1e-9


def check(
    intent: TradeIntent,
    account: AccountSnapshot,
    price: float,
    *,
    assets: AssetsConfig,
    risk: RiskConfig,
    prices: Mapping[str, float],
    broker_shortable: bool = True,
    halted: bool = False,
    halt_reason: str = "",
    suspect: str | None = None,
    suspect_held: Mapping[str, str] | None = None,
    age: PriceAge | None = None,
    held_ages: Mapping[str, PriceAge] | None = None,
    mark_ages: Mapping[str, PriceAge] | None = None,
    ended_closes: Mapping[str, float] | None = None,
) -> RiskVerdict:
    """Decide the position `account` should hold in `intent.instrument`, valued at `price`.

    `prices` values the account's other positions for the asset-class limit (a position without
    a price there is valued at its average price). `broker_shortable` is the broker's word on
    whether the instrument can be borrowed today; `halted` is the account's circuit breaker: a
    halted account gets only the risk-reducing part of the running verdict (a close, a smaller
    position on the same side, a position held but not added to), with `shadow_qty` set to the
    target it would have got; from flat it is refused. `suspect` says why `price` is not one to size off (a last bar
    that jumped by a split's fraction, or to twice or half the close before: market/jumps.py): the verdict is then
    cut to a close, or to the position held, so no share count is worked out from it. `suspect_held`: the same of
    other symbols whose last close `account` was valued at (a week's roll counts their sale at it: its cash is the
    money the trade is sized from), by symbol; the verdict is cut the same way. `age`: how old `price` is, when not of
    the last session (a quiet symbol): too old, the verdict is cut to what only reduces the position (risk/stale.py).
    `held_ages`: the same of other symbols whose last close `account` was valued at (a week's roll), cut alike.
    `mark_ages`: the age of each mark in `prices` that is a close of before the last session, by symbol: one of another
    position held more than STALE_AFTER sessions old is counted the careful way in equity and the asset-class limit
    (risk/stale.py `StaleMarks`), said in the verdict, and a RiskAdjustment when it changes the size. `ended_closes`:
    the last close of another position unmarked whose prices ended (kept by a roll): its exposure is counted alike.
    """
    symbol = intent.instrument
    held = account.positions.get(symbol)
    current = held.qty if held is not None else 0
    limits = risk.limits

    def reject(rule: str, why: str, adjustments: list[RiskAdjustment] | None = None) -> RiskVerdict:
        return RiskVerdict(
            account_id=intent.account_id,
            instrument=symbol,
            target_qty=current,
            approved=False,
            reason=f"{rule}: {why}; position unchanged at {current}",
            price=price,
            adjustments=adjustments or [],
        )

    def approve(target: int, reason: str, adjustments: list[RiskAdjustment]) -> RiskVerdict:
        return RiskVerdict(
            account_id=intent.account_id,
            instrument=symbol,
            target_qty=target,
            approved=True,
            reason=reason,
            price=price,
            adjustments=adjustments,
        )

    # 1. What can be traded at all, and at a price that means something (NaN fails `> 0` too).
    instrument = assets.instrument(symbol)
    if instrument is None:
        if current == 0:
            return reject(UNIVERSE, f"{symbol} is not in the tradable universe")
        # Held though taken out of the universe: the universe says what may be opened, not what may be closed. Closing
        # or cutting needs neither a size nor a class, so it goes through as risk-reducing (an EXIT refused here left
        # the position judged and stuck); an add or the other side is not.
        same_side = (
            intent.direction != "FLAT" and intent.conviction != 0 and (intent.direction == "LONG") == (current > 0)
        )
        target = current if same_side else 0
        kept = approve(
            target,
            f"{UNIVERSE}: {symbol} is not in the tradable universe: held at {current:+d}, "
            + (f"kept at {current:+d}, not added to" if same_side else f"closed (from {current:+d})"),
            [],
        )
        # A halted account's shadow book closes what the account closes (a shadow still holding it would count the
        # halt's cost on a position neither book has); a position kept is its own book's, left as it is (None).
        return kept.model_copy(update={"shadow_qty": 0}) if halted and not same_side else kept
    if not (price > 0 and math.isfinite(price)):
        return reject(PRICE, f"price {price} for {symbol} is not a positive number")

    # The inputs of the rules that cut a verdict (1a-2). Each is applied to the verdict of the rules after it: that
    # verdict is asked without its own input (and without the price's age, read first).
    cutting: dict[str, Any] = {
        "halted": halted,
        "halt_reason": halt_reason,
        "suspect": suspect,
        "suspect_held": suspect_held,
        "held_ages": held_ages,
    }

    def without(*inputs: str, universe: AssetsConfig = assets) -> RiskVerdict:
        given = cutting | {"mark_ages": mark_ages, "ended_closes": ended_closes}
        rest = {name: value for name, value in given.items() if name not in inputs}
        return check(
            intent, account, price, assets=universe, risk=risk, prices=prices, broker_shortable=broker_shortable, **rest
        )

    # 1c. A close the feed has seen no trade since for sessions (a quiet symbol): nothing opened or added off it.
    if age is not None and stale(age):
        return cut_to_stale(without(), current, age, price)
    if old := {s: a for s, a in (held_ages or {}).items() if stale(a)}:
        return cut_to_stale_held(without("held_ages"), current, old, prices)

    # 1a. In the week's universe only because an account holds it (off the watchlist, dropped by discovery): there to
    # be closed or cut, so the verdict it would get is cut to its risk-reducing part (a trial added to such a short).
    if instrument.held_only:
        tradable = [i.model_copy(update={"held_only": False}) if i is instrument else i for i in assets.universe]
        return held_only(without(universe=assets.model_copy(update={"universe": tradable})), current)

    # 1b. A price that may be a bad print (or a split the feed left unadjusted) would size the trade by its error: at a
    # quarter of the real price, four times the shares, past every limit below. Closing needs no price; sizing does.
    if suspect is not None or suspect_held:
        free = without("suspect", "suspect_held")
        return _unsized(free, current, _suspect_why(symbol, price, suspect, suspect_held or {}, prices))

    # 2. A halted account may reduce or close, never open or add (risk/halt.py): the verdict is the
    # one it would get running, cut back to its risk-reducing part, and that uncut target is its shadow.
    if halted:
        free = without(*cutting)
        return _halted(free, current, account.account_id, halt_reason or "no reason given")

    # 3. Closing only ever reduces risk, so it needs no further limit.
    if intent.direction == "FLAT" or intent.conviction == 0:
        return approve(0, f"flat: close {symbol} (from {current})", [])

    # 7. (checked here because every size below is a fraction of equity) Nothing to size against. Another position's
    # mark more than STALE_AFTER sessions old lends no gain to it (nor room to its class below): risk/stale.py.
    marks = StaleMarks(account, symbol, prices, mark_ages, ended_closes)
    if marks:  # sized as with no stale mark (every cutting rule is behind), from the account counted the careful way
        careful, floors = account.model_copy(update={"equity": account.equity - marks.gain()}), marks.floors(prices)
        sized = check(
            intent, careful, price, assets=assets, risk=risk, prices=floors, broker_shortable=broker_shortable
        )
        return with_stale_marks(sized, without("mark_ages", "ended_closes"), marks)
    equity = account.equity
    if not (equity > 0 and math.isfinite(equity)):
        return reject(EQUITY, f"equity {equity:.2f} is not positive")

    # 4. Shorts need permission from the limits, the instrument's config and the broker.
    short = intent.direction == "SHORT"
    if short:
        refusals = []
        if not limits.allow_short:
            refusals.append("risk limits do not allow short selling")
        if not instrument.shortable:
            refusals.append(f"{symbol} is configured as not shortable")
        if not broker_shortable:
            refusals.append(f"the broker cannot borrow {symbol}")
        if refusals:
            return reject(SHORTABLE, "; ".join(refusals))

    # 5. Size from conviction, as a fraction of the single-position limit, in whole shares. The
    # sign of the conviction is ignored: direction says which way, conviction only how much.
    strength = abs(intent.conviction)
    budget = _SIZE_FRACTION[strength] * limits.max_position_pct * equity
    sized = _shares(budget, price)
    qty = sized  # magnitude; the sign is applied at the end
    adjustments: list[RiskAdjustment] = []

    def clamp(rule: str, cap: int, detail: str) -> None:
        nonlocal qty
        if qty > cap:
            adjustments.append(RiskAdjustment(rule=rule, detail=detail, before_qty=qty, after_qty=cap))
            qty = cap

    # 6. Hard limits, each clamping the size down and saying why with the numbers.
    # Sizing already stays inside this one; the check stays so a sizing change cannot bypass it.
    position_limit = limits.max_position_pct * equity
    cap = _shares(position_limit, price)
    clamp(
        MAX_POSITION_PCT,
        cap,
        f"{qty} x {price:.2f} = {qty * price:.2f} exceeds {limits.max_position_pct:.0%} of equity "
        f"{equity:.2f} = {position_limit:.2f}; at most {counted(cap, 'share')}",
    )

    # Gross exposure: a short uses up the class's room as much as a long does.
    other = _class_exposure(account, symbol, instrument.asset_class, assets, prices)
    class_limit = limits.max_asset_class_pct * equity
    room = max(class_limit - other, 0.0)
    cap = _shares(room, price)
    clamp(
        MAX_ASSET_CLASS_PCT,
        cap,
        f"other {instrument.asset_class.value} positions hold {other:.2f} ({other / equity:.1%} of equity); "
        f"{qty} x {price:.2f} = {qty * price:.2f} would exceed {limits.max_asset_class_pct:.0%} of equity "
        f"{equity:.2f} = {class_limit:.2f}; room {room:.2f}, at most {counted(cap, 'share')}",
    )

    # A new position counts against the limit only if it is actually opened (a size clamped to
    # zero opens nothing); resizing a position already held never adds one.
    open_positions = sum(1 for p in account.positions.values() if p.qty != 0)
    if current == 0 and qty > 0 and open_positions >= limits.max_open_positions:
        return reject(
            MAX_OPEN_POSITIONS,
            f"account already holds {open_positions} positions (limit {limits.max_open_positions}) "
            f"and none in {symbol}",
            adjustments,
        )

    if not short:
        # Only shares bought beyond an existing long cost cash; the cash a short's cover would
        # free is not counted, so the check never leans on a trade that has not happened yet.
        existing_long = max(current, 0)
        cash = max(account.cash, 0.0)
        cap = existing_long + _shares(cash, price)
        buy = max(qty - existing_long, 0)
        clamp(
            CASH,
            cap,
            f"buying {buy} x {price:.2f} = {buy * price:.2f} exceeds cash {account.cash:.2f}; "
            f"at most {counted(cap, 'share')} (holding {existing_long} long)",
        )
    else:
        existing_short = max(-current, 0)
        buying_power = max(account.buying_power, 0.0)
        cap = existing_short + _shares(buying_power, price)
        add = max(qty - existing_short, 0)
        clamp(
            BUYING_POWER,
            cap,
            f"shorting {add} more x {price:.2f} = {add * price:.2f} exceeds buying power "
            f"{account.buying_power:.2f}; at most {counted(cap, 'share')} short (holding {existing_short} short)",
        )

    target = -qty if short else qty
    side = "short" if short else "long"
    if qty == 0:
        if adjustments:
            why = f"clamped to zero by {adjustments[-1].rule}"
        else:
            why = f"one share at {price:.2f} costs more than the conviction-{strength} budget {budget:.2f}"
        return approve(0, f"{side} {symbol} clamped to zero: {why} (from {current})", adjustments)
    reason = (
        f"{side} {qty} {symbol} at {price:.2f}: conviction {strength} sizes {counted(sized, 'share')} (from {current})"
    )
    if adjustments:
        reason += "; clamped by " + ", ".join(a.rule for a in adjustments)
    return approve(target, reason, adjustments)


def _halted(free: RiskVerdict, current: int, account_id: str, why: str) -> RiskVerdict:
    """`free` (the running verdict) as a halted account holding `current` may act on it."""
    shadow = free.target_qty if free.approved else None
    allowed = reducing_target(current, free.target_qty)
    halted = f"account {account_id} is halted ({why})"
    if allowed == free.target_qty:
        # Nothing to cut: a close, a reduce, or a verdict that changes nothing.
        return free.model_copy(update={"shadow_qty": shadow, "reason": f"{halted}; allowed: {free.reason}"})
    return cut_to_reducing(
        free,
        current,
        allowed,
        rule=CIRCUIT_BREAKER,
        shadow=shadow,
        refused=f"{CIRCUIT_BREAKER}: {halted}: may not open {free.target_qty:+d}; position unchanged at 0",
        detail=f"{halted}: a halted account may only reduce or close; {current:+d} -> {allowed:+d}, "
        f"not {free.target_qty:+d}",
        reason=f"{CIRCUIT_BREAKER}: {halted}: "
        + (f"held at {current:+d}, may not add" if allowed == current else f"{current:+d} -> {allowed:+d} only")
        + f" (wanted {free.target_qty:+d})",
    )


def _suspect_why(
    symbol: str, price: float, suspect: str | None, held: Mapping[str, str], prices: Mapping[str, float]
) -> str:
    """Which last close the size would be worked out from that is suspect, and what it looks like: each is a last bar
    (market/jumps.py `last_suspect`), so a split-like one may still be a bad row."""
    if suspect is not None:
        named = jump_named(suspect, last_bar=True)
        return f"{symbol}'s last close {price:.2f} is suspect ({named}; see PriceJumpFlagged)"
    closes = ", ".join(
        f"{s}'s last close {prices.get(s, float('nan')):.2f} ({jump_named(looks, last_bar=True)})"
        for s, looks in sorted(held.items())
    )
    return f"the account is valued at {closes}, which is suspect (see PriceJumpFlagged)"


def _unsized(free: RiskVerdict, current: int, why: str) -> RiskVerdict:
    """`free` (the verdict at the price) cut to what needs no size worked out from a suspect price (`why`): a close
    (of the position, or of a side change's first leg) or the position held unchanged. A halted account's shadow
    target, worked out from the same price, is cut alike: a shadow close stands, any other is not sized (None: the
    shadow book opens nothing, and keeps what it holds at a checkpoint), and the reason says so."""
    shadow, note = free.shadow_qty, ""
    if shadow:
        shadow, note = None, f"; its shadow trade is not sized either ({shadow:+d} would be worked out from it)"
    target = free.target_qty
    allowed = 0 if target == 0 or (current > 0) != (target > 0) else current
    if allowed == target:
        if not note:
            return free
        return free.model_copy(update={"shadow_qty": shadow, "reason": f"{free.reason}; {SUSPECT_PRICE}: {why}{note}"})
    if current == 0:
        reason = f"{SUSPECT_PRICE}: {why}: may not open {target:+d} sized off it; position unchanged at 0{note}"
        return free.model_copy(update={"approved": False, "target_qty": 0, "reason": reason, "shadow_qty": shadow})
    cut = RiskAdjustment(
        rule=SUSPECT_PRICE,
        detail=f"{why}: no size is worked out from it; {current:+d} -> {allowed:+d}, not {target:+d}",
        before_qty=abs(target),
        after_qty=abs(allowed),
    )
    held = f"held at {current:+d}" if allowed == current else f"{current:+d} -> {allowed:+d} only"
    return free.model_copy(
        update={
            "approved": True,
            "target_qty": allowed,
            "reason": f"{SUSPECT_PRICE}: {why}: {held} (wanted {target:+d}){note}",
            "adjustments": [*free.adjustments, cut],
            "shadow_qty": shadow,
        }
    )


def _shares(value: float, price: float) -> int:
    """Whole shares that `value` buys at `price`, never negative."""
    return max(math.floor(value / price + _EPSILON), 0)


def _class_exposure(
    account: AccountSnapshot,
    symbol: str,
    asset_class: AssetClass,
    assets: AssetsConfig,
    prices: Mapping[str, float],
) -> float:
    """Gross value of the account's other positions in `asset_class`.

    A position outside this week's universe is classed by discovery's candidate list (a symbol an
    earlier week's watchlist let in, issue 15); one in neither has no known class and is left out:
    it can only be a leftover from a broker-side trade.
    """
    classes = {c.symbol: c.asset_class for c in packaged_candidates()}
    total = 0.0
    for other_symbol, position in account.positions.items():
        if other_symbol == symbol or position.qty == 0:
            continue
        other = assets.instrument(other_symbol)
        if (other.asset_class if other else classes.get(other_symbol)) != asset_class:
            continue
        mark = prices.get(other_symbol)
        if mark is None or not (mark > 0 and math.isfinite(mark)):
            mark = position.avg_price
        total += abs(position.qty) * mark
    return total
