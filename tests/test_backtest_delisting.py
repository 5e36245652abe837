"""A universe symbol delisted during a backtest's range is traded until it delists, then every position in it is
closed at its last close; it is never refused (which made the backtest survivor-only) and never valued from a price
after its last bar."""

from __future__ import annotations

import difflib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.container import Container
from llmtrade.app.leaderboard import leaderboard
from llmtrade.clock import FixedClock
from llmtrade.config.loader import LoadedConfig, load_config
from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from llmtrade.domain.trading import Order, OrderResult
from llmtrade.errors import BrokerRejected, OperationalError, UsageError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _dump, _unique, _url
from tests.test_backtest_bad_start import WEEK, _write, history, refused_at_start

LAST = WEEK + timedelta(days=1)  # GLD's last bar: the Thursday of the first week
SECOND = WEEK + timedelta(days=7)


@pytest.fixture
def bars() -> dict[str, list[Bar]]:
    return history(SECOND + timedelta(days=10))  # through the second week's postmortem


def _rising(rows: list[Bar], before: date, step: float = 1.012) -> list[Bar]:
    """`rows` climbing steadily (`step` a session) from 60 sessions before `before` to their end, so the rules' PMs,
    which follow the strongest trend, pitch it long and its owners stay in it while it climbs (short, falling)."""
    start = len([b for b in rows if b.day < before]) - 60
    keys = ("open", "high", "low", "close")
    return [
        b.model_copy(update={k: getattr(b, k) * step ** max(i - start, 0) for k in keys}) for i, b in enumerate(rows)
    ]


def _books_whole(url: str) -> list[str]:
    """Every event outside the backtest's own stream, in id order, without its id (tests/test_backtest_held_writes)."""
    return [line.split(", ", 1)[1] for line in _dump(url) if line.split(", ", 3)[2] != '"backtest"']


def _books(pg_admin_url: str, name: str, kind: str) -> list[tuple[str | None, dict]]:
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        return conn.execute("SELECT run_id, payload FROM events WHERE type = %s ORDER BY id", (kind,)).fetchall()


