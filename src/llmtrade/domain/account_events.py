"""Account-level trading records: an account held back from a week's plan, halted and resumed by its breaker, and
its books begun again at the broker. Re-exported by domain/trading.py, where they were, so every reader of trading
records knows these event types too."""

from __future__ import annotations

from pydantic import Field

from llmtrade.domain.events import EventPayload


class AccountWeekHeld(EventPayload):
    """An account the weekly run did not plan, for orders of llmtrade's still open at its broker (`orders`: queued for
    the open, or with a cancel under way that has not ended, `canceling`: Alpaca's pending_cancel, which can last for
    hours): one may still fill, so nothing is planned or sent on top of it. On the week's risk stream, once, beside the
    other accounts' plans (they trade their week); a later run of the week asks the broker again and plans the account
    when they have ended (its OrdersPlanned then follows on the same stream). `reason` says it as the run said it."""

    account_id: str
    broker: str
    orders: list[str]
    canceling: list[str]
    reason: str


class AccountHalted(EventPayload):
    account_id: str
    reason: str


class AccountResumed(EventPayload):
    account_id: str
    reason: str


class BrokerAccountReset(EventPayload):
    """The broker no longer lists orders this account recorded as filled: its books there began again (a paper
    account reset from Alpaca's dashboard wipes positions and order history and sets a new balance; keys now naming
    another account look the same). Kept on the breaker stream, whose peak and streaks start again at `equity`:
    a balance set by hand is no trade, neither a loss to halt for nor a gain to measure later drawdowns from."""

    account_id: str
    equity: float  # the broker's equity when the reset was found
    last_equity: float | None  # the account's last valuation before it, if any
    missing: list[str]  # client_order_ids recorded filled that the broker no longer lists
    # The broker's name of the account now, and the one its last valuation saw when the two differ (a reset found by
    # the account's new name: found so even when no order of ours is newly missing, as at a second reset in a row).
    # Left out of the record when None, as resets stored before them were written.
    broker_account: str | None = Field(default=None, exclude_if=lambda name: name is None)
    replaced: str | None = Field(default=None, exclude_if=lambda name: name is None)
