"""What makes a backtest the same backtest: its inputs (recorded by every start, BacktestStarted, and checked on
every rerun by app/backtest_resume.py); its range of weeks; its progress; its leaderboard.

A backtest's name stands for one replay: the first week, the models' mode, the config and the prices (the price
files' hash, and a CSV folder's intraday files day by day). A rerun with any of them changed would mix two
experiments in one set of books, so it is refused; with the same inputs it resumes (the last week may move, to
extend a backtest).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from llmtrade import __version__
from llmtrade.analytics.records import Leaderboard
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.baseline_universe import config_hash, config_hashes
from llmtrade.app.known_weeks import HISTORY  # the history the first weekly run reads, prefetched with the rest
from llmtrade.domain.backtests import BacktestStarted
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import UsageError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.csv_files import price_files
from llmtrade.market.csv_quotes import intraday_days, stale_notice
from llmtrade.market.providers import csv_dir
from llmtrade.storage.event_store import EventStore

_WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Progress:
    """After each finished week: weeks done of the range (resumed ones included), model calls made now (live or
    replayed) and the offline rules' answers (no model's, $0)."""

    weeks_done: int
    weeks: int
    calls: int
    week_id: date | None
    rules_answers: int = 0


@dataclass(frozen=True)
class Inputs:
    name: str
    start: date
    end: date
    mode: str
    config_hash: str
    data: str
    data_hash: str
    intraday: dict[str, dict[date, str]]  # BacktestStarted.intraday
    unread: dict[str, str]  # why each intraday file left out of `intraday` cannot be read (not recorded)
    # config_hash and the hashes earlier builds gave the same config (baseline_universe.config_hashes): a resume's match
    config_hashes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, app: BacktestContainer, name: str, start: date, end: date) -> Inputs:
        config = app.loaded.config
        folder = csv_dir(config.assets, app.settings)
        intraday: dict[str, dict[date, str]] = {}
        unread: dict[str, str] = {}
        if folder is not None:
            data, data_hash = f"csv:{folder.resolve()}", _folder_hash(folder)
            # The days the range's jobs may quote: a week's jobs fall on its Wednesday to the next (its postmortem).
            intraday, unread = intraday_days(folder, start, end + _WEEK)
        else:
            data, data_hash = (
                "synthetic",
                hashlib.sha256(f"synthetic:{config.assets.market_data.synthetic_seed}".encode()).hexdigest(),
            )
        made = config_hash(config), config_hashes(config)
        return cls(name, start, end, app.mode.value, made[0], data, data_hash, intraday, unread, made[1])

    def started(self, *, resumed_after: date | None, replaced_after: date | None = None) -> BacktestStarted:
        return BacktestStarted(
            name=self.name,
            start=self.start,
            end=self.end,
            mode=self.mode,
            config_hash=self.config_hash,
            data=self.data,
            data_hash=self.data_hash,
            version=__version__,
            resumed_after=resumed_after,
            intraday=self.intraday,
            intraday_unread=sorted(self.unread),
            replaced_after=replaced_after,
        )


def range_weeks(
    first: date,
    last: date,
    calendar: TradingCalendar,
    history: timedelta = HISTORY,
    *,
    keys: tuple[str, str] = ("--from", "--to"),
) -> list[date]:
    """The weeks (their Wednesdays) `first`..`last` give; UsageError (exit 2) when --to is before --from, or when the
    weeks (each run to the next Wednesday, a postmortem's latest day) or the first one's `history` reach outside the
    NYSE calendar, naming its range: a bad argument, which the first lookup past it refused as market data (exit 1),
    naming a day never given. `keys`: how the message names the first and last day (a sweep file's "from:", "to:")."""
    start, end = week_id_for(first), week_id_for(last)
    if end < start:
        raise UsageError(f"{keys[1]} {last} is before {keys[0]} {first}")
    covers = f"the NYSE calendar covers {calendar.first_day} to {calendar.last_day}"
    earliest = week_id_for(calendar.first_day + history + timedelta(days=6))  # the first week starting after it
    if start < earliest:
        raise UsageError(
            f"{keys[0]} {first}: {covers}, and a backtest's first week reads {history.days} days of history before "
            f"it: give {keys[0]} {earliest} or later"
        )
    latest = week_id_for(calendar.last_day - _WEEK)
    if start > latest:
        # The whole range past it: "give --to D or earlier" put --to before --from (a trial's --from 2030-01-01).
        raise UsageError(
            f"{keys[0]} {first} to {keys[1]} {last}: {covers} (it reaches about two years past today), and the whole "
            "range lies after it: give a range of weeks your prices cover"
        )
    if end > latest:
        raise UsageError(
            f"{keys[1]} {last}: {covers} (it reaches about two years past today): give {keys[1]} "
            f"{latest + timedelta(days=6)} or earlier, and no later than your prices' last day"
        )
    return [start + n * _WEEK for n in range((end - start) // _WEEK + 1)]


def follow_books(events: EventStore) -> None:
    """The leaderboard's reads asked now, its copies then kept current by the weeks' appends (app/leaderboard.py)."""
    from llmtrade.app.leaderboard import follow_books as follow  # lazy, as `standings`

    follow(events)


def draw_ahead(app: BacktestContainer, first_at: datetime, last_at: datetime) -> None:
    """The leaderboard's bootstrap draws for books traded from `first_at` to `last_at`, asked for now."""
    from llmtrade.app.leaderboard import draw_ahead as ahead  # lazy, as `standings`

    ahead(app.loaded.config, app.calendar, first_at, last_at, mode=app.mode)


def standings(app: BacktestContainer, name: str) -> Leaderboard:
    """The backtest's leaderboard at its clock (its last instant): the same builder, the same numbers, as
    `llmtrade leaderboard --backtest NAME` and the report."""
    from llmtrade.app.leaderboard import build_leaderboard  # lazy: numpy, scipy and arch come with it

    with app.storage(persist=False) as storage:
        return build_leaderboard(app, storage, source=f"backtest {name}")


def _folder_hash(folder: Path) -> str:
    # Its regular files only (csv_files.price_files): a folder `old.csv` or a link to nothing beside the prices
    # raised a traceback here. A folder of files hashes as it always did, so existing backtests resume.
    digest = hashlib.sha256()
    for name, data in price_files(folder).items() if folder.is_dir() else ():
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def stale_rows(app: BacktestContainer, inputs: Inputs, instants: list[datetime]) -> str | None:
    """The intraday files whose rows price none of some jobs in session, on days they have rows (csv_quotes.py)."""
    folder = csv_dir(app.loaded.config.assets, app.settings)
    if folder is None:
        return None
    limit = timedelta(seconds=app.loaded.config.assets.market_data.quote_staleness_seconds)
    in_session = [at for at in instants if app.calendar.is_open(at)]
    return stale_notice(folder, inputs.intraday, in_session, limit, app.calendar)
