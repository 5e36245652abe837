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
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

from llmtrade.app.backtest_inputs import range_weeks
from llmtrade.app.backtest_prices import span
from llmtrade.config.models import Config
from llmtrade.domain.market import Bar
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.csv_folder import read_csv_bytes
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
        for name, data in prices.items():
            try:
                self._bars[name] = read_csv_bytes(folder / name, name.removesuffix(".csv"), data)
            except Exception:  # refused or unreadable: the backtest judges it on all of it, so does its run's id
                self._bars[name] = None
        self._known: dict[date, str] = {}

    def of_run(self, config: Config, first: date, last: date) -> str:
        """The fingerprint for a run of `config` over the weeks of `first`..`last`: to the last session its jobs read,
        as its backtest finds it (app/backtest.py `last_session`); the whole folder's for a range with no job."""
        calendar = TradingCalendar()
        weeks = range_weeks(first, last, calendar, keys=("from:", "to:"))
        jobs = [job for week in weeks for job in week_jobs(config.schedule, calendar, week)]
        return (self.to(span(jobs, calendar)[1]) if jobs else self.whole) + self._also

    def to(self, last: date) -> str:
        """The folder's fingerprint for a run whose jobs read to session `last` (see the module docstring)."""
        if last not in self._known:
            digest = hashlib.sha256()
            for name in sorted(self._prices):
                digest.update(name.encode() + b"\0" + self._file(name, last).encode() + b"\0")
            self._known[last] = f"csv-read-to-{last}:{digest.hexdigest()}"
        return self._known[last]

    def _file(self, name: str, last: date) -> str:
        bars = self._bars[name]
        if bars is None or not any(bar.day == last for bar in bars):
            return "whole:" + hashlib.sha256(self._prices[name]).hexdigest()
        read = [bar.model_dump(mode="json") for bar in bars if bar.day <= last]
        return "bars:" + hashlib.sha256(json.dumps(read, sort_keys=True).encode()).hexdigest()
