"""Brokers are chosen by name through one registry, with the rules build_desks had, and nobody else
knows a broker's class."""

from __future__ import annotations

import ast
import unicodedata
from pathlib import Path

import pytest

import llmtrade
from llmtrade.brokers.protocol import Broker
from llmtrade.brokers.registry import FACTORIES, broker_name, open_broker
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.config.models import Account, BrokerKind, Config
from llmtrade.errors import OperationalError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage
from tests.support import FIXED_NOW

PACKAGE = Path(llmtrade.__file__).parent
KEYS = {"alpaca": {"key_env": "ALPACA_REG_KEY", "secret_env": "ALPACA_REG_SECRET"}}
# Call sites owned by the pipeline and app work packages, which switch them to plain protocol calls.


class NoPrices:
    def opening_price(self, symbol: str, day: object) -> float | None:
        return None


def _account(broker: BrokerKind, *, keys: bool = True) -> Account:
    return Account.model_validate({"id": "acct_r", "role": "pm", "broker": broker.value, **(KEYS if keys else {})})


def _config() -> Config:
    return load_config().config


def _open(account: Account, storage: Storage, *, live: bool) -> Broker:
    return open_broker(
        account,
        live=live,
        settings=Settings(),
        config=_config(),
        events=storage.events,
        clock=FixedClock(FIXED_NOW),
        calendar=TradingCalendar(),
        prices=NoPrices(),
    )


def _set_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_REG_KEY", "k")
    monkeypatch.setenv("ALPACA_REG_SECRET", "s")


def test_every_broker_kind_but_auto_has_a_factory() -> None:
    assert set(FACTORIES) == {k.value for k in BrokerKind} - {BrokerKind.AUTO.value}


@pytest.mark.parametrize("kind", list(BrokerKind))
def test_an_offline_run_always_gets_paper_even_with_keys(
    kind: BrokerKind, monkeypatch: pytest.MonkeyPatch, storage: Storage
) -> None:
    _set_keys(monkeypatch)
    account = _account(kind)

    assert broker_name(account, live=False, settings=Settings()) == "paper"
    assert _open(account, storage, live=False).name == "paper"


@pytest.mark.parametrize(
    ("kind", "keys_set", "expected"),
    [
        (BrokerKind.AUTO, True, "alpaca"),
        (BrokerKind.AUTO, False, "paper"),
        (BrokerKind.ALPACA, True, "alpaca"),
        (BrokerKind.PAPER, True, "paper"),
    ],
)
def test_a_live_run_gets_alpaca_when_the_account_allows_it_and_its_keys_are_set(
    kind: BrokerKind, keys_set: bool, expected: str, monkeypatch: pytest.MonkeyPatch, storage: Storage
) -> None:
    if keys_set:
        _set_keys(monkeypatch)
    account = _account(kind)

    broker = _open(account, storage, live=True)

    assert (broker.name, broker.account_id) == (expected, "acct_r")


def test_broker_alpaca_in_a_live_run_without_keys_names_the_variables(storage: Storage) -> None:
    with pytest.raises(OperationalError, match="acct_r uses broker alpaca but ALPACA_REG_KEY / ALPACA_REG_SECRET"):
        _open(_account(BrokerKind.ALPACA), storage, live=True)


def test_the_paper_broker_gets_the_configured_shortable_universe(storage: Storage) -> None:
    broker = _open(_account(BrokerKind.PAPER), storage, live=False)
    config = _config()
    not_shortable = [i.symbol for i in config.assets.universe if not i.shortable]

    assert all(broker.is_shortable(i.symbol) for i in config.assets.universe if i.shortable)
    assert not any(broker.is_shortable(s) for s in not_shortable)
    assert broker.is_shortable("NOSUCH") is False


def test_no_module_outside_the_brokers_own_and_the_registry_imports_a_broker_class() -> None:
    own = {"brokers/paper.py", "brokers/alpaca.py", "brokers/registry.py"}
    importers = set()
    for path in PACKAGE.rglob("*.py"):
        name = path.relative_to(PACKAGE).as_posix()
        text = path.read_text()
        # Only a module naming a broker class can import one: parsed alone, not all ~500 (1.4 s of CPU). NFKC, as
        # Python reads identifiers: a look-alike spelling is still parsed.
        if not any(word in unicodedata.normalize("NFKC", text) for word in ("PaperBroker", "AlpacaBroker")):
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and any(a.name in ("PaperBroker", "AlpacaBroker") for a in node.names):
                importers.add(name)
    assert importers - own == set()
