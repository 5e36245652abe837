"""Whether a rerun of a backtest resumes it: its inputs against those its books were written with (`check_resume`).

A rerun with other inputs (app/backtest_inputs.py `Inputs`) is refused, but for three cases that mix nothing:
- price files that only grew (`_changed_bar`: every bar the books were written from is still there, the same, and no
  row was added inside the days the weeks read) are the same prices: a weekly reader downloads the new week into the
  folder and extends the backtest; refused, a backtest could be extended only on files that held the later rows
  already. A CSV folder's intraday files are compared day by day (`_changed_intraday`): a day changed inside the days
  the books reach is refused, rows added after them go on;
- the days the books reach end with the last job's (`_books_end`): daily bars cached for later days (the prefetch
  caches the whole range; a run killed midway) bind nothing, and are read again from changed files;
- a start after starts that ran no job (`ran_nothing`) replaces them when its inputs differ: nothing holds theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from llmtrade.app.backtest_config import config_changes
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.backtest_inputs import Inputs
from llmtrade.app.baseline_universe import folder_moved
from llmtrade.app.discovery import priceable
from llmtrade.config.candidates import packaged_candidates
from llmtrade.domain import streams
from llmtrade.domain.backtests import BacktestStarted, delisted, first_leak, listed_late, weeks_done
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.runs import RunStarted
from llmtrade.errors import LlmtradeError, OperationalError, UsageError
from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.csv_folder import read_csv
from llmtrade.market.csv_quotes import INTRADAY_DIR
from llmtrade.market.providers import csv_dir
from llmtrade.market.validation import validate_bars
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.database import backtest_database
from llmtrade.storage.latest_record import latest_record


@dataclass(frozen=True)
class Resume:
    """What `check_resume` found: the weeks an earlier run finished, and the prices this start reads afresh
    (BacktestStarted.replaced_after: date.min for all of them, None for none)."""

    finished: set[date]
    replaced_after: date | None = None


def check_resume(app: BacktestContainer, storage: Storage, inputs: Inputs, *, until: date) -> Resume:
    """The weeks an earlier run of this backtest finished; UsageError when its inputs differ from `inputs`,
    OperationalError when it failed its look-ahead audit (its books are not evidence: start a new one). `until`: the
    last session the range (to --to) reads, which a backtest run afresh reads the discovery candidates' files to."""
    events = storage.events
    stream = events.read_stream(streams.BACKTEST)
    starts = [e for e in stream if e.type == BacktestStarted.event_type()]
    if not starts:
        if events.count():
            raise UsageError(
                f"the database of backtest {inputs.name!r} holds events but no backtest: choose another name"
            )
        return Resume(set())
    # The inputs the books were written with: every start after the first that ran a job (a resume) repeats them.
    was = BacktestStarted.from_event(starts[-1])
    differences = [
        f"{label} {old} (now {new})"
        for label, old, new in (
            # Names equal but for case and -/_ share one database (storage/database.py `backtest_database`).
            ("name", was.name, inputs.name),
            ("first week", was.start, inputs.start),
            ("mode", was.mode, inputs.mode),
            # The same config as an earlier build hashed it is the same config (an upgrade added fields to it).
            ("config hash", was.config_hash[:12], _config_seen(was.config_hash, inputs, app, stream)[:12]),
            # A CSV folder moved or copied elsewhere is the same prices when its files are (the hash below): where
            # they are is no input (README lists the first week, mode, config hash and price files' hash).
            ("prices", was.data, inputs.data),
            ("price data hash", was.data_hash[:12], inputs.data_hash[:12]),
        )
        if old != new and (label != "prices" or _kind(str(old)) != _kind(str(new)))
    ]
    if ran_nothing(storage):
        if differences:
            # Every earlier start stopped before its first job (a bad price file, a missing one, a kill; an older
            # llmtrade left what such a start cached): no book holds its inputs, so these replace them. What it cached
            # goes, and what it recorded of its prices (jumps, late listings) no longer stands (replaced_after).
            app.bar_cache(storage).forget_all()
            app.say(
                f"backtest {inputs.name!r}: its earlier start ran no job, so this one replaces it with other inputs: "
                + "; ".join(differences)
            )
            return Resume(set(), replaced_after=date.min)
        return Resume(set())
    if was.name != inputs.name:
        raise _name_taken(was, inputs.name, differences)
    starts = _since_replaced(starts)
    folder = csv_dir(app.loaded.config.assets, app.settings)
    replaced_after: date | None = None
    if len(differences) == 1 and was.data_hash != inputs.data_hash and folder is not None:
        # The last day a job of the books read (a checkpoint priced at the open reads its day's own bar): a bar after it
        # was cached ahead (the prefetch holds the whole range) but read by no job, a killed run's included.
        read_to = _books_end(storage) or date.min
        spans = BarCache(storage.conn).spans(synthetic=False)  # the days each symbol's weeks read or will
        if spans:
            # A symbol listed after the range (app/backtest_prices.py `listed_after`) was never fetched: its file was
            # read over the days the others were, and had no row in them (a row there now is a late listing's earlier
            # history, which a run afresh offers).
            read = (min(a for r in spans.values() for a, _ in r), max(b for r in spans.values() for _, b in r))
            spans |= {s: [read] for s, day in listed_late(stream).items() if s not in spans and day > read[1]}
        cached = _cached(storage)
        changed, later = _changed_bar(cached, folder, spans, read_to, delisted(stream))
        changed = changed or _unread_candidate(app, folder, spans, until, read_to)
        if changed is None:
            ahead = f"; its bars after {read_to}, the last day its jobs read, are read again from them ({later})"
            app.say(
                "prices: the files changed since this backtest last ran, but every bar it read is the same: going on"
                f"{ahead if later else ''} (price data hash {was.data_hash[:12]}, now {inputs.data_hash[:12]})"
            )
            differences = []
            # Forgotten (below) whether or not they changed: a start killed between the forget and its record would
            # otherwise leave the next one nothing to compare, and what was recorded of them standing.
            replaced_after = read_to
        else:
            differences[0] += f": {changed}"
    same_kind = _kind(was.data) == _kind(inputs.data)
    if same_kind and (moved := _intraday_moved(app, storage, was, starts, inputs)) is not None:
        differences.append(f"intraday prices: {moved}")
    if differences:
        for at, difference in enumerate(differences):  # the settings named: a hash alone says nothing to mend
            if difference.startswith("config hash") and (changes := config_changes(stream, app.loaded.config)):
                differences[at] = f"{difference}: {changes}"
        if same_kind and was.data != inputs.data:  # said beside what differs: which folder was read, which is now
            differences.insert(0, f"prices {was.data} (now {inputs.data})")
        raise UsageError(
            f"backtest {inputs.name!r} was started with other inputs: " + "; ".join(differences) + ". "
            "Rerun it with the same inputs to resume, or give a new --name"
        )
    if was.data != inputs.data:
        same = "its files are the same" if was.data_hash == inputs.data_hash else "its files grew, as said"
        app.say(
            f"prices: the CSV folder is now {inputs.data.removeprefix(CSV_DATA)} (it was "
            f"{was.data.removeprefix(CSV_DATA)}); {same}: going on"
        )
    leak = first_leak(stream)
    if leak is not None:
        raise OperationalError(
            f"backtest {inputs.name!r} failed its look-ahead audit at week {leak.week_id} ({leak.role}, "
            f"line {leak.line}); its results are not evidence: fix the leak and start a new backtest"
        )
    if replaced_after is not None:
        # What no job read is read again from the files (the prefetch), and what the starts recorded of it (a jump, a
        # late listing, a delisting after that day) no longer stands: this start records it again (replaced_after).
        symbols = sorted({*cached, *spans})
        if symbols:
            app.bar_cache(storage).forget(symbols, replaced_after + timedelta(days=1), date.max, synthetic=False)
    return Resume(weeks_done(stream), replaced_after=replaced_after)


