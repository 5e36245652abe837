"""The prices' part of a sweep run's identity: what its backtest reads of the CSV folder, not the whole folder.

A run's id hashed the whole folder's bytes, so a folder whose files only grew (a weekly download appending its new
rows, after every range of the sweep) made every run of the sweep a new one: all run again, though none reads a row
of what was added. `ReadFingerprint.to(last)` is the folder as a run whose jobs read to session `last` sees it. A
backtest reads a file's rows from its first week's history up to the last session its jobs read (app/backtest.py
`last_session`: `span` of its jobs), and never a row after that for a symbol that has a row on that session: the
prefetch, the delisting and discovery reads stop there, and only a symbol with no row in the range is looked up
after it (`listed_after`, whose answer depends on the rows after). So each file is counted as:

- its parsed rows to `last` (every one before the range included), when it parses without a problem (the backtest
  refuses a file with a bad row anywhere in it) and has a row on `last`: rows appended after `last` change nothing
  the run reads, and a resumed run's own check (app/backtest_resume.py) goes on over files that grew so;
- else its whole bytes, as before: a file the backtest refuses, ends before `last` (a delisting, a download that
  missed it) or begins after it is judged on all of it.

The file's name is counted too: a file added or removed is another folder. A run whose prices in its range differ in
any bar is another run, never the earlier one's result.

A folder's intraday files (`intraday/SYMBOL.csv`, market/csv_quotes.py) price the checkpoints: a quote at an instant
reads the file's last row at or before it, so no job reads a row stamped after the run's last job. Each is counted as
its parsed rows to that instant when the whole file parses (a bad row anywhere stops the first quote of it), else its
whole bytes; a folder without intraday files is fingerprinted as before, so the runs it finished keep their ids.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from bisect import bisect_right
from datetime import date, datetime
from pathlib import Path

from llmtrade.app.backtest_inputs import range_weeks
from llmtrade.app.backtest_prices import span
from llmtrade.config.models import Config
from llmtrade.domain.market import Bar
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.csv_files import INTRADAY_DIR
from llmtrade.market.csv_folder import read_csv_bytes
from llmtrade.market.csv_intraday import intraday_rows
from llmtrade.workflows.schedule import week_jobs


class ReadFingerprint:
    """The fingerprint of a CSV folder (`prices`, read from `folder`) as read by runs up to a session (`to`)."""

    def __init__(self, folder: Path, prices: dict[str, bytes], *, also: str = "") -> None:
        self._prices = prices
        self._also = also  # added to each run's (a replay's answers)
        digest = hashlib.sha256()
        for file_name, data in sorted(prices.items()):
            digest.update(file_name.encode() + b"\0" + data + b"\0")
        # The whole folder's bytes, as a run's id hashed them before (and as the workers' copy is named).
        self.whole = f"csv:{digest.hexdigest()}"
        self._bars: dict[str, list[Bar] | None] = {}
        self._rows: dict[str, tuple[list[float], list[float]] | None] = {}  # the intraday files'
        for name, data in prices.items():
            if name.startswith(f"{INTRADAY_DIR}/"):
                try:
                    self._rows[name] = intraday_rows(folder / name, data)
                except Exception:  # a quote of it stops: the run's id counts all of it
                    self._rows[name] = None
                continue
            try:
                self._bars[name] = read_csv_bytes(folder / name, name.removesuffix(".csv"), data)
            except Exception:  # refused or unreadable: the backtest judges it on all of it, so does its run's id
                self._bars[name] = None
        self._known: dict[tuple[date, datetime | None], str] = {}

    def of_run(self, config: Config, first: date, last: date) -> str:
        """The fingerprint for a run of `config` over the weeks of `first`..`last`: to the last session its jobs read,
        as its backtest finds it (app/backtest.py `last_session`); the whole folder's for a range with no job."""
        calendar = TradingCalendar()
        weeks = range_weeks(first, last, calendar, keys=("from:", "to:"))
        jobs = [job for week in weeks for job in week_jobs(config.schedule, calendar, week)]
        if not jobs:
            return self.whole + self._also
        return self.to(span(jobs, calendar)[1], max(job.at for job in jobs)) + self._also

    def to(self, last: date, until: datetime | None = None) -> str:
        """The folder's fingerprint for a run whose jobs read to session `last`, the last of them at `until` (None:
        the intraday files counted whole); see the module docstring."""
        if (last, until) not in self._known:
            digest = hashlib.sha256()
            for name in sorted(self._bars):
                digest.update(name.encode() + b"\0" + self._file(name, last).encode() + b"\0")
            for name in sorted(self._rows):  # none in a folder without intraday files: its digest is as before
                digest.update(name.encode() + b"\0" + self._intraday(name, until).encode() + b"\0")
            self._known[(last, until)] = f"csv-read-to-{last}:{digest.hexdigest()}"
        return self._known[(last, until)]

    def _intraday(self, name: str, until: datetime | None) -> str:
        rows = self._rows[name]
        if rows is None or until is None:
            return "whole:" + hashlib.sha256(self._prices[name]).hexdigest()
        stamps, prices = rows
        read = bisect_right(stamps, until.timestamp())  # a quote reads rows at or before its instant only
        return (
            "rows:"
            + hashlib.sha256(array("d", stamps[:read]).tobytes() + array("d", prices[:read]).tobytes()).hexdigest()
        )

    def _file(self, name: str, last: date) -> str:
        bars = self._bars[name]
        if bars is None or not any(bar.day == last for bar in bars):
            return "whole:" + hashlib.sha256(self._prices[name]).hexdigest()
        read = [bar.model_dump(mode="json") for bar in bars if bar.day <= last]
        return "bars:" + hashlib.sha256(json.dumps(read, sort_keys=True).encode()).hexdigest()
