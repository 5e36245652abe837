"""A breaker reset by hand: an account halted by its circuit breaker resumes, its peak restarted at its equity now.

Not a job cron runs (app/jobs.py): a person's command, refused like them on a clock behind the books. Refused too
(exit 75) between a session's close and the minute its bar is final at a provider (BarNotComplete), where `status`
values at the session before's closes: a peak restarted there would measure the next drawdown from an equity the day
already moved away from (a day's fall read again as a fresh loss, tripping the breaker just reset). A held symbol
whose prices ended (a CSV file no longer written, a ticker delisted or renamed) is valued at its last close, as `status`
values it; the reset failed on a universe symbol's file (exit 1, the account halted till assets.yaml was edited) and
took a held one outside it at cost. A held symbol with no price at all is no equity to restart a peak at: refused."""

from __future__ import annotations

from llmtrade.app.clock_guard import refuse_wrong_clock
from llmtrade.app.container import Container
from llmtrade.app.results import BreakerReset
from llmtrade.app.status_prices import unread_prices
from llmtrade.app.week_mode import as_books_priced
from llmtrade.brokers.reconcile import look_now
from llmtrade.config.models import BENCHMARK
from llmtrade.discovery.universe import held_outside, in_play
from llmtrade.errors import BarNotComplete, LlmtradeError, OperationalError, TemporaryError, UsageError
from llmtrade.market.ended_prices import held_ended, last_closes
from llmtrade.market.held_prices import closes_with_held, not_final
from llmtrade.risk.controls import breaker_state
from llmtrade.risk.halt_cancels import resume_by_hand


def reset_breaker(app: Container, account_id: str) -> BreakerReset:
    """Resume a halted account by hand; its peak restarts at its current equity."""
    config = app.loaded.config
    account = config.accounts.account(account_id)
    if account is None:
        raise UsageError.unknown(
            f"no account {account_id!r} in accounts.yaml",
            account_id,
            [a.id for a in config.accounts.accounts],
            otherwise="",
        )
    refuse_wrong_clock(app, "breaker reset")
    with app.storage() as storage:
        if not breaker_state(storage.events, account_id, account.starting_cash)[0].halted:
            # A reset of a running breaker recorded a resume with no halt before it, which broke every leaderboard
            # and report after (a new user's trial); it would also forget the peak its drawdown is measured from.
            raise UsageError(f"{account_id} is not halted: nothing to reset (`llmtrade status` shows each breaker)")
        app = as_books_priced(app, storage.events)  # valued on the books' kind of prices
        live = app.trading_is_live(storage.events)
        # Valuing the account is a read: its price fetches are not this command's record.
        market = app.market(storage, live=live, record=False)
        desk = next(d for d in app.desks(storage, market, live=live) if d.account.id == account_id)
        held = held_outside(config, storage.events)
        now = app.clock.now()
        failed: dict[str, LlmtradeError] = {}  # why each held symbol without a close has none
        try:
            prices, missing = closes_with_held(
                market, config.assets.symbols, held, now, anchor=BENCHMARK, errors=failed
            )
        except BarNotComplete as exc:
            raise TemporaryError(
                f"{account_id}: a breaker reset restarts its peak at the account's equity at the last close, and "
                f"{not_final(exc)}: the breaker was not reset; run it again once the close is final"
            ) from exc
        prices |= last_closes(held_ended(market, missing, in_play(storage.events), now))
        managed = look_now(storage.events, desk.broker, prices).managed
        if managed.at_cost:
            said = "; ".join(f"{s} ({missing.get(s, 'no price')})" for s in managed.at_cost)
            raise _refused(
                f"{account_id}: a breaker reset restarts its peak at the account's equity at the last close, and it "
                f"holds what has no price: {said}: the breaker was not reset",
                [failed[s] for s in managed.at_cost if s in failed],
            )
        equity = managed.equity
        state = resume_by_hand(
            storage.events, desk.broker, account_id, starting_equity=account.starting_cash, equity=equity
        )
    return BreakerReset(account_id=account_id, peak_equity=state.peak_equity)


def _refused(message: str, failures: list[LlmtradeError]) -> LlmtradeError:
    """The reset's refusal, exiting as `status` does for the same prices (app/status_prices.unread_prices, one rule): 75
    when each failure is a wait, 2 when one is the CSV folder's own files to mend (a file missing, a row unreadable),
    else 1."""
    wait, failed = unread_prices(failures)
    if wait is not None:
        return TemporaryError(message)
    if failed is not None and failed.exit_code == UsageError.exit_code:
        return UsageError(message)
    return OperationalError(message)
