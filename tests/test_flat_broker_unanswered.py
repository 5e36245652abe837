"""A FLAT baseline account on Alpaca whose broker does not answer the weekly run's look. It never trades, yet its
BrokerUnavailable stopped the whole run (exit 75) at every wake-up until Alpaca answered: no account traded its week.
Now it is held alone, as a trading account whose broker does not answer is (AccountWeekHeld, said and alerted), the
others trade their week, and it is not valued at the week's start until its broker answers (no valuation made up for a
look that did not happen): the week's next run asks again, values it then, and ends its hold. The real alpaca-py client
against the loopback fake, every request of the account answered 503 as Alpaca's gateway does when it is down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.account_events import AccountWeekHeld
from llmtrade.errors import BrokerUnavailable, TemporaryError
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.week_gate import WeekGate
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.support import going_live, stored_events
from tests.test_reconciliation import CONFIG
from tests.test_week_lifecycle import scripted, write_market

runner = CliRunner()
FLAT = "acct_6"
KEY, SECRET = "flat-key", "flat-secret"


@pytest.fixture
def flat_on_alpaca(wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeAlpacaServer]:
    """The packaged accounts, the FLAT baseline's on Alpaca (the loopback fake), the others on the paper broker; the
    scripted week on CSV prices (an Alpaca account is not run on the synthetic market)."""
    closes = write_market(tmp_path / "csv")
    folder = tmp_path / "config"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    accounts = folder / "accounts.yaml"
    keys = "role: flat, alpaca: {key_env: ALPACA_ACCT_6_KEY, secret_env: ALPACA_ACCT_6_SECRET}}"
    accounts.write_text(accounts.read_text().replace("role: flat}", keys))
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(folder))
    with (
        going_live(monkeypatch, scripted(closes), market=tmp_path / "csv"),
        FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server,
    ):
        for symbol, close in closes.items():
            server.set_price(symbol, close)
        monkeypatch.setenv("LLMTRADE_ALPACA_URL", server.base_url)
        monkeypatch.setenv("ALPACA_ACCT_6_KEY", KEY)
        monkeypatch.setenv("ALPACA_ACCT_6_SECRET", SECRET)
        yield server


def _week_start(url: str) -> set[str]:
    return {
        e.payload["account_id"]
        for e in stored_events(url, type="AccountValued")
        if e.payload["occasion"] == "week start"
    }


def test_a_flat_baseline_whose_broker_does_not_answer_holds_only_itself(
    flat_on_alpaca: FakeAlpacaServer, wednesday_week: str
) -> None:
    url = wednesday_week
    flat_on_alpaca.fail_route("GET", r"/v2/.*", 503, times=10_000)

    done = runner.invoke(app, ["run-weekly"])

    assert done.exit_code == 0, done.output  # before: 75, no account's week traded
    planned = {e.payload["account_id"] for e in stored_events(url, type="OrdersPlanned")}
    assert planned == {"acct_1", "acct_2", "acct_3", "acct_4", "acct_5"}
    [held] = [e.payload for e in stored_events(url, type="AccountWeekHeld")]
    assert held["account_id"] == FLAT and held["orders"] == []
    assert "its broker did not answer" in held["reason"] and "not valued at the week's start" in held["reason"]
    assert held["reason"] in done.stderr  # said by the run, as recorded
    assert FLAT not in _week_start(url)  # not valued from a look that did not happen (nor at zero)

    flat_on_alpaca.reset()  # Alpaca answers again: the week's next run values it and ends its hold
    again = runner.invoke(app, ["run-weekly"])
    assert again.exit_code == 0, again.output
    assert FLAT in _week_start(url)
    [ended] = [e.payload for e in stored_events(url, type="OrdersPlanned") if e.payload["account_id"] == FLAT]
    assert ended["orders"] == []  # nothing to send: the FLAT baseline never trades
    assert flat_on_alpaca.count("POST", "/v2/orders") == 0
    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0 and "held back" not in status.stdout


def test_the_flat_baseline_held_beside_accounts_waiting_for_their_orders_is_not_named_nor_waited_for(
    storage: Storage,
) -> None:
    gate = WeekGate([], CONFIG, storage.events, date(2026, 1, 7))
    down = BrokerUnavailable("alpaca did not answer (HTTP 503)")
    gate.unanswered = {FLAT: down}
    gate.held = {
        FLAT: AccountWeekHeld(account_id=FLAT, broker="alpaca", orders=[], canceling=[], reason="flat"),
        "acct_1": AccountWeekHeld(account_id="acct_1", broker="paper", orders=["lt-x"], canceling=[], reason="x"),
    }
    with pytest.raises(TemporaryError) as waits:
        gate.wait_for_queued(["acct_1"])  # every account that trades held for its orders: the week waits for them
    assert not isinstance(waits.value, BrokerUnavailable)  # not the FLAT baseline's broker failure
    assert str(waits.value).startswith("account acct_1 still has orders queued (lt-x): they fill at")
    assert FLAT not in str(waits.value)

    del gate.held["acct_1"]
    gate.wait_for_queued([])  # a config of the FLAT baseline alone: held, nothing waits (as before, when not held)
