"""A backtest extended as its price files grow: a weekly reader downloads the new week's bars into the same folder and
moves --to a week later. The files' hash changed, so the resume was refused as run on other prices, and a backtest
could be extended only on files that already held the later rows. Files that only gained rows after the bars the
books were written from are now the same prices; a bar already read that changed is still refused, naming it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.config.loader import load_config
from llmtrade.errors import UsageError
from llmtrade.market.synthetic import SyntheticMarket, candidate_classes
from llmtrade.settings import Settings
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

SECOND = WEEK + timedelta(days=7)


def _run(database_url: str, home: Path, name: str, folder: Path, said: list[str] | None = None) -> BacktestResult:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(home))
    last = SECOND if said is not None else WEEK
    spec = BacktestSpec(name=name, first=WEEK, last=last, offline=True, replay=False, csv=folder)
    return backtest(settings, load_config(None), None, spec, say=(said if said is not None else []).append)


def test_files_that_gained_later_rows_extend_the_backtest(database_url: str, tmp_path: Path) -> None:
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {s: [b for b in rows if b.day <= WEEK + timedelta(days=6)] for s, rows in bars.items()})
    assert _run(database_url, tmp_path, name, folder).weeks_run == 1
    _write(folder, bars)  # the next week's download: every file longer
    (folder / "NOTES.csv").write_text("anything\n")  # a file no symbol reads
    said: list[str] = []
    extended = _run(database_url, tmp_path, name, folder, said)
    assert extended.weeks_run == 1  # the second week, on the grown files
    assert any(
        t.startswith(
            "prices: the files changed since this backtest last ran, but every bar it read is the same: going on"
        )
        for t in said
    ), said
    # The same books as a backtest run on the grown files from the start: the first week read no later bar.
    whole = _run(database_url, tmp_path, _unique(), folder, [])
    assert whole.leaderboard.model_dump(exclude={"source"}) == extended.leaderboard.model_dump(exclude={"source"})


def test_a_bar_already_read_that_changed_is_refused_naming_it(database_url: str, tmp_path: Path) -> None:
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    assert _run(database_url, tmp_path, name, folder).weeks_run == 1
    day = WEEK - timedelta(days=1)  # a session the first week read
    gld = [
        b.model_copy(update={"close": b.close * 1.01, "high": b.high * 1.01}) if b.day == day else b
        for b in bars["GLD"]
    ]
    _write(folder, {**bars, "GLD": gld})
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, [])
    message = str(caught.value)
    assert "price data hash" in message
    assert f"GLD.csv's bar of {day} is not the one this backtest read (close " in message


@pytest.mark.parametrize(
    ("symbol", "first_run", "added"),
    [
        # A fund whose file began after the first week's as-of session (a late listing: not offered that week),
        # then given its earlier history: a fresh run offers it, and its indicators read those rows.
        ("GLD", lambda rows: [b for b in rows if WEEK <= b.day <= WEEK + timedelta(days=6)], "earlier"),
        # A file that ended inside the range (taken as delisted: positions closed at its last close), then given its
        # later rows: a fresh run holds it through the week.
        ("TLT", lambda rows: [b for b in rows if b.day <= WEEK + timedelta(days=1)], "later"),
    ],
)
def test_rows_added_inside_the_days_the_weeks_read_are_refused(
    database_url: str, tmp_path: Path, symbol: str, first_run: Any, added: str
) -> None:
    """Every bar in the cache was the same, so a grown file passed as 'only grew', though the weeks already run had
    read its rows over those days and found none there: the finished weeks were not what a backtest run afresh on
    the grown files gives."""
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    first = {s: [b for b in rows if b.day <= WEEK + timedelta(days=6)] for s, rows in bars.items()}
    _write(folder, {**first, symbol: first_run(bars[symbol])})
    assert _run(database_url, tmp_path, name, folder).weeks_run == 1
    _write(folder, bars)
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, [])
    message = str(caught.value)
    assert "price data hash" in message
    assert f"{symbol}.csv now has a bar of " in message
    assert "inside the days this backtest's weeks read" in message, message


def test_a_discovery_candidates_file_added_is_refused_when_the_weeks_run_would_have_judged_it(
    database_url: str, tmp_path: Path
) -> None:
    """A candidate with no file is left out of a backtest's discovery (in_backtest: true by default), so the weeks
    already run never judged XLE; its file added with the new week's download held no bar the cache had, and the
    backtest resumed judging XLE from then on, where one run afresh on the same files judges it every week (in
    watchlist mode, trades it)."""
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {s: [b for b in rows if b.day <= WEEK + timedelta(days=6)] for s, rows in bars.items()})
    assert _run(database_url, tmp_path, name, folder).weeks_run == 1
    first, last = min(b.day for b in bars["SPY"]), max(b.day for b in bars["SPY"])
    extra = SyntheticMarket({"SPY": "equity"}, seed=11, extra=candidate_classes()).daily_bars(["XLE"], first, last)
    _write(folder, {**bars, "XLE": extra["XLE"]})
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, [])
    message = str(caught.value)
    assert "price data hash" in message
    assert "XLE.csv, a discovery candidate's file, has bars from " in message, message
    assert "the weeks already run did not read it" in message, message


def test_a_candidates_file_a_fresh_run_would_leave_out_too_does_not_refuse_the_resume(
    database_url: str, tmp_path: Path
) -> None:
    """A candidate file with a session missing inside the days the weeks read is left out of a backtest run afresh
    (app/backtest_discovery.py), as it would have been then: it changes nothing the weeks run saw."""
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {s: [b for b in rows if b.day <= WEEK + timedelta(days=6)] for s, rows in bars.items()})
    assert _run(database_url, tmp_path, name, folder).weeks_run == 1
    first, last = min(b.day for b in bars["SPY"]), max(b.day for b in bars["SPY"])
    xle = SyntheticMarket({"SPY": "equity"}, seed=11, extra=candidate_classes()).daily_bars(["XLE"], first, last)["XLE"]
    _write(folder, {**bars, "XLE": [b for b in xle if b.day != WEEK - timedelta(days=30)]})
    assert WEEK - timedelta(days=30) in {b.day for b in xle}  # a session: the file has a hole there
    assert _run(database_url, tmp_path, name, folder, []).weeks_run == 1


def test_a_file_that_did_not_grow_with_the_others_is_refused_when_its_end_falls_inside_the_weeks_run(
    database_url: str, tmp_path: Path
) -> None:
    """Every file but TLT's given the next week's rows, --to moved a week: TLT's file now ends before the range does,
    which a backtest run afresh on these files takes as its delisting on its last day, inside the weeks already run
    (positions closed at that close, before the week's postmortem). The resume took it as delisted too but settled it
    at its first job, the next morning, out of session: a position held was never filled and the backtest stopped
    (exit 1, 'run the backtest again'), and one not held left other books than the fresh run's. Now it is refused
    before any job, naming the file and what to do."""
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    first = {s: [b for b in rows if b.day <= WEEK + timedelta(days=6)] for s, rows in bars.items()}
    _write(folder, first)
    assert _run(database_url, tmp_path, name, folder).weeks_run == 1
    _write(folder, {**bars, "TLT": first["TLT"]})  # the weekly download missed TLT
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, [])
    message = str(caught.value)
    assert f"TLT.csv ends at {WEEK + timedelta(days=6)}" in message, message
    assert "give TLT.csv its later rows" in message, message


def test_a_candidates_file_that_ends_before_the_extended_range_does_not_refuse_the_resume(
    database_url: str, tmp_path: Path
) -> None:
    """XLE's file added with the next week's download but holding only the days the first week read: a backtest run
    afresh on these files reads the candidates over the whole range, to the second week, finds XLE's stale tail and
    leaves it out, as the resumed one does; the check judged it over the days the first week read alone, where it is
    whole, and refused the resume as one a fresh run would judge."""
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {s: [b for b in rows if b.day <= WEEK + timedelta(days=6)] for s, rows in bars.items()})
    assert _run(database_url, tmp_path, name, folder).weeks_run == 1
    first, last = min(b.day for b in bars["SPY"]), WEEK + timedelta(days=6)
    xle = SyntheticMarket({"SPY": "equity"}, seed=11, extra=candidate_classes()).daily_bars(["XLE"], first, last)["XLE"]
    _write(folder, {**bars, "XLE": xle})
    said: list[str] = []
    extended = _run(database_url, tmp_path, name, folder, said)
    assert extended.weeks_run == 1
    whole = _run(database_url, tmp_path, _unique(), folder, [])
    assert whole.leaderboard.model_dump(exclude={"source"}) == extended.leaderboard.model_dump(exclude={"source"})