def _name_taken(was: BacktestStarted, name: str, differences: list[str]) -> UsageError:
    """`--name H1` beside a backtest recorded as h1: one database (storage/database.py `backtest_database`), so the
    books are h1's. Said as a name taken, not as h1's inputs changed: a trial read "started with other inputs: name h1
    (now H1)" as if H1 were a backtest of its own."""
    others = [d for d in differences if not d.startswith(f"name {was.name} ")]
    also = f"; its other inputs differ too: {'; '.join(others)}" if others else ""
    again = "the same command" if not others else "it with its own inputs"
    return UsageError(
        f"--name {name} is the name of backtest {was.name} (as it was recorded): backtest names are compared "
        f"without case, and with - and _ alike, so both are the database {backtest_database(was.name)}{also}. To "
        f"resume it, run {again} with --name {was.name}; for a backtest of its own, give another --name"
    )


CSV_DATA = "csv:"  # BacktestStarted.data of a CSV folder: "csv:" and the folder's resolved path (backtest_inputs.py)


def _kind(data: str) -> str:
    """What kind of prices BacktestStarted.data names: "csv:" for any CSV folder, else itself ("synthetic")."""
    return CSV_DATA if data.startswith(CSV_DATA) else data


def _config_seen(recorded: str, inputs: Inputs, app: BacktestContainer, stream: Sequence[StoredEvent]) -> str:
    """`recorded` when it is the hash this build or an earlier one gives the config of `inputs`, or that config but
    for where its CSV folder is (baseline_universe.py `folder_moved`), else the config's."""
    same = recorded in inputs.config_hashes or folder_moved(app.loaded.config, stream, recorded)
    return recorded if same else inputs.config_hash


