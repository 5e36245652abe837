"""The per-account circuit breaker (DESIGN.md section 7): when to halt an account and when to let it trade again.

Pure code, like the risk gate: the caller feeds it equity marks and closed trades' realised P/L,
keeps the returned state (as events) and records each Transition as an AccountHalted or
AccountResumed event. Nothing here reads a clock, a database or a broker.

Two halt rules, each with its own way back:

* drawdown: equity more than `halt_drawdown_pct` below its peak halts the account; it resumes
  once the drawdown is back below `resume_drawdown_pct` (the gap between the two keeps an account
  hovering near the limit from flapping).
* losses: `halt_consecutive_losses` losing trades in a row halt it; `resume_consecutive_wins`
  winning trades in a row, counted from the halt, resume it. A trade is a round trip (open to
  flat or to a side change, domain/ledger.py), so resizes are not trades; a halted account cannot
  open, so its wins are mostly shadow trades (what it would have traded, risk/shadow.py).

Each halt resumes only by its own rule. Otherwise an account halted for ten straight losses while
its drawdown is a mild 3% would be resumed by the very next equity mark, and the loss rule would
mean nothing. An account halted for losses whose drawdown then passes the limit is halted again
for the drawdown: that is the deeper problem, and its recovery is the one to wait for. A human
can resume any halt with `manual_reset`.
"""

from __future__ import annotations

import math
from typing import Literal

from llmtrade.config.models import CircuitBreaker
from llmtrade.domain.account_events import AccountHalted, AccountResumed
from llmtrade.domain.breaker import BreakerState, HaltCause
from llmtrade.domain.records import Record

DRAWDOWN = "drawdown"
LOSSES = "losses"
MANUAL_REASON = "reset by hand"

# Drawdowns come from a division, so "exactly 20%" can land a hair either side of 0.2 in binary
# floating point; the slack makes "exactly at a limit" mean what it says (neither halt nor resume).
_EPSILON = 1e-9


class Transition(Record):
    """A halt or a resume, with the numbers behind it. Equity numbers are None when a trade caused it."""

    account_id: str
    kind: Literal["halted", "resumed"]
    reason: str
    drawdown: float | None = None
    peak: float | None = None
    equity: float | None = None

    def event(self) -> AccountHalted | AccountResumed:
        """The event payload the caller appends for this transition."""
        if self.kind == "halted":
            return AccountHalted(account_id=self.account_id, reason=self.reason)
        return AccountResumed(account_id=self.account_id, reason=self.reason)


def initial_state(account_id: str, starting_equity: float) -> BreakerState:
    _require_finite("starting_equity", starting_equity)
    return BreakerState(
        account_id=account_id,
        halted=False,
        reason="",
        peak_equity=starting_equity,
        consecutive_losses=0,
        consecutive_wins=0,
    )


def drawdown(equity: float, peak: float) -> float:
    """1 - equity/peak: the fraction lost from the peak (0 when there is no positive peak to measure from)."""
    if peak <= 0:
        return 0.0
    return max(0.0, 1.0 - equity / peak)


def observe_equity(
    state: BreakerState, equity: float, config: CircuitBreaker
) -> tuple[BreakerState, Transition | None]:
    """Take a new equity mark: raise the peak, then halt or resume on the drawdown from it."""
    _require_finite("equity", equity)
    peak = max(state.peak_equity, equity)
    dd = drawdown(equity, peak)
    if peak is not state.peak_equity:
        state = state.model_copy(update={"peak_equity": peak})  # a new peak (max keeps the first of equals)

    # Strictly greater: a drawdown of exactly the limit is still within it.
    if dd > config.halt_drawdown_pct + _EPSILON and state.halted_for != DRAWDOWN:
        # Also for an account already halted for losses: from now on it waits for the drawdown to recover.
        reason = f"drawdown {dd:.1%} from peak {peak:,.2f} exceeds {_limit(config.halt_drawdown_pct)}"
        return _halt(state, reason, DRAWDOWN, dd, peak, equity)

    if state.halted and state.halted_for != LOSSES and dd < config.resume_drawdown_pct - _EPSILON:
        reason = f"drawdown {dd:.1%} from peak {peak:,.2f} is back below {_limit(config.resume_drawdown_pct)}"
        return _resume(state, reason, dd, peak, equity)

    return state, None


