"""What `config validate` says of a CSV folder's files (commands/setup.py): the problems every read of them refuses,
whatever range it asks, found by the readers the runs use, so the files get the same verdict there as at a run.

A daily file is parsed whole at every read (market/csv_folder.py `read_csv`: a row that cannot be read, a date twice
or out of order, a blank line among the rows, a price not positive ...), and so is an intraday file at every quote
(market/csv_intraday.py: and a row on a closed day); two files whose names differ only in case are refused by every
read of their symbol (market/csv_files.py). Those are said here. What a read refuses for its own range only (a
session missing between two rows, a daily row on a closed day or dated after today, a file that stops early) depends
on that range (a backtest's, a live run's history), and a missing file on whether another provider prices the symbol:
each is the run's to say, not validate's. A file whose last rows were written before their session closed is no
refusal (a read takes the sessions before them, and the file written again after the close): `unfinished_note` says
it, as validate's note.
"""

from __future__ import annotations

from pathlib import Path

from llmtrade.clock import SystemClock
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.csv_files import INTRADAY_DIR, case_twins, intraday_file, twins_refused
from llmtrade.market.csv_folder import last_stamp, read_csv, unusable
from llmtrade.market.csv_intraday import intraday_rows
from llmtrade.market.csv_unfinished import Unfinished, unfinished_rows, unfinished_said, written_ns
from llmtrade.market.failures import PriceFilesMisconfigured
from llmtrade.market.validation import SeriesRejected


def folder_problems(folder: Path, symbols: list[str], named_by: str = "") -> list[str]:
    """What every read of `symbols`' files in CSV folder `folder` refuses (one message a file), none when each reads
    (or is missing, or out of reach: the run says so). `named_by`: where the folder was named (the twins' message)."""
    said: list[str] = []
    for inner in (folder, folder / INTRADAY_DIR):
        if twins := case_twins(inner, symbols):
            said.append(str(twins_refused(inner, twins, named_by)))
    for symbol in symbols:
        daily = folder / f"{symbol}.csv"
        if unusable(daily) is None:
            try:
                read_csv(daily, symbol)
            except SeriesRejected as exc:
                said.append(str(exc))
            except OSError:  # out of reach: a read says why, and whether for now
                pass
        intraday = intraday_file(folder, symbol)
        if unusable(intraday) is None:
            try:
                intraday_rows(intraday, intraday.read_bytes())
            except PriceFilesMisconfigured as exc:
                said.append(str(exc))
            except OSError:
                pass
    return said


def unfinished_note(folder: Path, symbols: list[str]) -> str | None:
    """What `config validate` says of `symbols`' daily files whose last rows were written before their session closed
    (market/csv_unfinished.py: every read leaves them out until the file is written again after the close), None when
    there is none. Rows dated after the machine's today are the reader's to refuse, not said here; a file that cannot
    be read is `folder_problems`'s."""
    today = new_york_date(SystemClock().now())
    calendar = TradingCalendar()
    found: dict[str, Unfinished] = {}
    for symbol in symbols:
        daily = folder / f"{symbol}.csv"
        if unusable(daily) is not None:
            continue
        try:
            status = daily.stat()
            every = read_csv(daily, symbol)
            written = written_ns(status, every[-1].day if every else None, calendar)
            bars = [b for b in every if b.day <= today]
        except (SeriesRejected, OSError):
            continue
        stamp = last_stamp(daily, symbol) if every and bars and bars[-1] == every[-1] else None
        if (late := unfinished_rows(daily, bars, written, calendar, stamp)) is not None:
            found[symbol] = late
    if not found:
        return None
    return (
        f"csv folder {folder}: {unfinished_said(found)}; a run that needs that session's bar waits for it (exit 75), "
        "and `status` shows the session before"
    )
