"""`positions settle` against what else moves the same books: two settles of one account and symbol at once (two
terminals, cron and a person), an order of the symbol still queued at the broker, a settlement killed between its fill
and its record and rerun in a later week, the account's valuation after the settlement's fill, a price that is no
number.

The scripted week of tests/test_positions_settle_ended.py: acct_3 holds GLD, whose CSV file stops after 2026-01-07.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app import settle_ended
from llmtrade.app.container import Container
from llmtrade.app.position_results import PositionSettled
from llmtrade.brokers.order_plan import client_order_id
from llmtrade.cli import app
from llmtrade.clock import make_clock
from llmtrade.config.loader import load_config
from llmtrade.config.rules import Environment
from llmtrade.domain.trading import Order, OrderStatus, Side
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import TemporaryError
from llmtrade.market.calendar import new_york_date
from llmtrade.settings import load_settings
from tests.support import stored_events
from tests.test_positions_settle_ended import _gld_ended
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()


def _by_hand() -> Container:
    """The container `llmtrade positions settle` builds (commands/context.py `container`), from the environment."""
    settings = load_settings()
    loaded = load_config(settings.config_dir, environment=Environment(csv_dir_elsewhere=True))
    clock = make_clock(settings.now)
    return Container(settings, loaded, clock, settings.config_dir, lambda _t: None, invoked_as="settle", by_hand=True)


def _with_cid(url: str, kind: str, cid: str) -> list[Any]:
    key = "fill" if kind == "OrderFilled" else "order"
    return [e for e in stored_events(url, type=kind) if e.payload[key]["client_order_id"] == cid]


def test_two_settles_at_once_send_one_order_and_the_second_sees_the_first(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = _gld_ended(week, monkeypatch, tmp_path)
    # Both runs are held where each has looked the order up at the broker (not there yet) and reads the position to
    # close, until the other one is there too or has ended: the window two terminals (or cron and a person) share.
    real_look = settle_ended.look_now
    meeting = threading.Condition()
    counts = {"there": 0, "ended": 0}

    def look_now(*args: Any, **kwargs: Any) -> Any:
        with meeting:
            counts["there"] += 1
            meeting.notify_all()
            meeting.wait_for(lambda: counts["there"] + counts["ended"] >= 2, timeout=5)
        return real_look(*args, **kwargs)

    monkeypatch.setattr(settle_ended, "look_now", look_now)
    answers: list[PositionSettled | BaseException] = []

    def settle() -> None:
        try:
            answers.append(settle_ended.settle(_by_hand(), "acct_3", "GLD"))
        except BaseException as exc:  # the answer is checked below
            answers.append(exc)
        finally:
            with meeting:
                counts["ended"] += 1
                meeting.notify_all()

    runs = [threading.Thread(target=settle) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=30)
    assert len(answers) == 2, answers
    settled = [a for a in answers if isinstance(a, PositionSettled) and not a.earlier]
    assert len(settled) == 1, answers  # one run closed the position; the other did not close it again
    [other] = [a for a in answers if a is not settled[0]]
    if isinstance(other, PositionSettled):  # it ran after the first had ended: it answers what the first did
        assert other.earlier and other.client_order_id == settled[0].client_order_id
    else:  # it ran while the first held the week's lock: told so, exit 75, to run it again
        assert isinstance(other, TemporaryError), other
        assert "another positions settle for week 2026-01-14 is running" in str(other)
        assert "positions settle acct_3 GLD again" in str(other)
    cid = settled[0].client_order_id
    assert len(_with_cid(url, "PaperOrderAccepted", cid)) == 1  # one order at the broker
    assert len(_with_cid(url, "OrderSubmitted", cid)) == 1  # recorded once
    assert len(_with_cid(url, "OrderFilled", cid)) == 1


def _queue_gld_sell(monkeypatch: pytest.MonkeyPatch, at: str, qty: int) -> str:
    """acct_3's paper order selling `qty` GLD sent at `at` (New York), queued for the next open: a close llmtrade sent
    before GLD's prices were taken as ended (a checkpoint before the open). Its client_order_id."""
    monkeypatch.setenv("LLMTRADE_NOW", at)
    app = _by_hand()
    with app.storage() as storage:
        market = app.market(storage, live=app.trading_is_live(storage.events), record=False)
        [desk] = [d for d in app.desks(storage, market, live=True) if d.account.id == "acct_3"]
        now = app.clock.now()
        cid = client_order_id(week_id_for(new_york_date(now)), "acct_3", "GLD", f"exit-{now:%d%H%M}")
        order = Order(
            client_order_id=cid,
            account_id="acct_3",
            week_id=week_id_for(new_york_date(now)),
            symbol="GLD",
            side=Side.SELL,
            qty=qty,
            intent="exit",
        )
        assert desk.broker.submit(order).status is OrderStatus.ACCEPTED  # queued for the open
    return cid