def ran_nothing(storage: Storage) -> bool:
    """Whether every start on record stopped before its first job: no job's run began (RunStarted: every job, a
    discovery before the weekly run and a delisting's settlement open one first) and no week is done (one with no
    job on the schedule runs none)."""
    if latest_record(storage.conn, [RunStarted.event_type()]) is not None:
        return False
    return not weeks_done(storage.events.read_stream(streams.BACKTEST))


def _since_replaced(starts: Sequence[StoredEvent]) -> Sequence[StoredEvent]:
    """`starts` from the last that replaced every earlier one (BacktestStarted.replaced_after date.min): the earlier
    ones ran no job, so what they read says nothing of the books."""
    fresh = [i for i, e in enumerate(starts) if BacktestStarted.from_event(e).replaced_after == date.min]
    return starts[fresh[-1] :] if fresh else starts


def _cached(storage: Storage) -> dict[str, list[tuple[Any, ...]]]:
    """The cache's bars of the files (not the synthetic market's), by symbol: (day, open, high, low, close, volume)."""
    rows = storage.conn.execute(
        "SELECT symbol, day, open, high, low, close, volume FROM market_bars WHERE NOT synthetic ORDER BY symbol, day"
    ).fetchall()
    by_symbol: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_symbol.setdefault(row[0], []).append(row[1:])
    return by_symbol


