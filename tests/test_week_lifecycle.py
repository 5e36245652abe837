"""The rest of the week on a real PostgreSQL: checkpoints (EXIT by invalidation rule, FLIP, REDUCE),
a repeated checkpoint, the postmortem, the circuit breaker and the kill switch.

Prices come from a CSV folder written here, so the checkpoint sees exactly the moves the test
wants; the models are scripted at the HTTP transport (respx), so each owner's answer is known.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.checkpoints import CheckpointTaken
from llmtrade.domain.market import QuoteFetched
from llmtrade.domain.trading import Fill, Side
from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.risk.controls import evaluate_breaker, halted
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.fakes.committee_answers import committee_answer, decision_for
from tests.support import FIXED_NOW, going_live

runner = CliRunner()
CONFIG = load_config(None).config
TUESDAY, WEDNESDAY = date(2026, 1, 6), date(2026, 1, 7)
AFTER_WEDNESDAY = [date(2026, 1, d) for d in (8, 9, 12, 13)]  # through the postmortem's session
PITCHES = {  # model -> (instrument, conviction)
    "openai/gpt-5.1": ("SPY", 2),
    "google/gemini-3-pro-preview": ("TLT", 2),
    "anthropic/claude-sonnet-4.5": ("GLD", 2),
    "x-ai/grok-4": ("QQQ", 1),
}
CHECKPOINT_ANSWERS = {  # the owners who are asked at 12:00
    "google/gemini-3-pro-preview": {"action": "FLIP", "conviction_after": -1, "reason_delta": "rates turned"},
    "anthropic/claude-sonnet-4.5": {"action": "REDUCE", "conviction_after": 1, "reason_delta": "momentum fading"},
    "x-ai/grok-4": {"action": "STAY", "conviction_after": 1, "reason_delta": "nothing changed"},
}


def write_market(folder: Path) -> dict[str, float]:
    """A year of the synthetic market to Tuesday, then Wednesday's bars: SPY opens 10% down; flat after."""
    classes = {i.symbol: i.asset_class.value for i in CONFIG.assets.universe}
    history = SyntheticMarket(classes, seed=11).daily_bars(list(classes), date(2025, 1, 1), TUESDAY)
    folder.mkdir()
    tuesday_close = {}
    for symbol, bars in history.items():
        last = bars[-1]
        tuesday_close[symbol] = last.close
        wed_open = last.close * (0.90 if symbol == "SPY" else 1.0)
        rows = [f"{b.day},{b.open},{b.high},{b.low},{b.close},{int(b.volume)}" for b in bars]
        rows.append(f"{WEDNESDAY},{wed_open},{max(wed_open, last.close)},{wed_open * 0.99},{wed_open},1000000")
        # Then flat through the postmortem's Tuesday: a stale file is refused (market/validation.py), and
        # flat bars leave every price the week is judged at where Wednesday's close put it.
        rows += [f"{day},{wed_open},{wed_open},{wed_open},{wed_open},1000000" for day in AFTER_WEDNESDAY]
        (folder / f"{symbol}.csv").write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
        write_intraday(folder, symbol, {day: wed_open for day in (WEDNESDAY, *AFTER_WEDNESDAY)})
    return tuesday_close


def write_intraday(folder: Path, symbol: str, prices: dict[date, float]) -> None:
    """`symbol`'s traded prices in each session of `prices`, every five minutes from the open to the close:
    a checkpoint in session trades at them (a symbol with daily prices only: at its open, filled at the close)."""
    lines = ["Timestamp,Price"]
    for day, price in sorted(prices.items()):
        opens = datetime.combine(day, time(9, 30), NEW_YORK)
        lines += [f"{(opens + timedelta(minutes=5 * k)).isoformat()},{price}" for k in range(79)]
    (folder / "intraday").mkdir(exist_ok=True)
    (folder / "intraday" / f"{symbol}.csv").write_text("\n".join(lines) + "\n")


