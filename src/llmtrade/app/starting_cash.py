"""An account's starting cash is fixed once the books hold it: accounts.yaml's `starting_cash` changed for an account
already valued is refused by every job and by `config validate` (exit 2, ConfigRejected for a job: app/config_books.py),
and said by `status` and the live leaderboard.

The paper books fold an account's fills onto accounts.yaml's starting_cash at every read, so a trial that changed
acct_1's from 100,000 to 50,000 after two weeks rewrote its history: status showed a week P/L of -50,100.94, and the
next weekly run's circuit breaker halted the account (drawdown 50.1% from its peak of 100,052.66), for a loss no price
made. What an account began with is its first valuation (every weekly run values every account at the week's start,
before its orders), when no fill of it was recorded before that (books older than valuations say nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmtrade.app.container import Container
from llmtrade.brokers.registry import broker_name, keys_unset
from llmtrade.config.loader import file_label
from llmtrade.config.models import Account, BrokerKind
from llmtrade.config_errors import ConfigProblem
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.trading import OrderFilled
from llmtrade.domain.wording import market_time
from llmtrade.storage.event_store import EventStore

_CENT = 0.005


@dataclass(frozen=True)
class ChangedCash:
    """A configured paper account (`index` in accounts.yaml) whose starting_cash is not what its books began with."""

    index: int
    account: Account
    began: float  # its first valuation's equity
    valued: StoredEvent  # that valuation


def changed_cash(app: Container, events: EventStore) -> list[ChangedCash]:
    """Each configured account on the paper broker whose starting_cash is not what the books say it began with (an
    Alpaca account's cash is the broker's own: its first valuation is what Alpaca held, whatever accounts.yaml says)."""
    live = app.trading_is_live(events)
    changed = []
    for i, account in enumerate(app.loaded.config.accounts.accounts):
        if live and keys_unset(account, app.settings):
            continue  # its broker cannot be opened: app/config_books.py refuses it by name
        if broker_name(account, live=live, settings=app.settings) != BrokerKind.PAPER.value:
            continue
        first = events.read(type=AccountValued.event_type(), account_id=account.id, limit=1)
        if not first:
            continue  # not in the books yet: it starts with what accounts.yaml says
        valued = AccountValued.from_event(first[0])
        filled = events.read(type=OrderFilled.event_type(), account_id=account.id, limit=1)
        if (filled and filled[0].id < first[0].id) or abs(valued.cash - valued.equity) > _CENT:
            continue  # valued after it traded: what it began with is not on record
        if abs(valued.equity - account.starting_cash) > _CENT:
            changed.append(ChangedCash(i, account, valued.equity, first[0]))
    return changed


def cash_problems(
    app: Container, events: EventStore, changed: Sequence[ChangedCash] | None = None
) -> list[ConfigProblem]:
    """`changed_cash` (`changed`, when the caller has it already) as accounts.yaml's problems: what every job refuses
    (app/config_books.py)."""
    return [
        ConfigProblem(
            f"accounts[{c.index}].starting_cash",
            f"{c.account.id} began with {c.began:,.2f} (its first valuation, "
            f"{market_time(c.valued.occurred_at)}): its books count from that, so a change rewrites its "
            "history (its P/L, drawdown and circuit breaker); put it back, or give the new cash to a new "
            "account",
            c.account.starting_cash,
        )
        for c in (changed_cash(app, events) if changed is None else changed)
    ]


def cash_warnings(app: Container, events: EventStore, changed: Sequence[ChangedCash] | None = None) -> list[str]:
    """The same, as lines for a command that only reads (status, the leaderboard), whose figures count from the new
    cash; `changed`: `changed_cash`, when the caller has it already."""
    label = file_label(app.loaded.source, "accounts.yaml")
    return [
        f"{label}: {p.path}: {p.message} (got {p.value:,.2f}); the figures here count from {p.value:,.2f}"
        for p in cash_problems(app, events, changed)
    ]