def _changed_bar(
    cached: Mapping[str, Sequence[tuple[Any, ...]]],
    folder: Path,
    spans: Mapping[str, Sequence[tuple[date, date]]],
    read_to: date,
    ends: Mapping[str, date],
) -> tuple[str | None, str | None]:
    """The first bar the files in `folder` no longer give as the backtest's jobs read it (to `read_to`, the last day
    one read), said with its file and day: a bar the cache holds (`cached`: every bar its weeks read) that changed or
    is gone (a restatement, a split adjusted since, a partial day's bar completed), a row now inside the days its
    weeks read that was not there then (a late listing given its earlier history, a file that ended early given its
    later rows: a backtest run afresh reads them in those weeks), or a row after the last day of a delisting (`ends`)
    the jobs took. Then the first such change after `read_to`, which no job read (the prefetch caches the whole
    range: a run killed midway cached bars ahead of its jobs): not refused, but said, and read again. (None, None)
    when the files only gained rows outside those days."""
    later: str | None = None
    for symbol in sorted({*cached, *spans}):
        rows = cached.get(symbol, [])
        path = folder / f"{symbol}.csv"
        try:
            now = {b.day: (b.open, b.high, b.low, b.close, b.volume) for b in read_csv(path, symbol)}
        except (OSError, LlmtradeError) as exc:
            said = f"{path.name} cannot be read as it was ({str(exc).splitlines()[0]})"
            if any(day <= read_to for day, *_ in rows) or any(a <= read_to for a, _ in spans.get(symbol, ())):
                return said, None
            later = later or said
            continue
        for day, *bar in rows:
            if now.get(day) != tuple(bar):
                found = f"close {now[day][3]}" if day in now else "no such row"
                if day <= read_to:
                    return (
                        f"{path.name}'s bar of {day} is not the one this backtest read (close {bar[3]}; now {found})",
                        None,
                    )
                later = later or f"{path.name}'s bar of {day}: close {bar[3]}, now {found}"
        read = {day for day, *_ in rows}
        for day in sorted(now):
            span = next(((a, b) for a, b in spans.get(symbol, ()) if a <= day <= b), None)
            if span is None or day in read:
                continue
            if day <= read_to:
                return (
                    f"{path.name} now has a bar of {day}, inside the days this backtest's weeks read ({span[0]} to "
                    f"{min(span[1], read_to)}), which had no row then: a backtest run afresh on these files would read "
                    "it in those weeks"
                ), None
            later = later or f"{path.name} now has a bar of {day}"
        last = ends.get(symbol)
        if last is not None and last <= read_to and (after := [day for day in sorted(now) if day > last]):
            return (
                f"{path.name} now has a bar of {after[0]}, after {last}, which this backtest's weeks took as its last "
                f"day (a delisting; its jobs read to {read_to}): a backtest run afresh on these files would trade it on"
            ), None
    return None, later


def _books_end(storage: Storage) -> date | None:
    """The New York day of the last job's run (its RunStarted, stamped with the stepped clock as all it records): the
    last day a job read. Not the last event's: a start stamps its own records (BacktestStarted, its refusals, its stop)
    at the next week's first job, and one that stopped before it (--to moved on before the week was downloaded) made
    that week's days look read, refusing the rows then downloaded for it."""
    last = latest_record(storage.conn, [RunStarted.event_type()])
    return None if last is None else last.astimezone(NEW_YORK).date()


def _intraday_moved(
    app: BacktestContainer, storage: Storage, was: BacktestStarted, starts: Sequence[StoredEvent], inputs: Inputs
) -> str | None:
    """What changed in the intraday files inside the days the books reach (`_changed_intraday`), None when nothing
    did; UsageError naming the line when the file that changed cannot be read now (the file to mend, not inputs to
    put back)."""
    if was.intraday is None:
        if inputs.intraday:
            app.say(
                "intraday files: this backtest's earlier run did not record them (an older llmtrade), so their "
                "changes cannot be checked; they are recorded from now on"
            )
        return None
    recorded, unread = _read_intraday(was, starts)
    moved = _changed_intraday(recorded, unread, inputs.intraday, _books_end(storage))
    if moved is None:
        return None
    if (why := inputs.unread.get(moved[0])) is not None:
        raise UsageError(
            f"backtest {inputs.name!r}: intraday prices: {why}; its weeks run read the file's prices of {moved[1]}: "
            "mend the file, then run the same command again to resume"
        )
    return moved[2]


def _read_intraday(was: BacktestStarted, starts: Sequence[StoredEvent]) -> tuple[dict[str, dict[date, str]], set[str]]:
    """The intraday files' days as the weeks run read them, and the files none of them read: the last start's (`was`,
    of `starts`) record, but a file it could not read (no job read it since: any quote of it stops) as the last start
    before that read it recorded it (or as absent then, its symbol priced at the session's open), and among the files
    none read when no start read it (a bad row from the first: mended, it is compared with nothing)."""
    read = dict(was.intraday or {})
    unread: set[str] = set()
    earlier = [BacktestStarted.from_event(e) for e in reversed(starts[:-1])] if was.intraday_unread else []
    for name in was.intraday_unread:
        unread.add(name)
        for start in earlier:
            if start.intraday is None:  # recorded by no start before: its changes cannot be checked
                break
            if name not in start.intraday_unread:
                unread.discard(name)
                if name in start.intraday:
                    read[name] = start.intraday[name]
                break
    return read, unread