def sync_intraday(folder: Path) -> None:
    """Each intraday file of `folder` made again from its daily file's rows from Wednesday on, at each session's open:
    for a test that rewrote or extended the daily files (a download's later days, a symbol's file cut short)."""
    for path in (folder / "intraday").glob("*.csv"):
        rows = (folder / path.name).read_text().splitlines()[1:]
        opens = {date.fromisoformat(r[:10]): float(r.split(",")[1]) for r in rows if r[:10] >= WEDNESDAY.isoformat()}
        write_intraday(folder, path.stem, opens)


def scripted(tuesday_close: dict[str, float]) -> Any:
    spy_stop = {"indicator": "close", "op": "<", "value": round(tuesday_close["SPY"] * 0.97, 2)}

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        reply = committee_answer(body)
        fmt = body.get("response_format", {}).get("json_schema", {})
        content = None
        if fmt.get("name") == "PitchAnswer":
            instrument, conviction = PITCHES[body["model"]]
            content = {
                "instrument": instrument,
                "horizon": "1w",
                "thesis_bullets": ["Trend up."],
                "indicators": [
                    {"name": "trend", "threshold": {"indicator": "return_4w", "op": ">", "value": -1.0}, "why": "x"}
                ],
                "invalidation": {
                    "text": "A 3% drop.",
                    "rule": spy_stop if instrument == "SPY" else {"indicator": "close", "op": "<", "value": 0.01},
                },
                "conviction": conviction,
            }
        elif fmt.get("name") == "DecisionAnswer":
            content = decision_for(fmt["schema"]) | {
                "selected_trade": {"instrument": "SPY", "horizon": "1w"},
                "invalidation": {"text": "A 3% drop.", "rule": spy_stop},
            }
        elif fmt.get("name") == "CheckpointDecision":
            scripted_move = CHECKPOINT_ANSWERS[body["model"]]
            content = {
                "move": {"action": scripted_move["action"], "conviction_after": scripted_move["conviction_after"]},
                "reason_delta": scripted_move["reason_delta"],
            }
        if content is not None:
            reply["choices"][0]["message"]["content"] = json.dumps(content)
        return reply

    return answer


