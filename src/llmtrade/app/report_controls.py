"""The report's controls: circuit-breaker halts and resumes, the kill switch, and plans abandoned, with their ids.

A halt lasts weeks (acct_4 was halted for twelve in a cron drill) and trades only the risk-reducing part of each
decision, so a weekly reader must see it: each such event is a line, and an account still halted at the end of
the books says so beside its name. Pure over StoredEvents, as `report_weeks` is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from llmtrade.app.report_records import ControlLine
from llmtrade.domain.account_events import AccountHalted, AccountResumed
from llmtrade.domain.checkpoints import TradingDisabled, TradingEnabled
from llmtrade.domain.events import EventPayload, StoredEvent
from llmtrade.domain.trading import PlanAbandoned
from llmtrade.domain.wording import market_time

READ: tuple[type[EventPayload], ...] = (AccountHalted, AccountResumed, PlanAbandoned, TradingDisabled, TradingEnabled)
TYPES = tuple(t.event_type() for t in READ)


def control_lines(events: Sequence[StoredEvent]) -> tuple[ControlLine, ...]:
    """Every control event among `events`, oldest first."""
    return tuple(_line(e) for e in sorted(events, key=lambda e: e.id) if e.type in TYPES)


def halted(lines: Sequence[ControlLine]) -> dict[str, ControlLine]:
    """Each account halted at the end of `lines` (its last breaker line a halt): the halt's line."""
    last: dict[str, ControlLine] = {}
    for line in lines:
        if line.account_id is not None and line.kind in ("halted", "resumed"):
            last[line.account_id] = line
    return {account: line for account, line in last.items() if line.kind == "halted"}


def switched_off(lines: Sequence[ControlLine]) -> ControlLine | None:
    """The kill switch's last line when it left trading disabled, else None."""
    switches = [line for line in lines if line.kind in ("trading disabled", "trading enabled")]
    return switches[-1] if switches and switches[-1].kind == "trading disabled" else None


def _line(event: StoredEvent) -> ControlLine:
    at = market_time(event.occurred_at, "minutes")
    if event.type == AccountHalted.event_type():
        halt = AccountHalted.from_event(event)
        return ControlLine(event_id=event.id, at=at, kind="halted", account_id=halt.account_id, detail=halt.reason)
    if event.type == AccountResumed.event_type():
        resumed = AccountResumed.from_event(event)
        return ControlLine(
            event_id=event.id, at=at, kind="resumed", account_id=resumed.account_id, detail=resumed.reason
        )
    if event.type == PlanAbandoned.event_type():
        gone = PlanAbandoned.from_event(event)
        detail = (
            f"{gone.reason}; orders {', '.join(gone.client_order_ids)} not sent ({gone.broker}); planned from "
            f"{_positions(gone.planned_positions)}, held {_positions(gone.actual_positions)}"
        )
        kind = "plan abandoned" if gone.whole_plan else "order abandoned"
        return ControlLine(event_id=event.id, at=at, kind=kind, account_id=gone.account_id, detail=detail)
    if event.type == TradingDisabled.event_type():
        off = TradingDisabled.from_event(event)
        return ControlLine(event_id=event.id, at=at, kind="trading disabled", account_id=None, detail=off.reason)
    on = TradingEnabled.from_event(event)
    return ControlLine(event_id=event.id, at=at, kind="trading enabled", account_id=None, detail=on.reason)


def _positions(positions: dict[str, int]) -> str:
    return ", ".join(f"{symbol} {qty:+d}" for symbol, qty in sorted(positions.items())) or "nothing"


def halt_notes(lines: Sequence[ControlLine], until: datetime) -> list[str]:
    """The leaderboard's notes on halts: per account, how often and how long the breaker halted it (an open halt
    counted to `until`, the books' last instant), the last halt's span and reason; and the kill switch if left off.
    A row whose weeks include a halt traded only the risk-reducing part of each decision in them."""
    notes = []
    spans: dict[str, list[tuple[ControlLine, ControlLine | None]]] = {}
    for line in lines:
        if line.account_id is None or line.kind not in ("halted", "resumed"):
            continue
        held = spans.setdefault(line.account_id, [])
        if line.kind == "halted" and (not held or held[-1][1] is not None):
            held.append((line, None))
        elif line.kind == "resumed" and held and held[-1][1] is None:
            held[-1] = (held[-1][0], line)
    for account, held in spans.items():
        if not held:
            continue  # a resume with no halt before it (a reset of a running breaker, refused since): no halt to tell
        weeks = sum(
            ((datetime.fromisoformat(end.at) if end else until) - datetime.fromisoformat(start.at)).days / 7
            for start, end in held
        )
        start, end = held[-1]
        last = f"since {start.at}" if end is None else f"from {start.at} to {end.at}"
        notes.append(
            f"{account} was halted by the circuit breaker {len(held)} time{'s' if len(held) > 1 else ''}, "
            f"{weeks:.1f} weeks in all (the last {last}: {start.detail}); while halted it trades only the "
            "risk-reducing part of each decision" + ("; it is still halted" if end is None else "")
        )
    off = switched_off(lines)
    if off is not None:
        notes.append(f"trading is disabled (the kill switch, since {off.at}: {off.detail}): no account trades")
    return notes