def _changed_intraday(
    was: Mapping[str, Mapping[date, str]],
    unread: set[str],
    now: Mapping[str, Mapping[date, str]],
    end: date | None,
) -> tuple[str, date, str] | None:
    """The first intraday file's day, to `end` (the books' last), whose prices are not the ones the backtest's start
    recorded (`was`): changed, gone, or new (a file added, rows given where there were none: a backtest run afresh
    would quote them, where the weeks run had no row or priced the symbol at the session's open); as the file's name,
    the day and what changed. None when the files only changed after `end`: the weeks still to run read those days. The
    files no week read (`unread`, `_read_intraday`) are not compared."""
    if end is None:
        return None
    for name in sorted({*was, *now} - unread):
        then, today = was.get(name, {}), now.get(name)
        path = f"{INTRADAY_DIR}/{name}"
        for day in sorted(d for d in {*then, *(today or {})} if d <= end):
            old, new = then.get(day), (today or {}).get(day)
            if old == new:
                continue
            if today is None:
                return name, day, f"{path} is gone; this backtest read its prices of {day}"
            if old is None:
                said = (
                    f"{path} now has prices of {day}, inside the days this backtest's weeks ran (to {end}), which had "
                    "none then: a backtest run afresh on these files would quote them in those weeks"
                )
                return name, day, said
            if new is None:
                return name, day, f"{path} no longer has the prices of {day} this backtest read"
            return name, day, f"{path}'s prices of {day} are not the ones this backtest read"
    return None


def _unread_candidate(
    app: BacktestContainer, folder: Path, spans: Mapping[str, Sequence[tuple[date, date]]], until: date, read_to: date
) -> str | None:
    """A discovery candidate's file the weeks already run did not read (it was not there, or could not be used) that
    now has rows inside the days they read (to `read_to`, the last day a job read): a backtest run afresh on these
    files judges it in those weeks (in
    watchlist mode, may trade it). None when discovery is off or no such file is there. A file that still cannot be
    read, or whose rows fail validation over the days a run afresh reads them (to `until`: a stale tail before the
    range's new end too), is left out afresh too (app/backtest_discovery.py), so it is not one."""
    discovery = app.loaded.config.assets.discovery
    if discovery.universe_mode == "static" and not discovery.in_backtest:
        return None
    if not spans:
        return None
    first = min(a for ranges in spans.values() for a, _ in ranges)
    last = max(b for ranges in spans.values() for _, b in ranges)
    # A run afresh reads the candidates to the range's end (backtest_steps.py `discovery_started`).
    end = max(last, until)
    for candidate in priceable(app, packaged_candidates()):
        if candidate.symbol in spans:
            continue
        try:
            bars = [b for b in read_csv(folder / f"{candidate.symbol}.csv", candidate.symbol) if first <= b.day <= end]
        except (OSError, LlmtradeError):
            continue
        inside = [b.day for b in bars if b.day <= min(last, read_to)]
        # One a backtest run afresh would leave out too (a hole, a stale tail over its days) is not one it judges.
        if inside and not validate_bars({candidate.symbol: bars}, app.calendar.sessions_between(first, end)):
            return (
                f"{candidate.symbol}.csv, a discovery candidate's file, has bars from {inside[0]} to {inside[-1]}, "
                f"inside the days this backtest's weeks read ({first} to {min(last, read_to)}), but the weeks already "
                "run did not read it (it was not there, or could not be used): a backtest run afresh on these files "
                "would judge "
                f"{candidate.symbol} in those weeks"
            )
    return None