@pytest.fixture
def week(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    closes = write_market(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    with going_live(monkeypatch, scripted(closes), market=tmp_path / "csv") as fake:
        yield fake, cli_env["DATABASE_URL"], closes


def _positions(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {a["account_id"]: {p["symbol"]: p["qty"] for p in a["positions"]} for a in report["accounts"]}


def _status(monkeypatch: pytest.MonkeyPatch, at: str) -> dict[str, Any]:
    monkeypatch.setenv("LLMTRADE_NOW", at)
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_scripted_week_exits_by_rule_flips_and_reduces(week: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, _, closes = week
    weekly = runner.invoke(app, ["run-weekly", "--json"])
    assert weekly.exit_code == 0, weekly.output
    before = _positions(_status(monkeypatch, "2026-01-07T12:00:00-05:00"))  # the 08:00 orders filled at the open
    spy, tlt, gld = before["acct_1"]["SPY"], before["acct_2"]["TLT"], before["acct_3"]["GLD"]
    assert spy > 0 and tlt > 0 and gld > 0 and before["acct_4"]["QQQ"] > 0 and before["acct_5"]["SPY"] > 0
    asked_before = len(fake.requests)

    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_account = {a["account_id"]: a for a in report["accounts"]}
    assert by_account["acct_1"]["checkpoint"]["action"] == "EXIT"
    assert by_account["acct_1"]["checkpoint"]["decided_by"] == "invalidation_rule"
    assert by_account["acct_5"]["checkpoint"]["decided_by"] == "invalidation_rule"
    assert by_account["acct_6"]["skipped"] == "FLAT baseline: never trades"
    asked = {r["model"] for r in fake.requests[asked_before:]}
    assert asked == set(CHECKPOINT_ANSWERS)  # the rule decided for SPY; its owners were not asked

    after = _positions(_status(monkeypatch, "2026-01-07T12:05:00-05:00"))
    assert after["acct_1"] == {} and after["acct_5"] == {}
    assert after["acct_3"] == {"GLD": gld // 2}
    assert after["acct_4"] == before["acct_4"]
    [flip] = [o for o in by_account["acct_2"]["orders"] if o["intent"].startswith("open")]
    assert after["acct_2"] == {"TLT": -flip["qty"]}
    assert by_account["acct_2"]["verdict"]["target_qty"] == -flip["qty"]

    statuses = _status(monkeypatch, "2026-01-07T12:06:00-05:00")["accounts"]
    acct_1 = next(a for a in statuses if a["account_id"] == "acct_1")
    wednesday_open = closes["SPY"] * 0.90
    slip = CONFIG.accounts.paper.slippage_bps / 10_000
    noon = datetime.fromisoformat("2026-01-07T12:00:00-05:00")
    with open_storage(Settings(DATABASE_URL=week[1]), FixedClock(FIXED_NOW)) as storage:
        fetched = [QuoteFetched.from_event(e) for e in storage.events.read(type=QuoteFetched.event_type())]
    [spy_at_noon] = {q.price for f in fetched if f.now == noon for q in f.quotes if q.symbol == "SPY"}
    # bought at Wednesday's open (plus slippage), sold at the 12:00 price the checkpoint saw (less slippage)
    assert acct_1["cash"] == pytest.approx(
        100_000 - spy * wednesday_open * (1 + slip) + spy * spy_at_noon * (1 - slip), abs=0.05
    )


def test_a_repeated_checkpoint_changes_nothing(week: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url, _ = week
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    first = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert first.exit_code == 0, first.output
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        count = storage.events.count()
    sent = len(fake.requests)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:30:00-05:00")
    again = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["repeated"] is True
    assert len(fake.requests) == sent
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        new = storage.events.read(after_id=0)[count:]
        changes = {
            "CheckpointTaken",
            "CheckpointSkipped",
            "RiskChecked",
            "OrdersPlanned",
            "OrderSubmitted",
            "PaperOrderAccepted",
            "OrderFilled",
            "AccountValued",
            "LLMCallCompleted",
        }
        assert [e.type for e in new if e.type in changes] == []
        assert {"RunStarted", "RunFinished"} <= {e.type for e in new}
        assert len(storage.events.read(type=CheckpointTaken.event_type())) == 5  # acct_1..5 hold positions


def test_checkpoints_refuse_an_unknown_time_and_skip_accounts_whose_orders_are_queued(
    week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    bad = runner.invoke(app, ["checkpoint", "13:00"])
    assert bad.exit_code == 2
    assert "'13:00' is not a configured checkpoint time; valid: 09:00, 12:00, 14:00, 15:50" in bad.stderr
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T09:00:00-05:00")  # before the open: 08:00 orders still queued
    early = json.loads(runner.invoke(app, ["checkpoint", "09:00", "--json"]).stdout)
    reasons = {a["account_id"]: a["skipped"] for a in early["accounts"]}
    assert reasons["acct_1"] == "orders still queued for the open: nothing to judge yet"
    assert all(a["checkpoint"] is None for a in early["accounts"])


def test_the_postmortem_scores_each_account_and_fills_the_week_summary(
    week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    result = runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {a["account_id"]: a for a in report["accounts"]}
    assert set(rows) == {f"acct_{i}" for i in range(1, 7)}
    assert rows["acct_6"]["week_pnl"] == 0 and rows["acct_6"]["reflection"] is None
    spy = rows["acct_1"]
    assert spy["instrument"] == "SPY" and spy["unrealized_pnl"] == 0  # exited on Wednesday
    assert spy["week_pnl"] == pytest.approx(spy["end_equity"] - spy["start_equity"])
    assert spy["week_pnl"] == pytest.approx(spy["realized_pnl"], abs=0.01)
    assert spy["reflection"]["lessons"]
    for row in rows.values():  # realised and unrealised are both changes over the week
        assert row["realized_pnl"] + row["unrealized_pnl"] == pytest.approx(row["week_pnl"], abs=0.02)
    invalidation = next(i for i in spy["indicators"] if i["indicator"] == "close")
    # The stop rule still fires at the week's end: the thesis stays broken (held is the thesis's side).
    assert invalidation["role"] == "invalidation" and invalidation["held"] is False
    again = json.loads(runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"]).stdout)
    assert again["written_now"] is False and again["accounts"] == report["accounts"]
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        summary = storage.conn.execute(
            "SELECT account_id, week_pnl FROM week_summaries WHERE week_id = %s ORDER BY account_id",
            (date(2026, 1, 7),),
        ).fetchall()
    assert [(a, round(p, 2)) for a, p in summary] == [(a, round(rows[a]["week_pnl"], 2)) for a in sorted(rows)]


def test_the_kill_switch_blocks_every_order_until_enabled(week: Any) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["trading", "disable", "--reason", "drill"]).exit_code == 0
    assert "DISABLED: drill" in runner.invoke(app, ["trading", "status"]).stdout
    blocked = runner.invoke(app, ["run-weekly"])
    assert blocked.exit_code == 75 and "trading is disabled (drill)" in blocked.stderr  # a wait: rerun after enable
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        assert storage.events.read(type="OrderSubmitted") == []
        assert storage.events.read(type="PaperOrderAccepted") == []
        assert len(storage.events.read(type="OrderBlocked")) == 5
    assert runner.invoke(app, ["trading", "enable"]).exit_code == 0
    resumed = runner.invoke(app, ["run-weekly", "--json"])
    assert resumed.exit_code == 0, resumed.output
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        assert len(storage.events.read(type="OrderSubmitted")) == 5


def test_the_breaker_halts_on_drawdown_blocks_the_gate_and_resumes_on_recovery(database_url: str) -> None:
    breaker = CONFIG.risk.circuit_breaker
    with open_storage(Settings(DATABASE_URL=database_url), FixedClock(FIXED_NOW)) as storage:

        def mark(equity: float) -> None:
            evaluate_breaker(
                storage.events,
                "acct_1",
                starting_equity=100_000,
                equity=equity,
                fills=[],
                config=breaker,
                week_id=None,
                run_id=None,
            )

        mark(110_000)
        mark(90_000)  # 18.2% below the 110k peak: still trading
        assert halted(storage.events, "acct_1") == (False, "")
        mark(87_000)  # 20.9% below the peak
        stop, why = halted(storage.events, "acct_1")
        assert stop and "exceeds 20%" in why
        mark(92_000)  # 16.4%: not yet below 15%
        assert halted(storage.events, "acct_1")[0]
        mark(94_000)  # 14.5%: recovered
        assert halted(storage.events, "acct_1") == (False, "")
        kinds = [e.type for e in storage.events.read(account_id="acct_1") if e.type.startswith("Account")]
        assert kinds == ["AccountHalted", "AccountResumed"]


def test_a_halted_account_gets_no_orders_and_can_be_reset_by_hand(week: Any) -> None:
    _, url, _ = week
    losses = []
    for n in range(CONFIG.risk.circuit_breaker.halt_consecutive_losses):  # ten losing round trips
        for side, price in ((Side.BUY, 100.0), (Side.SELL, 99.0)):
            losses.append(
                Fill(
                    client_order_id=f"t{n}{side}",
                    account_id="acct_3",
                    symbol="GLD",
                    side=side,
                    qty=1,
                    price=price,
                    filled_at=FIXED_NOW,
                )
            )
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        evaluate_breaker(
            storage.events,
            "acct_3",
            starting_equity=100_000,
            equity=100_000,
            fills=losses,
            config=CONFIG.risk.circuit_breaker,
            week_id=None,
            run_id=None,
        )
        stop, why = halted(storage.events, "acct_3")
        assert stop and "10" in why
    report = json.loads(runner.invoke(app, ["run-weekly", "--json"]).stdout)
    acct_3 = next(v for v in report["risk"] if v["account_id"] == "acct_3")
    assert acct_3["approved"] is False and "circuit_breaker" in acct_3["reason"]
    assert not [o for o in report["orders"] if o["account_id"] == "acct_3"]
    assert [o for o in report["orders"] if o["account_id"] == "acct_1"]  # the others trade
    reset = runner.invoke(app, ["breaker", "reset", "acct_3"])
    assert reset.exit_code == 0 and "breaker reset" in reset.stdout
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        assert halted(storage.events, "acct_3") == (False, "")


def test_after_a_flip_the_original_stop_no_longer_applies(week: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, _, _ = week
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0  # acct_2 flips TLT short
    asked = len(fake.requests)
    stay_short = {"action": "STAY", "conviction_after": -1, "reason_delta": "the short works"}
    monkeypatch.setitem(CHECKPOINT_ANSWERS, "google/gemini-3-pro-preview", stay_short)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:00:00-05:00")
    report = json.loads(runner.invoke(app, ["checkpoint", "14:00", "--json"]).stdout)
    acct_2 = next(a for a in report["accounts"] if a["account_id"] == "acct_2")
    assert acct_2["checkpoint"] is not None, acct_2["skipped"]
    acct_2 = acct_2["checkpoint"]
    assert acct_2["conviction_before"] == -1 and acct_2["decided_by"] == "owner"
    asked_now = [r for r in fake.requests[asked:] if r["model"] == "google/gemini-3-pro-preview"]
    prompt = asked_now[0]["messages"][1]["content"]
    assert "Flipped at an earlier checkpoint" in prompt and "SHORT TLT" in prompt


def test_checkpoints_and_postmortems_only_run_when_their_time_has_come(
    week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T11:00:00-05:00")
    early = runner.invoke(app, ["checkpoint", "12:00"])
    assert early.exit_code == 2 and "not due yet" in early.stderr
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T16:30:00-05:00")
    late = runner.invoke(app, ["checkpoint", "15:50"])
    assert late.exit_code == 2 and "session has closed" in late.stderr
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T12:00:00-05:00")
    mid_week = runner.invoke(app, ["postmortem", "--week", "2026-01-07"])
    assert mid_week.exit_code == 2 and "is not over" in mid_week.stderr


def test_status_counts_the_cost_of_runs_that_failed(week: Any) -> None:
    assert runner.invoke(app, ["trading", "disable"]).exit_code == 0
    assert runner.invoke(app, ["run-weekly"]).exit_code == 75  # the models answered; the orders were blocked
    report = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert report["usage"]["this_week"]["calls"] == 19 and report["usage"]["to_date"]["calls"] == 19
    assert report["last_runs"]["run-weekly"]["outcome"] == "failed"


def test_the_postmortem_reports_the_exit_rule_as_fired_or_not_never_as_a_broken_indicator() -> None:
    import random

    from llmtrade.agents.postmortem_writer import offline_reflection
    from llmtrade.domain.checkpoints import IndicatorOutcome

    quiet = IndicatorOutcome(
        indicator="price_vs_sma_20", threshold="price_vs_sma_20 < -0.02", observed=0.02, held=True, role="invalidation"
    )
    watched = IndicatorOutcome(indicator="rsi_14", threshold="rsi_14 < 75", observed=80.0, held=False)

    answer = offline_reflection("LONG", 0.01, 0.01, [watched, quiet], random.Random(0))

    assert "Broken: rsi_14 < 75." in answer.what_it_got_wrong
    assert "price_vs_sma_20" not in answer.what_it_got_wrong
    assert "exit rule price_vs_sma_20 < -0.02 did not fire" in answer.what_the_thesis_got_right
