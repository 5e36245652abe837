"""`leaderboard --versus` says when the two books were valued on different prices (pure).

A new user's trial: `llmtrade backtest --offline` (the synthetic market, backtest default) and the same weeks on a CSV
folder (`--csv DIR --name csv1`), then `leaderboard --backtest csv1 --versus default`: 9 weeks paired, each account's
weekly difference with its interval and "better 4, worse 5", and not a word that one book was priced on a CSV folder
and the other on the synthetic market, so every difference was the two markets', not what changed between the runs.
The pairing now says so first: by the books' price sources, and, on sources alike (two CSV folders), by SPY's daily
returns, which the same prices give alike in both books."""

from __future__ import annotations

from datetime import date

from llmtrade.analytics.paired import pairing
from llmtrade.analytics.records import Curve, Leaderboard, PriceBasis
from llmtrade.market.calendar import TradingCalendar

SESSIONS = tuple(TradingCalendar().sessions_between(date(2026, 2, 3), date(2026, 3, 3)))
ACCOUNT = [100_000.0 * (1 + 0.001 * ((i % 5) - 2)) for i in range(len(SESSIONS))]
SPY = [100_000.0 * 1.002**i for i in range(len(SESSIONS))]


def _board(name: str, spy: list[float], sources: tuple[str, ...]) -> Leaderboard:
    def curve(label: str, kind: str, equity: list[float]) -> Curve:
        return Curve(
            name=label, kind=kind, sessions=SESSIONS, equity=tuple(equity), gross_exposure=(0.0,) * len(equity)
        )

    dividends = "none" if sources == ("synthetic",) else "unknown"
    return Leaderboard(
        source=f"backtest {name}",
        start=SESSIONS[0],
        end=SESSIONS[-1],
        sessions=len(SESSIONS) - 1,
        trials=1,
        bootstrap="test",
        standings=(),
        curves=(curve("acct_1", "account", ACCOUNT), curve("SPY", "baseline", spy)),
        prices=PriceBasis(sources=sources, dividends=dividends),
    )


def _said(notes: tuple[str, ...]) -> list[str]:
    return [n for n in notes if "different prices" in n]


def test_books_on_other_price_sources_are_said_first() -> None:
    paired = pairing(_board("csv1", SPY, ("csv",)), _board("default", SPY, ("synthetic",)))
    assert paired.notes[0] == (
        "the two books were valued on different prices (backtest csv1: csv; backtest default: synthetic): each "
        "difference below is as much the two markets' as what changed between the runs; compare backtests run on the "
        "same prices (the same --csv folder, or both on the synthetic market)"
    ), paired.notes


def test_books_on_the_same_source_with_other_data_are_said_by_spys_returns() -> None:
    other = [*SPY[:7], *(value * 1.01 for value in SPY[7:])]  # another CSV folder: SPY moved otherwise on one day
    paired = pairing(_board("a", SPY, ("csv",)), _board("b", other, ("csv",)))
    [note] = _said(paired.notes)
    assert paired.notes[0] == note
    assert note.startswith(
        f"the two books were valued on different prices (SPY's close-to-close return differs on 1 of "
        f"{len(SESSIONS) - 2} paired sessions, first {SESSIONS[7]}): "
    ), note


def test_books_on_the_same_prices_say_nothing_of_them() -> None:
    rounded = [round(value, 2) for value in SPY]  # curves are in cents: a rounding is no other market
    assert not _said(pairing(_board("on", SPY, ("csv",)), _board("off", rounded, ("csv",))).notes)
    assert not _said(pairing(_board("on", SPY, ("synthetic",)), _board("off", SPY, ("synthetic",))).notes)
    # A book that bought its SPY at the first paired close pays its slippage in the next session's return: no market.
    bought = [SPY[0], SPY[1] * 0.9995, *(value * 0.9995 for value in SPY[2:])]
    assert not _said(pairing(_board("on", SPY, ("csv",)), _board("off", bought, ("csv",))).notes)
    # A provider's history beside a CSV folder of the same closes: told apart only where the prices differ.
    assert not _said(pairing(_board("on", SPY, ("csv",)), _board("off", SPY, ("yfinance",))).notes)
    unsaid = _board("old", SPY, ("csv",)).model_copy(update={"prices": None})  # books read before prices were said
    assert not _said(pairing(_board("on", SPY, ("csv",)), unsaid).notes)


def _valued(board: Leaderboard, **closes: list[float]) -> Leaderboard:
    """`board` with the closes it valued its symbols at, by session (app/leaderboard.py keeps them for this)."""
    return board.model_copy(update={"closes": {s: dict(zip(SESSIONS, v, strict=True)) for s, v in closes.items()}})


def test_two_csv_books_whose_other_files_differ_while_spy_is_alike_say_which_symbols_closes_differ() -> None:
    """Two CSV folders with the same SPY.csv and another GLD.csv (a vendor's, a re-export with other adjustments):
    SPY's returns alike, so nothing was said, and each paired difference was partly GLD's two prices."""
    gld = [180.0 + i for i in range(len(SESSIONS))]
    moved = [*gld[:5], *(value * 1.03 for value in gld[5:])]
    tlt = [90.0] * len(SESSIONS)
    mine = _valued(_board("a", SPY, ("csv",)), SPY=SPY, GLD=gld, TLT=tlt)
    theirs = _valued(_board("b", SPY, ("csv",)), SPY=SPY, GLD=moved, TLT=tlt)
    [note] = _said(pairing(mine, theirs).notes)
    assert note.startswith(
        f"the two books were valued on different prices (GLD's closes differ on {len(SESSIONS) - 5} of "
        f"{len(SESSIONS)} paired sessions, first {SESSIONS[5]}: the price files differ, GLD.csv): "
    ), note
    assert "TLT" not in note and "SPY's" not in note
    # The same closes (a file that only grew, or rounding to the cent), or a symbol in one book only: nothing said.
    rounded = _valued(_board("c", SPY, ("csv",)), SPY=SPY, GLD=[round(v, 2) + 1e-9 for v in gld], TLT=tlt, IWM=tlt)
    assert not _said(pairing(mine, rounded).notes)
    assert "closes" not in mine.model_dump_json()