def test_a_settle_with_an_order_in_the_symbol_queued_at_the_broker_closes_nothing_twice(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A close queued for a session to come: settling too would sell the shares it sells once more if its open came
    (the file was only late), leaving the account short. Refused (exit 75) naming the order, nothing sent."""
    url = _gld_ended(week, monkeypatch, tmp_path)
    queued = _queue_gld_sell(monkeypatch, "2026-01-14T18:00:00-05:00", 10)  # for Thursday's open
    refused = runner.invoke(app, ["positions", "settle", "acct_3", "GLD"])
    assert refused.exit_code == 75, refused.output
    assert f"sell 10 GLD ({queued})" in refused.stderr and "is open at paper" in refused.stderr
    assert not [
        e for e in stored_events(url, type="PaperOrderAccepted") if "-settle" in e.payload["order"]["client_order_id"]
    ]


def test_a_settle_first_has_the_broker_end_a_queued_order_whose_open_never_came(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A close queued for a session already over without GLD's open, not yet looked at by a job: the broker expires it
    (recorded, as a job's look records it) before the settlement closes the whole position, so no open arriving late
    fills it on top of the settlement."""
    url = _gld_ended(week, monkeypatch, tmp_path)
    stuck = _queue_gld_sell(monkeypatch, "2026-01-14T08:00:00-05:00", 10)  # for Wednesday's open, which never came
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T18:00:00-05:00")
    done = runner.invoke(app, ["positions", "settle", "acct_3", "GLD", "--json"])
    assert done.exit_code == 0, done.output
    [ended] = [e for e in stored_events(url, type="QueuedOrderCanceled") if e.payload["client_order_id"] == stuck]
    assert ended.payload["reason"].startswith("expired unfilled: GLD has no opening price on 2026-01-14")
    assert f"order {stuck} was ended unfilled by paper" in done.stderr
    assert json.loads(done.stdout)["qty"] > 10  # the whole position, none of it left to the expired order


def test_a_price_that_is_no_finite_number_is_refused_as_bad_input(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = _gld_ended(week, monkeypatch, tmp_path)
    for given in ("inf", "nan"):
        bad = runner.invoke(app, ["positions", "settle", "acct_3", "GLD", "--price", given])
        assert bad.exit_code == 2, bad.output
        assert "--price must be a finite number above 0" in bad.stderr and "Traceback" not in bad.output
    assert not [e for e in stored_events(url, type="PaperOrderAccepted") if e.payload["order"]["symbol"] == "GLD"][1:]


def test_the_account_is_valued_after_the_settlement_and_its_breaker_sees_the_trade(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As execution values an account after every fill: a cash-out under the cost is a losing trade the circuit breaker
    counts (a drawdown past its limit would halt the account and cancel its queued opening orders before their open),
    and the latest AccountValued (the metrics' equity, the drawdown alert) is the account after the settlement."""
    url = _gld_ended(week, monkeypatch, tmp_path)
    done = runner.invoke(app, ["positions", "settle", "acct_3", "GLD", "--price", "100", "--json"])
    assert done.exit_code == 0, done.output
    cid = json.loads(done.stdout)["client_order_id"]
    [filled] = _with_cid(url, "OrderFilled", cid)
    after = [e for e in stored_events(url, type="AccountValued") if e.account_id == "acct_3" and e.id > filled.id]
    assert [e.payload["occasion"] for e in after] == ["after fill"]
    status = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    [acct] = [a for a in status["accounts"] if a["account_id"] == "acct_3"]
    assert after[0].payload["cash"] == pytest.approx(acct["cash"], abs=0.01)
    assert after[0].payload["equity"] == pytest.approx(acct["equity"], abs=0.01)
    breaker = [e for e in stored_events(url, type="BreakerUpdated") if e.payload["state"]["account_id"] == "acct_3"]
    assert breaker and breaker[-1].id > filled.id
    assert breaker[-1].payload["state"]["consecutive_losses"] == 1  # bought near 273, settled at 100


def test_a_settlement_without_prices_to_value_the_account_at_is_done_and_says_the_valuation_waits(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Never valued at a made-up price (its cost): the settlement stands, and the next job values the account."""
    url = _gld_ended(week, monkeypatch, tmp_path)

    def unreachable(*_: object, **__: object) -> None:
        raise TemporaryError("the CSV folder is out of reach")

    monkeypatch.setattr(settle_ended, "closes_with_held", unreachable)
    done = runner.invoke(app, ["positions", "settle", "acct_3", "GLD"])
    assert done.exit_code == 0, done.output
    assert "acct_3 was not valued after the settlement: its next weekly run or checkpoint values it" in done.stderr
    assert "the CSV folder is out of reach" in done.stderr
    [filled] = [e for e in stored_events(url, type="OrderFilled") if e.payload["fill"]["symbol"] == "GLD"][-1:]
    assert not [e for e in stored_events(url, type="AccountValued") if e.id > filled.id]


def test_a_settlement_killed_before_its_record_and_rerun_in_the_next_week_is_recorded_in_its_own_week(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The order was sent, and filled, on Tuesday (week 2026-01-07); the rerun after the kill is on Wednesday: the
    order is recorded in the week it was sent and filled in, as its fill and the broker's ledger hold it."""
    url = _gld_ended(week, monkeypatch, tmp_path)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T18:00:00-05:00")  # Tuesday, after the postmortem
    with monkeypatch.context() as killed:

        def dies(*_: object) -> None:
            raise KeyboardInterrupt  # the process killed between the broker's fill and its record

        killed.setattr(settle_ended, "_record", dies)
        assert runner.invoke(app, ["positions", "settle", "acct_3", "GLD"]).exit_code != 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T18:00:00-05:00")  # the next week's Wednesday
    done = runner.invoke(app, ["positions", "settle", "acct_3", "GLD", "--json"])
    assert done.exit_code == 0, done.output
    settled = json.loads(done.stdout)
    assert settled["earlier"]
    cid = settled["client_order_id"]
    [filled] = _with_cid(url, "OrderFilled", cid)
    [accepted] = _with_cid(url, "PaperOrderAccepted", cid)
    [submitted] = _with_cid(url, "OrderSubmitted", cid)
    assert str(filled.week_id) == str(accepted.payload["order"]["week_id"]) == "2026-01-07"
    assert submitted.payload["order"]["week_id"] == "2026-01-07" and str(submitted.week_id) == "2026-01-07"
    assert submitted.stream == "week:2026-01-07:orders"


def test_two_records_of_one_settlement_at_once_store_it_once(database_url: str) -> None:
    """Two settles started on either side of Wednesday 00:00 New York hold two weeks' locks, so the lock does not keep
    their records apart: both may look for the settlement's OrderSubmitted before either stores it. The record is
    appended at the orders stream's version read before that look, so the later one finds the first's and stores
    nothing (here the race is made certain: run b records while run a sits between its look and its append)."""
    from datetime import date

    from llmtrade.clock import FixedClock
    from llmtrade.domain.trading import OrderResult, OrderSubmitted
    from llmtrade.settings import Settings
    from llmtrade.storage.bootstrap import open_storage

    week_id = date(2026, 1, 14)
    cid = client_order_id(date(2026, 1, 7), "acct_3", "GLD", settle_ended.INTENT)
    order = Order(
        client_order_id=cid, account_id="acct_3", week_id=week_id, symbol="GLD", side=Side.SELL, qty=10, intent="exit"
    )
    submitted = OrderSubmitted(
        order=order,
        broker="paper",
        result=OrderResult(client_order_id=cid, status=OrderStatus.FILLED, filled_qty=10, fill_price=180.0),
    )
    clock = FixedClock(datetime(2026, 1, 14, 5, 0, 1, tzinfo=UTC))
    settings = Settings(DATABASE_URL=database_url)
    with open_storage(settings, clock) as a, open_storage(settings, clock) as b:
        looked = a.events.read

        def read_then_b_records(*args: Any, **kwargs: Any) -> Any:
            found = looked(*args, **kwargs)  # a has looked: no record yet
            if kwargs.get("type") == "OrderSubmitted" and not recorded_by_b:
                recorded_by_b.append(settle_ended._record(b.events, submitted))
            return found

        recorded_by_b: list[bool] = []
        a.events.read = read_then_b_records  # type: ignore[method-assign]
        assert settle_ended._record(a.events, submitted) is False  # b's record found on the second look
        assert recorded_by_b == [True]
    stored = stored_events(database_url, type="OrderSubmitted")
    assert [e.payload["order"]["client_order_id"] for e in stored] == [cid]