def observe_trade(
    state: BreakerState, pnl: float, config: CircuitBreaker, *, shadow: bool = False
) -> tuple[BreakerState, Transition | None]:
    """Take one closed trade's P/L (a round trip, net of costs): count the streak, then halt or resume on it.

    `shadow`: a trade the halted account would have made (risk/shadow.py); it counts like a real one
    toward the wins that resume a loss halt, and its name is in the reason."""
    _require_finite("pnl", pnl)
    if pnl < 0:
        state = state.model_copy(update={"consecutive_losses": state.consecutive_losses + 1, "consecutive_wins": 0})
    elif pnl > 0:
        state = state.model_copy(update={"consecutive_wins": state.consecutive_wins + 1, "consecutive_losses": 0})
    else:
        # A trade that broke exactly even says nothing either way, so it neither extends nor breaks a streak.
        return state, None

    if not state.halted and state.consecutive_losses >= config.halt_consecutive_losses:
        reason = (
            f"{state.consecutive_losses} consecutive losing trades "
            f"(limit {config.halt_consecutive_losses}); last lost {-pnl:,.2f}"
        )
        return _halt(state, reason, LOSSES, None, None, None)

    if state.halted and state.halted_for != DRAWDOWN and state.consecutive_wins >= config.resume_consecutive_wins:
        kind = "shadow trades" if shadow else "trades"
        reason = f"{state.consecutive_wins} consecutive winning {kind} since the halt"
        return _resume(state, reason, None, None, None)

    return state, None


def manual_reset(state: BreakerState, equity: float) -> tuple[BreakerState, Transition]:
    """Resume by hand, from any state.

    The peak restarts at today's equity: measured from the old peak, an account reset deep in a
    drawdown would be halted again by its next equity mark. The streaks restart too, so nine old
    losses cannot halt it again after one more.
    """
    _require_finite("equity", equity)
    old_peak = max(state.peak_equity, equity)
    new_state = state.model_copy(
        update={
            "halted": False,
            "reason": MANUAL_REASON,
            "peak_equity": equity,
            "consecutive_losses": 0,
            "consecutive_wins": 0,
            "manual": True,
            "halted_for": None,
        }
    )
    # The transition keeps the numbers as they were at the reset, against the peak it forgets.
    transition = Transition(
        account_id=state.account_id,
        kind="resumed",
        reason=MANUAL_REASON,
        drawdown=drawdown(equity, old_peak),
        peak=old_peak,
        equity=equity,
    )
    return new_state, transition


def rebase(state: BreakerState, equity: float) -> BreakerState:
    """The breaker after the broker's account began again at `equity` (a reset, not a trade): the peak restarts
    there and the streaks from nothing, as for a new account; a halt it held goes with the books it measured."""
    _require_finite("equity", equity)
    return state.model_copy(
        update={
            "halted": False,
            "reason": "",
            "peak_equity": equity,
            "consecutive_losses": 0,
            "consecutive_wins": 0,
            "manual": False,
            "halted_for": None,
        }
    )


# ---------------------------------------------------------------- helpers


def _halt(
    state: BreakerState,
    reason: str,
    cause: HaltCause,
    dd: float | None,
    peak: float | None,
    equity: float | None,
) -> tuple[BreakerState, Transition]:
    # Wins count from the halt: a win streak that began before it must not resume the account.
    new_state = state.model_copy(
        update={"halted": True, "reason": reason, "halted_for": cause, "consecutive_wins": 0, "manual": False}
    )
    transition = Transition(
        account_id=state.account_id, kind="halted", reason=reason, drawdown=dd, peak=peak, equity=equity
    )
    return new_state, transition


def _resume(
    state: BreakerState, reason: str, dd: float | None, peak: float | None, equity: float | None
) -> tuple[BreakerState, Transition]:
    new_state = state.model_copy(update={"halted": False, "reason": reason, "halted_for": None, "manual": False})
    transition = Transition(
        account_id=state.account_id, kind="resumed", reason=reason, drawdown=dd, peak=peak, equity=equity
    )
    return new_state, transition


def _limit(fraction: float) -> str:
    """A configured limit as a percentage without float noise: 0.2 -> "20%", 0.175 -> "17.5%"."""
    return f"{round(fraction * 100, 4):g}%"


def _require_finite(name: str, value: float) -> None:
    # NaN compares false with everything, so it would silently never halt; refuse it instead.
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
