"""The trades column counts round trips closed: a position still open at the books' last close is no trade yet.

Found on a live history of three weeks: `leaderboard` (and `report`, whose notes are the leaderboard's) showed acct_2
"0 trades", a hit rate of n/a and 20.30 USD of slippage beside an average gross exposure of 16.6%: it had bought TLT
and held it, which read as paying to do nothing. A note now names the accounts whose trade count leaves out a
position still open, and says its cost is counted already; `backtest sweep` counts such rows among its own.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from llmtrade.analytics.records import Curve, Leaderboard, Standing
from llmtrade.app.leaderboard import build_leaderboard
from llmtrade.domain.sweeps import SweepRunFinished
from llmtrade.domain.trading import Side
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.sweep.board import sweep_leaderboard
from tests.test_leaderboard_build import FIRST_RUN, LAST_RUN, _Clock, _container, _fill, _ny, _write_books

SAID = "trades (and the hit rate) count round trips closed, open to flat or to a side change, not orders: "
INTRADAY = "avg gross is the gross exposure at each daily close, averaged: "


def _board(storage: Storage, database_url: str, *, sold: bool) -> Leaderboard:
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    fills = [_fill("acct_2", "o1", Side.BUY, 20, 570.0, _ny(date(2024, 11, 6), 9, 30))]
    if sold:
        fills.append(_fill("acct_2", "o2", Side.SELL, 20, 600.0, _ny(date(2025, 1, 15), 9, 30)))
    _write_books(events, clock, [FIRST_RUN, LAST_RUN], fills)
    return build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")


def test_an_account_still_holding_its_position_is_said_to_have_no_trade_yet(
    storage: Storage, database_url: str
) -> None:
    board = _board(storage, database_url, sold=False)
    row = next(s for s in board.standings if s.name == "acct_2")
    assert row.trades == 0 and row.avg_gross_exposure > 0 and (row.slippage_usd or 0) > 0
    [note] = [n for n in board.notes if n.startswith(SAID)]
    assert note == (
        f"{SAID}acct_2 still holds a position at the close of {board.end}, no trade until it is closed, though what "
        "opening it cost is in the commissions and slippage already"
    )
    assert not [n for n in board.notes if n.startswith(INTRADAY)]  # held over closes: its exposure is read


def test_books_whose_positions_were_closed_say_nothing_of_it(storage: Storage, database_url: str) -> None:
    board = _board(storage, database_url, sold=True)
    assert next(s for s in board.standings if s.name == "acct_2").trades == 1
    assert not [n for n in board.notes if n.startswith(SAID)], board.notes


def test_a_sweep_counts_its_rows_still_holding_a_position() -> None:
    days = (date(2026, 1, 6), date(2026, 1, 7), date(2026, 1, 8))
    curves = tuple(
        Curve(name=n, kind="account", sessions=days, equity=(1e5, 1e5, 1e5), gross_exposure=(0.0, 0.2, g))
        for n, g in (("acct_1", 0.2), ("acct_2", 0.0))
    )
    board = Leaderboard(
        source="backtest s-a", start=days[0], end=days[-1], sessions=2, trials=2, bootstrap="b", standings=(),
        curves=curves,
    )  # fmt: skip
    rows = [s.model_copy(update={"name": c.name}) for c in curves for s in _rows(c)]
    board = board.model_copy(update={"standings": tuple(rows)})
    run = SweepRunFinished(
        run_id="a", backtest="s-a", label="overrides=tight", axes={}, start=days[0], end=days[-1], attempt=1,
        trial_accounts=["acct_1", "acct_2"], leaderboard=board.model_dump(mode="json"),
    )  # fmt: skip
    notes = sweep_leaderboard("s", ["a"], 2, {"a": run}).notes
    assert f"{SAID}1 of the 2 rows still holds a position at their run's last close" in " ".join(notes), notes


def _rows(curve: Curve) -> list[Standing]:  # `curve`'s standing, from its own track
    from llmtrade.analytics import curves as tracks
    from llmtrade.analytics.standings import standings

    n = len(curve.sessions) - 1
    track = tracks.Track(
        curve=curve, trades=(0,) * n, wins=(0,) * n, costs_usd=(0.0,) * n, traded_usd=(0.0,) * n,
        bought_usd=(0.0,) * n, sold_usd=(0.0,) * n,
    )  # fmt: skip
    return list(standings([track], trials=1, trial_names={curve.name}))


def test_an_account_that_traded_only_within_sessions_is_said_to_read_no_exposure(
    storage: Storage, database_url: str
) -> None:
    """A sweep of three weeks read every row "3 trades, 0.0% avg gross, 49.64 slippage" and a loss: each account
    bought at the open and a checkpoint sold the same day, so it held nothing at any close, where the exposure is
    read. The leaderboard (and the sweep, counting its rows) now says so."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    day = date(2024, 11, 7)
    fills = [
        _fill("acct_2", "o1", Side.BUY, 20, 570.0, _ny(day, 9, 30)),
        _fill("acct_2", "o2", Side.SELL, 20, 565.0, _ny(day, 14, 0)),
    ]
    _write_books(events, clock, [FIRST_RUN, LAST_RUN], fills)
    board = build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    row = next(s for s in board.standings if s.name == "acct_2")
    assert (row.trades, row.avg_gross_exposure) == (1, 0.0)
    [note] = [n for n in board.notes if n.startswith(INTRADAY)]
    assert note.startswith(f"{INTRADAY}acct_2 held positions only within sessions (opened and closed the same day)")
    run = SweepRunFinished(
        run_id="a", backtest="s-a", label="overrides=tight", axes={}, start=board.start, end=board.end, attempt=1,
        trial_accounts=["acct_1", "acct_2"], leaderboard=board.model_dump(mode="json"),
    )  # fmt: skip
    notes = sweep_leaderboard("s", ["a"], 2, {"a": run}).notes
    assert any(n.startswith(f"{INTRADAY}1 of the 2 rows held positions only within sessions") for n in notes), notes
