"""The configuration checked against the books: what every job checks before it runs (commands/context.py `job`), and
`config validate` with it (commands/setup.py), from this one list.

A new user's trial changed acct_1's starting_cash after its first week: `config validate` said "configuration OK" and
then every job refused the change (exit 2). README's way is to edit the files and run `config validate`: a check a job
makes of the files against the books that validate does not make is an OK the next wake-up takes back. A new check of
this kind goes in `books_errors` (a refusal) or `books_notes` (said, never refused), and both commands run it.
"""

from __future__ import annotations

from llmtrade.app.container import Container
from llmtrade.app.orphaned_positions import orphan_line, orphaned_holdings
from llmtrade.app.starting_cash import cash_problems
from llmtrade.app.week_mode import next_week_refused
from llmtrade.brokers.registry import unset_keys_problems
from llmtrade.config.loader import file_label
from llmtrade.config_errors import ConfigError
from llmtrade.storage.event_store import EventStore

# What `books_errors` checks, as `config validate` names it when it could not ask the books.
CHECKED = "each account's starting_cash against what its books began with"


def books_errors(app: Container, events: EventStore) -> list[ConfigError]:
    """Each file the books refuse, with its problems: a job meeting one stops (exit 2, ConfigRejected)."""
    problems = cash_problems(app, events)
    if app.trading_is_live(events):
        problems = unset_keys_problems(app.loaded.config.accounts, app.settings) + problems
    return [ConfigError(file_label(app.loaded.source, "accounts.yaml"), problems)] if problems else []


def keys_errors(app: Container, *, live: bool) -> list[ConfigError]:
    """The accounts set to `broker: alpaca` without their keys (brokers/registry.py `unset_keys_problems`) when
    trading `live`, as accounts.yaml's error: what a home with no books yet is told by `config validate` too."""
    problems = unset_keys_problems(app.loaded.config.accounts, app.settings) if live else []
    return [ConfigError(file_label(app.loaded.source, "accounts.yaml"), problems)] if problems else []


def books_notes(app: Container, events: EventStore) -> list[str]:
    """What the books say of the configuration that no job refuses yet: an account taken out of accounts.yaml while its
    books hold a position (run-due and status say it: nothing judges or closes it any more), and prices set of the
    other kind than the books' weeks (the next week's run refuses them: app/week_mode.py `next_week_refused`)."""
    gone = orphaned_holdings(events, {a.id for a in app.loaded.config.accounts.accounts})
    notes = [orphan_line(account, holding) for account, holding in gone.items()]
    return notes + list(filter(None, [next_week_refused(app, events)]))


def refuse_against_books(app: Container) -> None:
    """Raise ConfigError (exit 2) naming every file the books refuse: what a job command checks before it runs."""
    with app.storage(persist=False) as storage:
        errors = books_errors(app, storage.events)
    if errors:
        raise ConfigError.combine(errors)
