"""`leaderboard --versus`: an account wiped out in one book has no weekly return after, and is paired only over
the weeks both books define (pure)."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pytest

from llmtrade.analytics.paired import pairing, week_ends, weekly_returns
from llmtrade.analytics.records import Curve, Leaderboard
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from llmtrade.errors import UsageError
from llmtrade.market.calendar import TradingCalendar

# Four New York weeks (Wednesday to Tuesday): the first session is the start, then 4 x 5 sessions.
SESSIONS = tuple(TradingCalendar().sessions_between(date(2026, 2, 3), date(2026, 3, 3)))


def _board(name: str, equity: list[float]) -> Leaderboard:
    curve = Curve(
        name="acct_1", kind="account", sessions=SESSIONS, equity=tuple(equity), gross_exposure=(0.0,) * len(equity)
    )
    return Leaderboard(
        source=f"backtest {name}",
        start=SESSIONS[0],
        end=SESSIONS[-1],
        sessions=len(SESSIONS) - 1,
        trials=1,
        bootstrap="test",
        standings=(),
        curves=(curve,),
    )


def test_weeks_after_a_wipe_out_are_undefined_not_zero() -> None:
    """Found reading analytics/paired.py: a wiped-out account's later weeks counted as 0% returns, so against a
    book losing 1% a week the dead account 'beat' it every week after. They are now left out, and a note says so."""
    n = len(SESSIONS)
    wiped_at = 8  # a session in the second week
    on = [100.0] * wiped_at + [0.0] * (n - wiped_at)
    off = [100.0 * 0.998**i for i in range(n)]  # a steady loss every session
    paired = pairing(_board("memory-on", on), _board("memory-off", off))
    [diff] = paired.differences
    assert paired.weeks == 4 and diff.weeks == 2  # the first week, and the week of the wipe-out (-100%)
    assert diff.weeks_better == 1  # the first week (0% against a loss); never a week after the wipe-out
    assert diff.weekly.estimate is not None and diff.weekly.estimate < -0.4
    assert diff.return_on == pytest.approx(-1.0)
    [note] = [n for n in paired.notes if "wiped out" in n]
    assert note == (
        f"acct_1 was wiped out (equity 0) in backtest memory-on on {SESSIONS[wiped_at]}: its weekly returns after are "
        "undefined, so 2 of 4 weeks are paired"
    )


def test_an_account_with_the_same_returns_in_both_books_is_said_to_be_the_same() -> None:
    """Found running README's own example, memory on versus memory off, offline: the rules' answers read no memory,
    so both books were the same to the byte, and every row read '0.00 [n/a]' and '0 of 26' weeks better, as if the
    weeks were too few to tell and the first books lost every week. A note now says the returns were the same."""
    equity = [100.0 * (1 + 0.001 * ((i % 5) - 2)) for i in range(len(SESSIONS))]
    paired = pairing(_board("memory-on", equity), _board("memory-off", equity))
    [diff] = paired.differences
    assert diff.weeks == 4 and (diff.weeks_better, diff.weeks_worse, diff.weeks_tied) == (0, 0, 4)
    assert (
        "acct_1: the same return in both books every paired week (a difference of 0, with no spread for an interval): "
        "what differs between the books changed nothing these accounts earned"
    ) in paired.notes
    changed = [*equity[:-1], equity[-1] * 1.01]
    assert not [n for n in pairing(_board("a", equity), _board("b", changed)).notes if "the same return" in n]


def _paired_row(board: Leaderboard) -> dict[str, str]:
    text = io.StringIO()
    print_leaderboard(Output(stream=text, force_plain=True), board)
    lines = text.getvalue().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("name\treturn\tversus"))
    return dict(zip(lines[head].split("\t"), lines[head + 1].split("\t"), strict=True))


def test_weeks_that_tie_are_counted_as_ties_not_as_weeks_not_better() -> None:
    """Two books the same every week read "weeks better 0 of 4" in the table (and only
    `weeks_better: 0` in --json), as if the first books had lost every week; a tie was counted as not better. Each week
    is now better, worse or tied, and all three are said, in the table and in --json."""
    equity = [100.0 * (1 + 0.001 * ((i % 5) - 2)) for i in range(len(SESSIONS))]
    on = _board("memory-on", equity)
    tied = on.model_copy(update={"paired": pairing(on, _board("memory-off", equity))})
    assert _paired_row(tied)["weeks compared"] == "better 0, worse 0, tied 4 of 4"
    dumped = json.loads(tied.model_dump_json())["paired"]["differences"][0]
    assert (dumped["weeks_better"], dumped["weeks_worse"], dumped["weeks_tied"], dumped["weeks"]) == (0, 0, 4, 4)
    # One week lower in the second books (its last session lower, the week before as the first's): better 1, tied 3.
    lower = [*equity[:-1], equity[-1] * 0.99]
    mixed = on.model_copy(update={"paired": pairing(on, _board("lower", lower))})
    assert _paired_row(mixed)["weeks compared"] == "better 1, worse 0, tied 3 of 4"
    higher = on.model_copy(update={"paired": pairing(on, _board("higher", [*equity[:-1], equity[-1] * 1.01]))})
    assert _paired_row(higher)["weeks compared"] == "better 0, worse 1, tied 3 of 4"


def _board_over(name: str, sessions: tuple[date, ...]) -> Leaderboard:
    curve = Curve(
        name="acct_1",
        kind="account",
        sessions=sessions,
        equity=tuple(100.0 + i for i in range(len(sessions))),
        gross_exposure=(0.0,) * len(sessions),
    )
    return Leaderboard(
        source=f"backtest {name}",
        start=sessions[0],
        end=sessions[-1],
        sessions=len(sessions) - 1,
        trials=1,
        bootstrap="test",
        standings=(),
        curves=(curve,),
    )


@pytest.mark.parametrize("shared", [0, 1], ids=["no-session", "one-close"])
def test_books_with_no_week_in_common_are_refused_naming_both_ranges(shared: int) -> None:
    """Found in a trial: `leaderboard --backtest h1 --versus e18` (2024 against 2018) exited 0 with a table headed
    '2024-01-02 to 2024-07-02 (0 weeks paired)' whose every row read 'return 0.0% / 0.0%': returns over no week, shown
    as if both books had earned nothing. Two books that share no week (none, or only the close one ends on and the
    other starts from) have nothing to pair: refused (exit 2), naming each book's range."""
    later = tuple(TradingCalendar().sessions_between(SESSIONS[-1] + timedelta(days=1), date(2026, 4, 7)))
    later = (SESSIONS[-1], *later) if shared else later
    with pytest.raises(UsageError) as refused:
        pairing(_board_over("on", SESSIONS), _board_over("off", later))
    assert refused.value.exit_code == 2
    message = str(refused.value)
    assert f"backtest on ({SESSIONS[0]}..{SESSIONS[-1]})" in message
    assert f"backtest off ({later[0]}..{later[-1]})" in message
    assert "no week in common" in message
    # Found checking the README: default (2024-01-02..2024-04-02) against q2 (2024-04-02..2024-07-02) read as ranges
    # that overlap, beside "no week in common"; the shared close is said to pair nothing.
    touching = f"(they share only the close of {SESSIONS[-1]}, on which one ends and the other starts: a week's return"
    assert (touching in message) == bool(shared), message


