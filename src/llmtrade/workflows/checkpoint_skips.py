"""Why a checkpoint judges an account not now (workflows/checkpoint_prepare.py): no trade of its own this week, a stop
that holds while a cancel is under way, a held symbol without prices for good or for now; and the StageDeferred of the
accounts judged by a rerun."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmtrade.domain.events import NewEvent, StageDeferred
from llmtrade.domain.reconciliation import is_ours
from llmtrade.domain.streams import held_stream
from llmtrade.domain.trading import AccountSnapshot, BrokerOrder
from llmtrade.storage.projections import week_start_valued
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.workbench import Workbench


def no_trade(bench: Workbench, desk: Desk, account: AccountSnapshot) -> str:
    """Why an account has no trade of the week to judge. A checkpoint runs only once the week's weekly run completed,
    so the question it used to ask ("was run-weekly run?") sent a reader's trial to look for a run that had run: the
    account had been out of accounts.yaml when it ran, and put back since, holding a short nothing would judge."""
    held = ", ".join(f"{s} {p.qty:g}" for s, p in sorted(account.positions.items()) if p.qty)
    until = f"; until then what it holds ({held}) is not judged" if held else ""
    if week_start_valued(bench.events, bench.week_id, desk.account.id) is None:
        return (
            "no trade of its own this week: it was not in accounts.yaml when the week's weekly run ran (put back "
            f"since); the next weekly run trades it{until}"
        )
    return f"no trade frozen for it this week (its pitch failed, or none was asked of it){until}"


# How an account skipped because its stop holds while an order of llmtrade's with a cancel under way may still fill
# begins: the run is degraded and says it (app/checkpoint_run.py).
STOP_WAITS = "its stop holds, and its exit waits:"


def canceling_only(orders: Sequence[BrokerOrder]) -> list[str]:
    """The client order ids of llmtrade's orders in `orders` when every one of them has a cancel under way (Alpaca's
    pending_cancel); [] when there is none, or one without (queued for the open: the checkpoint waits for it). One done
    for the day is none of them: it cannot fill now (workflows/execution.py `queued_order_ids`)."""
    ours = [o for o in orders if is_ours(o.client_order_id) and not o.done_for_day]
    return [o.client_order_id for o in ours] if ours and all(o.canceling for o in ours) else []


def stop_waits(instrument: str, rule: str, observed: float | None, triggered: bool, stuck: Sequence[str]) -> str:
    """The skip of an account whose orders `stuck` have a cancel under way: its stop (`rule`, `observed` now) checked,
    and nothing traded while they may still fill."""
    ids = ", ".join(stuck)
    waiting = (
        f"order(s) {ids} of llmtrade's may still fill: a cancel is under way at the broker (pending_cancel) and has "
        "not ended, so nothing is sent for the account until it has (no second order beside one that may fill)"
    )
    if not triggered:
        return f"{instrument}'s stop ({rule}) checked: it does not hold ({observed}); {waiting}: nothing to trade yet"
    return (
        f"{STOP_WAITS} {instrument}'s stop ({rule}) holds ({observed}), and {waiting}. The next checkpoint judges the "
        f"account again and exits once the cancel has ended; a cancel stuck for long is Alpaca's to clear (its "
        f"support), or close {instrument} in its dashboard"
    )


# How an account skipped for a held symbol without prices for good begins: the run is degraded and says it
# (app/checkpoint_run.py), where a skip by design (FLAT, flat, queued orders) is not.
UNPRICED_FOR_GOOD = "no price to wait for:"


def unpriced_for_good(lasting: dict[str, str]) -> str:
    """The skip of an account holding `lasting` (symbol -> why its prices will not come by waiting): what is wrong,
    what it means and what to do."""
    said = "; ".join(f"{s} has none, and waiting will not bring one: {why}" for s, why in lasting.items())
    symbols = ", ".join(lasting)
    return (
        f"{UNPRICED_FOR_GOOD} {said}. None of its stops is checked and nothing of it is traded until "
        f"{symbols} has prices again (each checkpoint looks again): give its prices (its CSV file through the last "
        "session), or, if it was delisted or renamed, close the position at the broker and `llmtrade positions "
        "release` it"
    )


@dataclass(frozen=True)
class Unpriced:
    why: str  # an account not judged now: the symbols it holds without a price, and why each has none


def record_deferred(bench: Workbench, slot: Slot, stage: str, waiting: list[str], reasons: list[str]) -> None:
    """StageDeferred on the checkpoint's held stream: the accounts `waiting` (why: `reasons`) are judged by a rerun
    until the checkpoint's deadline, so the checkpoint is not complete (no marker)."""
    deferred = StageDeferred(stage=stage, waiting=waiting, errors=reasons, deadline=bench.deadline)
    stream = held_stream(slot.stream(bench.week_id))
    bench.events.append([NewEvent.of(deferred, stream=stream, week_id=bench.week_id, run_id=bench.run_id)])
