"""The breaker through the commands: a halted account's checkpoint EXIT and REDUCE go out, its FLIP
only closes (the table says so), and a halted account's week pick is kept as a shadow trade."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app.outcomes import order_refusals
from llmtrade.app.results import CheckpointAccount, CheckpointResult, Usage
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.commands.render.week import print_checkpoint
from llmtrade.config.loader import load_config
from llmtrade.console import Output
from llmtrade.domain.checkpoints import Checkpoint, OrderBlocked
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import (
    Fill,
    Order,
    OrderRejected,
    OrderResult,
    OrderStatus,
    OrderSubmitted,
    RiskVerdict,
    Side,
)
from llmtrade.risk.controls import evaluate_breaker, halted
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from tests.support import FIXED_NOW
from tests.test_week_lifecycle import PITCHES, week  # noqa: F401  (the scripted week: SPY opens 10% down)

runner = CliRunner()
CONFIG = load_config(None).config
WEEK = date(2026, 1, 7)


def _halt(url: str, *accounts: str) -> None:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        for account_id in accounts:
            losses = [
                Fill(
                    client_order_id=f"{account_id}-{n}-{side}",
                    account_id=account_id,
                    symbol="ZZZ",
                    side=side,
                    qty=1,
                    price=price,
                    filled_at=FIXED_NOW,
                )
                for n in range(CONFIG.risk.circuit_breaker.halt_consecutive_losses)
                for side, price in ((Side.BUY, 100.0), (Side.SELL, 99.0))
            ]
            evaluate_breaker(
                storage.events,
                account_id,
                starting_equity=100_000,
                equity=100_000,
                fills=losses,
                config=CONFIG.risk.circuit_breaker,
                week_id=None,
                run_id=None,
            )
            assert halted(storage.events, account_id)[0]


def _positions(monkeypatch: pytest.MonkeyPatch, at: str) -> dict[str, dict[str, int]]:
    monkeypatch.setenv("LLMTRADE_NOW", at)
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return {
        a["account_id"]: {p["symbol"]: p["qty"] for p in a["positions"]} for a in json.loads(result.stdout)["accounts"]
    }


def test_a_halted_accounts_checkpoint_exit_and_reduce_go_out_and_its_flip_only_closes(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    before = _positions(monkeypatch, "2026-01-07T12:00:00-05:00")
    gld = before["acct_3"]["GLD"]
    _halt(url, "acct_1", "acct_2", "acct_3")  # SPY (EXIT by rule), TLT (FLIP), GLD (REDUCE)

    result = runner.invoke(app, ["checkpoint", "12:00"])
    assert result.exit_code == 0, result.output
    table = " ".join(result.stdout.split())
    assert "FLIP cut to +0 (halted: may only reduce)" in table
    after = _positions(monkeypatch, "2026-01-07T12:05:00-05:00")
    assert after["acct_1"] == {}  # the halted account's stop-loss EXIT was sent
    assert after["acct_2"] == {}  # the FLIP's close went; its open leg did not
    assert after["acct_3"] == {"GLD": gld // 2}  # REDUCE reduces
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        assert storage.events.read(type="OrderBlocked") == []
        shadow = [e.payload for e in storage.events.read(type="ShadowTraded", account_id="acct_2")]
        assert [(s["fill"]["symbol"], s["fill"]["side"]) for s in shadow] == [("TLT", "sell")]  # the short it wanted


def test_a_halted_account_opens_nothing_and_its_week_pick_is_a_shadow_trade(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, _ = week
    _halt(url, "acct_3")
    report = json.loads(runner.invoke(app, ["run-weekly", "--json"]).stdout)
    acct_3 = next(v for v in report["risk"] if v["account_id"] == "acct_3")
    assert acct_3["approved"] is False and acct_3["target_qty"] == 0
    assert not [o for o in report["orders"] if o["account_id"] == "acct_3"]
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        [shadow] = [e.payload for e in storage.events.read(type="ShadowTraded", account_id="acct_3")]
        assert shadow["fill"]["symbol"] == "GLD" and shadow["fill"]["side"] == "buy" and shadow["fill"]["qty"] > 0
        assert shadow["source"] == "week 2026-01-07"
    assert runner.invoke(app, ["run-weekly", "--json"]).exit_code == 0  # a rerun records no second shadow
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        assert len(storage.events.read(type="ShadowTraded", account_id="acct_3")) == 1
    status = runner.invoke(app, ["status"])
    assert "(0 trades)" in status.stdout


def _account(action: str, orders: list[Order], refused: dict[str, str], verdict: RiskVerdict) -> CheckpointAccount:
    checkpoint = Checkpoint(
        checkpoint_id="c1",
        week_id=WEEK,
        day=WEEK,
        time="12:00",
        account_id="acct_1",
        instrument="SPY",
        conviction_before=2,
        conviction_after=-1 if action == "FLIP" else 0,
        action=action,  # type: ignore[arg-type]
        reason_delta="why",
        indicators_snapshot={},
        invalidation_triggered=False,
        decided_by="owner",
    )
    return CheckpointAccount(
        account_id="acct_1", skipped=None, checkpoint=checkpoint, verdict=verdict, orders=orders, refused=refused
    )


def test_the_checkpoint_table_says_when_a_move_was_refused_or_not_sent() -> None:
    def order(name: str, side: Side, qty: int) -> Order:
        return Order(
            client_order_id=name, account_id="acct_1", week_id=WEEK, symbol="SPY", side=side, qty=qty, intent=name
        )

    def verdict(approved: bool, reason: str) -> RiskVerdict:
        return RiskVerdict(
            account_id="acct_1",
            instrument="SPY",
            target_qty=0,
            approved=approved,
            reason=reason,
            price=1,
            adjustments=[],
        )

    close, reopen = order("close", Side.SELL, 10), order("open", Side.SELL, 16)
    blocked = {"open": "circuit breaker: 10 consecutive losing trades; a halted account may only reduce or close"}
    report = CheckpointResult(
        run_id="r",
        week_id=WEEK,
        day=WEEK,
        time="12:00",
        mode="offline",
        dry_run=False,
        repeated=False,
        accounts=[
            _account("EXIT", [close], {"close": "kill switch: maintenance"}, verdict(True, "flat")),
            _account("FLIP", [close, reopen], blocked, verdict(True, "short")),
            _account("EXIT", [], {}, verdict(False, "price: price 0 for SPY is not a positive number")),
        ],
        usage=Usage(calls=0, prompt_tokens=0, completion_tokens=0, cost_usd=0, unpriced_calls=0),
        duration_ms=1,
    )
    stream = io.StringIO()
    print_checkpoint(Output(stream=stream, force_plain=True), report)
    rows = [line.split("\t") for line in stream.getvalue().splitlines() if line.startswith("acct_1")]
    assert [row[2] for row in rows] == ["EXIT NOT SENT", "FLIP (partly not sent)", "EXIT REFUSED (price)"]
    assert rows[0][5] == "sell 10 SPY NOT SENT (kill switch: maintenance)"
    assert rows[1][5].startswith("sell 10 SPY; sell 16 SPY NOT SENT (circuit breaker: 10 consecutive")


def test_order_refusals_are_the_weeks_blocked_and_rejected_orders_not_sent_since(storage: Storage) -> None:
    def order(name: str) -> Order:
        return Order(
            client_order_id=name, account_id="acct_1", week_id=WEEK, symbol="SPY", side=Side.SELL, qty=1, intent="x"
        )

    stream = week_stream(WEEK, ORDERS)
    payloads = [
        OrderBlocked(client_order_id="a", account_id="acct_1", reason="kill switch: off"),
        OrderRejected(order=order("b"), broker="alpaca", reason="insufficient qty available"),
        OrderBlocked(client_order_id="c", account_id="acct_1", reason="kill switch: off"),
        OrderSubmitted(
            order=order("c"), broker="paper", result=OrderResult(client_order_id="c", status=OrderStatus.FILLED)
        ),
    ]
    # Read after each append, as after each checkpoint: each read folds what is new onto the last one's answer.
    expected = [
        {"a": "kill switch: off"},
        {"a": "kill switch: off", "b": "insufficient qty available"},
        {"a": "kill switch: off", "b": "insufficient qty available", "c": "kill switch: off"},
        {"a": "kill switch: off", "b": "insufficient qty available"},
    ]
    for payload, refused in zip(payloads, expected, strict=True):
        storage.events.append([NewEvent.of(payload, stream=stream, week_id=WEEK)])
        assert order_refusals(storage.events, WEEK) == refused
    answer = order_refusals(storage.events, WEEK)
    answer["x"] = "changed by the caller"  # the caller's own dict: the next answer is not changed by it
    assert order_refusals(storage.events, WEEK) == expected[-1]


def test_a_halted_accounts_next_week_closes_what_it_holds_when_it_picks_another_instrument(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    assert _positions(monkeypatch, "2026-01-07T12:00:00-05:00")["acct_1"]["SPY"] > 0
    _halt(url, "acct_1")
    monkeypatch.setitem(PITCHES, "openai/gpt-5.1", ("QQQ", 2))  # the next week it picks something else
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    report = json.loads(runner.invoke(app, ["run-weekly", "--json"]).stdout)
    acct_1 = next(v for v in report["risk"] if v["account_id"] == "acct_1")
    assert acct_1["instrument"] == "QQQ" and acct_1["approved"] is False
    [close] = [o for o in report["orders"] if o["account_id"] == "acct_1"]
    assert (close["symbol"], close["side"], close["intent"]) == ("SPY", "sell", "close")  # the roll still closes
    assert close["status"] == "accepted"  # sent, queued for the open (the test's prices end the day before)
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        [shadow] = [e.payload["fill"] for e in storage.events.read(type="ShadowTraded", account_id="acct_1")]
        assert (shadow["symbol"], shadow["side"]) == ("QQQ", "buy")