def _dumped_pair(board: Leaderboard) -> dict[str, object]:
    return json.loads(board.model_dump_json())["paired"]["differences"][0]


@pytest.mark.parametrize("begins", [0.0, -20.0], ids=["zero", "below-zero"])
def test_a_pairing_that_begins_at_no_equity_has_no_return_and_says_why(begins: float) -> None:
    """Found reading analytics/paired.py: `--versus` over books of other ranges pairs only the sessions both cover, and
    where the first paired close of one book found the account wiped out (0.00, or below through a short on a price
    that rose) its return read "0.0%" ("+0.00%"), a figure nothing earned. A return over nothing (or less) is
    undefined: None (null in --json, whose schema allows it), n/a in the table, and a note says why."""
    later = SESSIONS[5:]
    # The first books run over every session; the account lost everything (and more, short) by the fifth close.
    on_equity = [100.0, 80.0, 50.0, 20.0, 5.0, begins, *(begins - 3.0 * i for i in range(1, len(later)))]
    on = _board("memory-on", on_equity)
    off = _board_over("memory-off", later)
    board = on.model_copy(update={"paired": pairing(on, off)})
    [diff] = board.paired.differences if board.paired else ()
    assert diff.return_on is None
    assert diff.return_off == pytest.approx(off.curves[0].equity[-1] / off.curves[0].equity[0] - 1)
    assert _dumped_pair(board)["return_on"] is None
    row = _paired_row(board)
    assert row["return"] == "n/a"
    assert board.paired is not None
    [note] = [n for n in board.paired.notes if "begins the paired sessions" in n]
    assert f"acct_1 in backtest memory-on begins the paired sessions ({later[0]}) at " in note
    assert "a return over nothing is undefined" in note
    schema = Leaderboard.model_json_schema()["$defs"]["PairedDifference"]["properties"]
    for field in ("return_on", "return_off"):
        assert {"type": "null"} in schema[field]["anyOf"], field
        assert "null when" in schema[field]["description"], field


def test_weeks_after_a_wipe_out_stay_undefined_when_a_short_brings_the_equity_back_above_zero() -> None:
    """Found reading analytics/paired.py: a week's return was left out only when the week began at or below 0, so an
    account carried below 0 by a short (a price that rose) and back above it (the price fell back) paired its later
    weeks again, a return of +400% over a week from 3.00 to 15.00 of an account that had lost everything, while the
    note said its weekly returns after the wipe-out were undefined. Every week after the first close at or below 0 is
    now undefined, as the note says and as a leaderboard row's daily returns are; the week of the wipe-out is its loss
    to that close (-100% or beyond), wherever the week ended."""
    n = len(SESSIONS)
    wiped_at = 8  # a session in the second week
    recovered = [30.0 * i for i in range(1, n - wiped_at - 1)]
    on = [100.0] * wiped_at + [-10.0, -4.0, *recovered]  # below 0 at its 9th close, then up again from its 11th
    assert len(on) == n and on[-1] > 0
    off = [100.0 * 0.998**i for i in range(n)]
    board = _board("memory-on", on)
    paired = pairing(board, _board("memory-off", off))
    [diff] = paired.differences
    assert diff.weeks == 2  # the first week and the week of the wipe-out
    weekly = weekly_returns(on, week_ends(SESSIONS))
    assert weekly[0] == 0.0 and weekly[1] == pytest.approx(-1.1)  # to the first close below 0: -10.00 from 100.00
    assert weekly[2:] == [None] * (len(weekly) - 2)
    [note] = [n for n in paired.notes if "wiped out" in n]
    assert note.endswith("so 2 of 4 weeks are paired")