def test_a_symbol_delisted_mid_range_is_traded_until_then_and_closed_at_its_last_close(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Found in the brief: a file ending before --to was refused at the prefetch as stale, so the user had to drop
    the symbol and the backtest silently kept the survivors only."""
    folder, name = tmp_path / "prices", _unique()
    gld = [b for b in _rising(bars["GLD"], WEEK) if b.day <= LAST]
    _write(folder, {**bars, "GLD": gld})
    said: list[str] = []
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=SECOND, offline=True, replay=False, csv=folder)
    # No checkpoint: the rules' owners would take profits before the delisting, leaving nothing for it to close.
    loaded = load_config(None)
    schedule = loaded.config.schedule.model_copy(update={"checkpoints": []})
    loaded = replace(loaded, config=loaded.config.model_copy(update={"schedule": schedule}))
    warned: list[str] = []
    result = backtest(settings, loaded, None, spec, say=said.append, warn=warned.append)
    assert result.weeks_run == 2
    # Warnings, said under --quiet too: a file cut short by mistake must not pass unseen (found by the new-user trial).
    assert [t for t in said if t.startswith(("prices end early", "delisted: "))] == []
    assert [t.split(":")[0] for t in warned if t.startswith(("prices end early", "delisted: "))] == [
        "prices end early",
        "delisted",
    ]
    [warning] = [text for text in warned if text.startswith("prices end early")]
    assert f"GLD's ({folder / 'GLD.csv'}) last bar is {LAST}" in warning and "taken as delisted" in warning
    [(_, ended)] = _books(pg_admin_url, name, "PricesEndEarly")
    assert (ended["symbol"], ended["last_day"]) == ("GLD", str(LAST))
    # Offered the first week (it trades on after that week's as-of), not the second.
    snapshots = [p["snapshot"] for _, p in _books(pg_admin_url, name, "MarketSnapshotTaken")]
    offered = {s["session"]: "GLD" in s["indicators"] for s in snapshots}
    assert offered[str(WEEK - timedelta(days=1))] and not offered[str(SECOND - timedelta(days=1))]
    # Every position in it closed at its last close, in its last session, by the delisting's own run.
    [(run_id, settled)] = _books(pg_admin_url, name, "DelistingSettled")
    assert settled["close"] == pytest.approx(gld[-1].close) and settled["last_day"] == str(LAST)
    assert settled["closed"], "no account held GLD: the test proves nothing of the close"
    fills = [p["fill"] for _, p in _books(pg_admin_url, name, "OrderFilled") if p["fill"]["symbol"] == "GLD"]
    closes = [f for f in fills if f["client_order_id"].endswith("delisting") or "delisting" in f["client_order_id"]]
    assert {f["account_id"] for f in closes} == set(settled["closed"])
    last_close_at = TradingCalendar().session_close(LAST)
    for fill in closes:
        assert datetime.fromisoformat(fill["filled_at"]) < last_close_at
        assert fill["price"] == pytest.approx(gld[-1].close, rel=0.002)  # the close, with the paper broker's slippage
    assert all(datetime.fromisoformat(f["filled_at"]) < last_close_at for f in fills)  # nothing traded it after
    [(run, started)] = [r for r in _books(pg_admin_url, name, "RunStarted") if r[0] == run_id]
    assert started["command"] == "delisting" and run == run_id
    # Nothing holds it after its last day (every account's GLD fills net to zero), so nothing is valued from a
    # price of it after its last bar.
    net: dict[str, int] = {}
    for fill in fills:
        net[fill["account_id"]] = net.get(fill["account_id"], 0) + (
            fill["qty"] if fill["side"] == "buy" else -fill["qty"]
        )
    assert set(net.values()) == {0}
    # The leaderboard of these books reads GLD's closes through its last day (it said "stale" before).
    live = Container(settings, loaded, FixedClock(datetime(2026, 2, 20, tzinfo=UTC)), None, print)
    board = leaderboard(live, backtest=name)
    [note] = [n for n in board.notes if n.startswith("prices ended during the range")]
    assert f"GLD on {LAST} (settled at that close)" in note
    # EQUAL_WEIGHT's two notes on it say one thing (found by a review: 'left GLD out' beside 'keeps what it held').
    [left] = [n for n in board.notes if n.startswith("EQUAL_WEIGHT left GLD out of")]
    assert "kept any shares of GLD it held, valued at their last close" in left
    assert "EQUAL_WEIGHT (which trades only at its rebalances) kept its shares, if any, valued at that close" in note
    assert "left it out of every rebalance after" in note


def test_a_benchmark_that_ends_early_is_a_bad_range_refused_before_anything_is_cached(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {**bars, BENCHMARK: [b for b in bars[BENCHMARK] if b.day <= LAST]})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=SECOND, offline=True, replay=False, csv=folder)
    refused_at_start(
        settings, spec, pg_admin_url, rf"SPY's \(.*SPY\.csv\) last bar is {LAST}.*the benchmark", UsageError
    )


def _no_checkpoints() -> LoadedConfig:
    """The default config without checkpoints: the rules' owners would take profits before the delisting."""
    loaded = load_config(None)
    schedule = loaded.config.schedule.model_copy(update={"checkpoints": []})
    return replace(loaded, config=loaded.config.model_copy(update={"schedule": schedule}))


class Killed(BaseException):
    """The process died here (SIGKILL: nothing in llmtrade catches a BaseException)."""


@pytest.mark.parametrize("window", ["order_at_broker_only", "order_recorded"])
def test_a_backtest_killed_inside_a_delisting_resumes_with_every_close_recorded_and_no_order_twice(
    bars: dict[str, list[Bar]],
    database_url: str,
    pg_admin_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    window: str,
) -> None:
    """Found reviewing the delisting: killed after the first account's closing order reached the broker, the rerun
    found that account flat (its order had filled) and recorded DelistingSettled without it, so the books said it
    never held the symbol and the resumed books differed from an uninterrupted run's."""
    from llmtrade.app import backtest_delisting
    from llmtrade.brokers.paper import PaperBroker

    folder = tmp_path / "prices"
    gld = [b for b in _rising(bars["GLD"], WEEK) if b.day <= LAST]
    _write(folder, {**bars, "GLD": gld})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    loaded = _no_checkpoints()
    whole, killed = _unique(), _unique()
    clean = backtest(settings, loaded, None, BacktestSpec(whole, WEEK, SECOND, True, False, csv=folder), say=print)
    [(_, expected)] = _books(pg_admin_url, whole, "DelistingSettled")
    assert len(expected["closed"]) >= 2, "fewer than two holders: the kill cannot fall between two accounts"

    real_submit, real_send = PaperBroker.submit, backtest_delisting.send_orders

    def submit(self: PaperBroker, order: Order) -> OrderResult:
        result = real_submit(self, order)
        if window == "order_at_broker_only" and order.intent == "close" and "delisting" in order.client_order_id:
            raise Killed  # the broker holds the order (filled: in session), the orders stream does not
        return result

    def send(*args: object, **kwargs: object) -> object:
        real_send(*args, **kwargs)  # type: ignore[arg-type]
        raise Killed  # the first account's close is recorded, the settlement is not

    monkeypatch.setattr(PaperBroker, "submit", submit)
    if window == "order_recorded":
        monkeypatch.setattr(backtest_delisting, "send_orders", send)
    spec = BacktestSpec(killed, WEEK, SECOND, True, False, csv=folder)
    with pytest.raises(Killed):
        backtest(settings, loaded, None, spec, say=print)
    monkeypatch.setattr(PaperBroker, "submit", real_submit)
    monkeypatch.setattr(backtest_delisting, "send_orders", real_send)
    resumed = backtest(settings, loaded, None, spec, say=print)

    [(_, settled)] = _books(pg_admin_url, killed, "DelistingSettled")
    assert settled["closed"] == expected["closed"]
    accepted = [p["order"]["client_order_id"] for _, p in _books(pg_admin_url, killed, "PaperOrderAccepted")]
    assert len(accepted) == len(set(accepted))  # no order twice
    submitted = [p["order"]["client_order_id"] for _, p in _books(pg_admin_url, killed, "OrderSubmitted")]
    assert sorted(c for c in submitted if "delisting" in c) == sorted(c for c in accepted if "delisting" in c)
    assert len(submitted) == len(set(submitted))
    gld_fills = [p["fill"] for _, p in _books(pg_admin_url, killed, "OrderFilled") if p["fill"]["symbol"] == "GLD"]
    net: dict[str, int] = {}
    for fill in gld_fills:
        net[fill["account_id"]] = net.get(fill["account_id"], 0) + fill["qty"] * (1 if fill["side"] == "buy" else -1)
    assert set(net.values()) == {0}
    assert resumed.leaderboard.model_dump(exclude={"source"}) == clean.leaderboard.model_dump(exclude={"source"})
    # The books themselves, byte for byte: the settlement cut short goes on as the same run (found by a review: the
    # resumed one was a run of its own, so its orders, fills and end named another run id than an uninterrupted run's).
    resumed_books = _books_whole(_url(pg_admin_url, backtest_database(killed)))
    whole_books = _books_whole(_url(pg_admin_url, backtest_database(whole)))
    differences = list(difflib.unified_diff(whole_books, resumed_books, lineterm=""))
    assert resumed_books == whole_books, "\n".join(differences[:40])


def test_a_delistings_close_that_does_not_fill_stops_the_backtest_unsettled_and_a_rerun_settles_it(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found reviewing the delisting: a close the kill switch blocked was counted closed all the same and the symbol
    settled, leaving the position held in a symbol priced never again. Now the backtest stops there, says so, records
    the run's failure and no settlement; the rerun sends the close and settles it."""
    from llmtrade.app import backtest_delisting
    from llmtrade.risk.controls import set_trading
    from llmtrade.storage.event_store import EventStore

    folder, name = tmp_path / "prices", _unique()
    _write(folder, {**bars, "GLD": [b for b in _rising(bars["GLD"], WEEK) if b.day <= LAST]})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name, WEEK, SECOND, True, False, csv=folder)
    real_send = backtest_delisting.send_orders

    def blocked(events: EventStore, *args: object, **kwargs: object) -> object:
        # The kill switch turned off in the backtest's own books around the close, and on again after it.
        set_trading(events, False, "set by the test")
        try:
            return real_send(events, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            set_trading(events, True, "set back by the test")

    monkeypatch.setattr(backtest_delisting, "send_orders", blocked)
    with pytest.raises(OperationalError, match=r"delisting of GLD at its last close .* is not settled: acct_\d's sell"):
        backtest(settings, _no_checkpoints(), None, spec, say=print)
    assert _books(pg_admin_url, name, "DelistingSettled") == []
    assert next(p["reason"] for _, p in _books(pg_admin_url, name, "OrderBlocked")).startswith("kill switch")
    [(_, failed)] = [r for r in _books(pg_admin_url, name, "RunFailed") if r[1]["command"] == "delisting"]
    assert "is not settled" in failed["error"]
    monkeypatch.setattr(backtest_delisting, "send_orders", real_send)
    backtest(settings, _no_checkpoints(), None, spec, say=print)
    [(_, settled)] = _books(pg_admin_url, name, "DelistingSettled")
    assert settled["closed"] and set(settled["closed"].values()) == {36}


def test_the_look_ahead_audit_passes_across_a_delisting_week(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Checked for the review of the delisting: the weeks offer or leave out a delisted symbol from their as-of alone,
    so each week's cut-off rerun, which cannot read past its as-of, makes the same decisions as the real one."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {**bars, "GLD": [b for b in _rising(bars["GLD"], WEEK) if b.day <= LAST]})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name, WEEK, SECOND, True, False, csv=folder, audit=2)
    result = backtest(settings, _no_checkpoints(), None, spec, say=print)
    assert [(a.week_id, a.passed) for a in result.audit] == [(WEEK, True), (SECOND, True)], result.audit
    [(_, settled)] = _books(pg_admin_url, name, "DelistingSettled")
    assert settled["closed"], "no account held GLD: the audit crossed no delisting"


def test_an_order_left_undone_in_a_delisted_symbol_is_abandoned_at_its_settlement_not_sent_after_it(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found reviewing the delisting: an order the broker refused (or an opening leg held back for its close) is sent
    again by every later checkpoint of the week while still valid, and a flat account's GLD buy still was after GLD's
    last session: queued for an open GLD never has, it never filled, and every later weekly run of the account
    stopped on 'still has orders queued'. The settlement now abandons what is left undone in the symbol."""
    from llmtrade.brokers.paper import PaperBroker

    folder, name = tmp_path / "prices", _unique()
    _write(folder, {**bars, "GLD": [b for b in _rising(bars["GLD"], WEEK) if b.day <= LAST]})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    loaded = load_config(None)
    schedule = loaded.config.schedule.model_copy(update={"checkpoints": ["09:00"]})
    loaded = replace(loaded, config=loaded.config.model_copy(update={"schedule": schedule}))
    last_close = TradingCalendar().session_close(LAST)
    real_submit = PaperBroker.submit

    def submit(self: PaperBroker, order: Order) -> OrderResult:
        if order.symbol == "GLD" and order.intent == "open" and self._clock.now() < last_close:
            raise BrokerRejected("GLD: not tradable today")  # a refusal every checkpoint retries while valid
        return real_submit(self, order)

    monkeypatch.setattr(PaperBroker, "submit", submit)
    result = backtest(settings, loaded, None, BacktestSpec(name, WEEK, SECOND, True, False, csv=folder), say=print)
    assert result.weeks_run == 2
    refused = {p["order"]["client_order_id"] for _, p in _books(pg_admin_url, name, "OrderRejected")}
    assert refused, "no GLD open was refused: the test proves nothing"
    accepted = [p["order"] for _, p in _books(pg_admin_url, name, "PaperOrderAccepted")]
    assert not [o for o in accepted if o["client_order_id"] in refused]  # never sent after GLD's last session
    abandoned = [p for _, p in _books(pg_admin_url, name, "PlanAbandoned") if "delisted" in p["reason"]]
    assert {c for p in abandoned for c in p["client_order_ids"]} == refused


def test_a_short_position_in_a_delisted_symbol_is_bought_back_at_its_last_close(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Checked for the review of the delisting: a short is closed as a long is, by a buy at the last close."""
    folder, name = tmp_path / "prices", _unique()
    gld = [b for b in _rising(bars["GLD"], WEEK, step=0.985) if b.day <= LAST]
    _write(folder, {**bars, "GLD": gld})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    backtest(settings, _no_checkpoints(), None, BacktestSpec(name, WEEK, SECOND, True, False, csv=folder), say=print)
    [(_, settled)] = _books(pg_admin_url, name, "DelistingSettled")
    assert settled["closed"] and all(qty < 0 for qty in settled["closed"].values()), settled
    fills = [p["fill"] for _, p in _books(pg_admin_url, name, "OrderFilled") if p["fill"]["symbol"] == "GLD"]
    buys = [f for f in fills if "delisting" in f["client_order_id"]]
    assert {(f["account_id"], f["side"], -f["qty"]) for f in buys} == {
        (a, "buy", q) for a, q in settled["closed"].items()
    }
    assert all(f["price"] == pytest.approx(gld[-1].close, rel=0.002) for f in buys)


def test_a_halted_account_is_paid_out_at_a_delisting_as_any(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked for the review of the delisting: the settlement sends each close through the breaker's check, and a
    close only reduces risk, so an account halted when its symbol delists is paid out like the others."""
    from llmtrade.app import backtest_delisting
    from llmtrade.workflows import execution

    folder, name = tmp_path / "prices", _unique()
    _write(folder, {**bars, "GLD": [b for b in _rising(bars["GLD"], WEEK) if b.day <= LAST]})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    real_send, real_halted = backtest_delisting.send_orders, execution.halted

    def send_halted(*args: object, **kwargs: object) -> object:
        with monkeypatch.context() as inner:
            inner.setattr(execution, "halted", lambda events, account: (True, "drawdown 25% (set by the test)"))
            return real_send(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(backtest_delisting, "send_orders", send_halted)
    backtest(settings, _no_checkpoints(), None, BacktestSpec(name, WEEK, SECOND, True, False, csv=folder), say=print)
    assert execution.halted is real_halted
    [(_, settled)] = _books(pg_admin_url, name, "DelistingSettled")
    assert settled["closed"] and set(settled["closed"].values()) == {36}
    assert _books(pg_admin_url, name, "OrderBlocked") == []


def test_a_close_a_checkpoint_queued_for_the_last_sessions_close_is_not_closed_again_by_the_delisting(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Found reviewing the fills at the close: a checkpoint inside GLD's last session (priced at its open, daily prices
    only) sends its EXIT to fill at that session's close, and the delisting's settlement, a second before that close,
    found the position still held and sold it all again: at the close both filled, and the account was left short a
    symbol never priced again. The settlement now closes what is held net of the orders queued in it."""
    folder, name = tmp_path / "prices", _unique()
    gld = [b for b in _rising(bars["GLD"], WEEK) if b.day <= LAST]
    falls = gld[-2].close * 0.8  # its last session opens far below: the owners' exit rule fires at the 12:00 open
    fell = {"open": falls, "low": falls * 0.99, "close": falls * 1.01, "high": falls * 1.02}
    gld[-1] = gld[-1].model_copy(update=fell)
    _write(folder, {**bars, "GLD": gld})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    loaded = load_config(None)
    schedule = loaded.config.schedule.model_copy(update={"checkpoints": ["12:00"]})
    loaded = replace(loaded, config=loaded.config.model_copy(update={"schedule": schedule}))
    backtest(settings, loaded, None, BacktestSpec(name, WEEK, WEEK, True, False, csv=folder), say=print)
    fills = [p["fill"] for _, p in _books(pg_admin_url, name, "OrderFilled") if p["fill"]["symbol"] == "GLD"]
    at_close = [f for f in fills if f["price_source"] == "daily close"]
    assert at_close, "no checkpoint closed GLD at its last close: the test proves nothing"
    net: dict[str, int] = {}
    for fill in fills:
        net[fill["account_id"]] = net.get(fill["account_id"], 0) + (
            fill["qty"] if fill["side"] == "buy" else -fill["qty"]
        )
    assert set(net.values()) == {0}, net  # nothing left held, nor sold short, in a symbol priced never again
