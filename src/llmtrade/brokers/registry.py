"""Brokers by name: accounts.yaml says `broker: paper | alpaca | auto`; one registry of factories builds them.

The rules for which broker an account gets live here and nowhere else:
- an offline run always gets paper, whatever the config says (an offline run never touches a live account);
- a live run gets Alpaca when the account's broker is alpaca or auto and its keys are set; auto without
  keys is paper;
- broker alpaca in a live run without keys is refused as accounts.yaml's error (`unset_keys_problems`) before
  any broker is opened; `broker_name` raises an OperationalError naming the variables where that was not asked.

Adding a broker is one module, one line in FACTORIES (and a BrokerKind value), and a fixture for the
contract suite (a Venue in tests/brokers/venues.py). No code outside its module and this one knows its class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from llmtrade.brokers.paper import PaperBroker
from llmtrade.brokers.paper_opens import OpeningPrices
from llmtrade.brokers.protocol import Broker
from llmtrade.clock import Clock
from llmtrade.config.models import Account, AccountsConfig, BrokerKind, Config
from llmtrade.config_errors import ConfigProblem
from llmtrade.errors import OperationalError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.daily_bars import DailyBars
from llmtrade.market.held_prices import prices_ended
from llmtrade.market.quote_provider import QuoteSource
from llmtrade.memo import IdentityMemo
from llmtrade.settings import Settings
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits


@dataclass(frozen=True)
class BrokerContext:
    """Everything a factory may need to build one account's broker."""

    account: Account
    settings: Settings
    config: Config
    events: EventStore
    clock: Clock
    calendar: TradingCalendar
    prices: OpeningPrices
    quotes: QuoteSource | None = None  # prices now, for paper fills in session
    # The daily feed: says when a symbol's prices ended for good, so a paper order that can never fill expires.
    market: DailyBars | None = None


Factory = Callable[[BrokerContext], Broker]


def _paper(ctx: BrokerContext) -> Broker:
    return PaperBroker(
        ctx.account.id,
        starting_cash=ctx.account.starting_cash,
        events=ctx.events,
        clock=ctx.clock,
        calendar=ctx.calendar,
        prices=ctx.prices,
        slippage_bps=ctx.config.accounts.paper.slippage_bps,
        commission_per_order=ctx.config.accounts.paper.commission_per_order,
        shortable=_shortable(ctx.config),
        quotes=ctx.quotes,
        ended=partial(prices_ended, ctx.market) if ctx.market is not None else None,
    )


# The symbols a config's universe lets a paper account short, per config object (a config is never changed): a job
# builds a broker per account, each asked the universe.
_SHORTABLE: IdentityMemo[Config, frozenset[str]] = IdentityMemo(64)


def _shortable(config: Config) -> frozenset[str]:
    return _SHORTABLE.of(config, _shortable_symbols)


def _shortable_symbols(config: Config) -> frozenset[str]:
    return frozenset(i.symbol for i in config.assets.universe if i.shortable)


def _alpaca(ctx: BrokerContext) -> Broker:
    # The module is cheap to import (alpaca-py itself loads on first use), but only live runs need it.
    from llmtrade.brokers.alpaca import AlpacaBroker

    key, secret = _keys(ctx.account, ctx.settings)
    if not (key and secret):
        raise OperationalError(_missing_keys(ctx.account))
    return AlpacaBroker(
        ctx.account.id,
        key,
        secret,
        url_override=ctx.settings.alpaca_url,
        timeout_seconds=ctx.config.accounts.alpaca.request_timeout_seconds,
        live_trading_enabled=ctx.config.risk.live_trading_enabled,
        # The splits recorded, the only ones that explain an order found under our id for other shares than sent.
        splits=partial(recorded_splits, ctx.events),
    )


FACTORIES: dict[str, Factory] = {
    BrokerKind.PAPER.value: _paper,
    BrokerKind.ALPACA.value: _alpaca,
}


def broker_name(account: Account, *, live: bool, settings: Settings) -> str:
    """The registry name of the broker this account gets in this run (see the module docstring)."""
    if not live or account.broker is BrokerKind.PAPER:
        return BrokerKind.PAPER.value
    key, secret = _keys(account, settings)
    if account.broker is BrokerKind.AUTO:
        return BrokerKind.ALPACA.value if key and secret else BrokerKind.PAPER.value
    if account.broker is BrokerKind.ALPACA and not (key and secret):
        raise OperationalError(_missing_keys(account))
    return account.broker.value


def open_broker(
    account: Account,
    *,
    live: bool,
    settings: Settings,
    config: Config,
    events: EventStore,
    clock: Clock,
    calendar: TradingCalendar,
    prices: OpeningPrices,
    quotes: QuoteSource | None = None,
    market: DailyBars | None = None,
) -> Broker:
    """The account's broker for this run, built by the factory registered under its name."""
    name = broker_name(account, live=live, settings=settings)
    factory = FACTORIES.get(name)
    if factory is None:
        raise OperationalError(f"account {account.id}: no broker is registered as {name!r} ({', '.join(FACTORIES)})")
    return factory(BrokerContext(account, settings, config, events, clock, calendar, prices, quotes, market))


def keys_unset(account: Account, settings: Settings) -> bool:
    """Whether `account` is set to broker alpaca and its keys are not both set: a live run cannot open its broker."""
    if account.broker is not BrokerKind.ALPACA:
        return False
    key, secret = _keys(account, settings)
    return not (key and secret)


def unset_keys_problems(accounts: AccountsConfig, settings: Settings) -> list[ConfigProblem]:
    """accounts.yaml's accounts set to `broker: alpaca` whose keys are not set, for a live run (offline, every account
    trades on the paper broker). Refused before a job begins (app/config_books.py) and before any command opens the
    brokers (Container.desks): every job, `status` too, stopped at the first with exit 1 and `_missing_keys`, naming
    neither the file nor the setting, while `config validate` said OK (a new user's trial)."""
    return [
        ConfigProblem(
            f"accounts[{i}].broker",
            f"is alpaca, but {account.alpaca.key_env} and {account.alpaca.secret_env} (its alpaca.key_env and "
            "alpaca.secret_env) are not set in the environment or .env: set them, or write broker: auto to trade "
            f"{account.id} on the paper broker until they are",
            account.broker.value,
        )
        for i, account in enumerate(accounts.accounts)
        if account.alpaca is not None and keys_unset(account, settings)
    ]


def _keys(account: Account, settings: Settings) -> tuple[str | None, str | None]:
    keys = account.alpaca
    if keys is None:
        return None, None
    return settings.secret(keys.key_env), settings.secret(keys.secret_env)


def _missing_keys(account: Account) -> str:
    keys = account.alpaca
    return (
        f"account {account.id} uses broker alpaca but {keys.key_env if keys else '?'} / "
        f"{keys.secret_env if keys else '?'} are not set"
    )
