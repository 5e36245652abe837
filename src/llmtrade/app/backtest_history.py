"""Provider history for a backtest, fetched once up front into a price snapshot (`backtest --fetch-history`).

Without it a backtest reads a CSV folder (`--csv`, `market_data.csv_dir`) or the synthetic market, and no
feed is asked while its weeks run. With it, the live providers (assets.yaml `market_data.providers`, or
LLMTRADE_MARKET_PROVIDERS) are asked once, before the first week, for every bar the range will read --
through the market service (market/service.py), so the answer is validated against the NYSE sessions, a
provider that fails or answers with a hole falls back to the next as in a live run, and the live bar cache
answers when it already covers the range. The bars are then written as a CSV folder,
`LLMTRADE_HOME/backtests/NAME/prices/` (one `SYMBOL.csv` each, the format `--csv` reads, and a
`manifest.json`: provider, range, symbols, fetch time), and the backtest reads that folder like any other.
So its price-data hash pins the backtest's inputs, a resume reads the same bytes without asking the
provider again, and the folder can be kept, compared or passed to another backtest with `--csv`.

The snapshot is written whole or not at all (a temporary folder renamed into place): a failed fetch leaves
nothing that a later run could take for a complete one.

Honesty: a provider returns history as it knows it today. Both Alpaca (split-adjusted, market/alpaca_data.py)
and Yahoo (whose prices are split-adjusted even with auto_adjust=False) divide the bars before a split by
its ratio, including splits announced after a week's as-of time; dividends stay unadjusted. A CSV folder
of unadjusted prices avoids that, where no split falls inside the range (the paper broker splits no position:
app/backtest_prices.py flags a split-like jump at the start).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from llmtrade.app.backtest_benchmark import last_week_reading_to
from llmtrade.app.backtest_prices import span
from llmtrade.app.container import Container
from llmtrade.clock import Clock, SystemClock
from llmtrade.config.loader import LoadedConfig, file_label
from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError, MarketDataUnavailable, OperationalError, UsageError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.failures import PriceFilesMisconfigured
from llmtrade.market.provider import BarProvider
from llmtrade.market.providers import build_providers, provider_names
from llmtrade.market.service import MarketData
from llmtrade.market.untraded import QUIET_TAIL, UntradedSessions
from llmtrade.market.validation import ProblemKind, SeriesRejected, validate_bars
from llmtrade.settings import Settings
from llmtrade.workflows.schedule import Job

MANIFEST = "manifest.json"
# A history a few sessions short of a range that ended this past week may be a feed not updated yet, not a delisting.
_LAG, _RECENT = 3, timedelta(days=7)


@dataclass(frozen=True)
class Snapshot:
    """A backtest's price snapshot: its folder, the provider that answered, the range and symbols it holds,
    and whether this invocation fetched it (False: an earlier one did, and it was reused)."""

    folder: Path
    provider: str
    start: date
    end: date
    symbols: tuple[str, ...]
    fetched: bool


def snapshot_folder(settings: Settings, name: str) -> Path:
    """Where backtest `name`'s fetched prices live: LLMTRADE_HOME/backtests/NAME/prices."""
    return settings.home / "backtests" / name / "prices"


def fetch_history(
    settings: Settings,
    loaded: LoadedConfig,
    clock: Clock,
    *,
    name: str,
    symbols: Sequence[str],
    start: date,
    end: date,
    say: Callable[[str], None],
    weeks: Mapping[date, Sequence[Job]] | None = None,
) -> Snapshot:
    """The snapshot of `symbols`' daily bars for `start`..`end` (inclusive, New York session dates).

    Reused when the backtest's folder already holds one covering the range and the symbols; otherwise fetched
    from the live providers and written. Raises UsageError (exit 2) when the only provider configured is the
    synthetic market or an existing snapshot does not cover what is asked (a longer range is a new backtest),
    and OperationalError (exit 1) when no provider supplies a complete, valid series (each provider's failure
    is named). Nothing is written unless every symbol's series passed validation. A symbol whose answer ends before
    the range does, with no other problem (delisted, or no longer carried), is stored so and said: the backtest takes
    it as a delisting, as it takes a CSV file that ends early (app/backtest_delisting.py); the benchmark ending early,
    a hole inside a history, or another provider's bars after that end (one feed dropped it) is still refused. A
    provider that could not be asked now (a 429, a 5xx, a timeout, its bar of the last session not final) is a
    temporary failure (exit 75), nothing written: when every provider failed so, as any read's, and when a history
    ending early could be a delisting but that provider's say on it is missing (`_unjudged`).
    """
    folder = snapshot_folder(settings, name)
    wanted = tuple(dict.fromkeys(symbols))
    existing = _read_manifest(folder)
    if existing is not None:
        missing = sorted(set(wanted) - set(existing.symbols))
        if existing.start <= start and end <= existing.end and not missing:
            say(
                f"backtest {name}: reusing its price snapshot {folder} ({existing.provider}, "
                f"{existing.start}..{existing.end}); no provider asked"
            )
            return existing
        lacks = f"symbols {', '.join(missing)}" if missing else f"{start}..{end}"
        raise UsageError(
            f"backtest {name!r}: its price snapshot {folder} holds {existing.start}..{existing.end} "
            f"({len(existing.symbols)} symbols) but this run needs {lacks}; its books were priced from that "
            "snapshot, so give a new --name (or delete the folder and the backtest to start this one again)"
        )
    assets = loaded.config.assets
    names = [n for n in provider_names(assets, settings, live=True) if n != "synthetic"]
    if not names:
        raise UsageError(
            "--fetch-history asks the live market data providers, but only the synthetic market is configured "
            "(assets.yaml market_data.providers or LLMTRADE_MARKET_PROVIDERS); name alpaca, yfinance or csv"
        )
    # The live home's storage: its bar cache is market data, not books, and may already cover the range.
    app = Container(settings, loaded, clock, None, say)
    _refuse_ahead(app, settings, clock, end, weeks or {})
    say(f"backtest {name}: fetching {len(wanted)} symbols' daily bars {start}..{end} from {', '.join(names)}")
    try:
        with app.storage() as storage:
            assets_file = file_label(loaded.source, "assets.yaml")
            kept = [_Kept(p) for p in build_providers(assets, settings, names, assets_file=assets_file)]
            market = MarketData(kept, app.bar_cache(storage), app.calendar)
            # A snapshot is the backtest's whole record, read as a CSV folder is (a session missing between rows
            # refused): a symbol a feed saw no trade of in some session is not written without it.
            market.untraded_read = False
            try:
                series = market.bars(wanted, start, end)
            except MarketDataError as refused:
                # A history that ends early is a delisting, as a CSV file's is: read the same answers again with
                # those ends (a hole, or the benchmark ending, is still refused by the second read).
                recent = end >= clock.now().date() - _RECENT
                sessions = app.calendar.sessions_between(start, end)
                after = _closed_after(app.calendar, end, settings, clock)
                market.ends, disputed = _ends_early(kept, wanted, sessions, recent=recent, after=after)
                if market.ends and (unheard := [f"{p.name}: {p.unheard}" for p in kept if p.unheard is not None]):
                    raise MarketDataUnavailable(_unjudged(market.ends, kept, unheard, folder)) from refused
                try:
                    if not market.ends:
                        raise
                    series = market.bars(wanted, start, end)
                except MarketDataError as exc:
                    if not disputed:
                        raise
                    said = f"{exc}; not taken as delistings: {'; '.join(disputed)}"
                    raise _alike(exc, MarketDataError)(said) from refused
    except MarketDataError as exc:
        raise _alike(exc, OperationalError)(f"--fetch-history: {exc}; nothing was written to {folder}") from exc
    for symbol, day in sorted(market.ends.items()):
        say(
            f"backtest {name}: {series.provider}'s history of {symbol} ends at {day}, before {end} (delisted, or no "
            "longer carried): stored so in the snapshot, and taken as a delisting as a CSV file that ends early is"
        )
    snapshot = Snapshot(folder, series.provider, start, end, wanted, fetched=True)
    _write(snapshot, series.bars, fetched_at=clock.now())
    return snapshot


def _refuse_ahead(
    app: Container, settings: Settings, clock: Clock, end: date, weeks: Mapping[date, Sequence[Job]]
) -> None:
    """UsageError (exit 2) when the range reads a session not closed now (on `clock`, or on LLMTRADE_NOW when earlier:
    the providers take nothing after it): no provider has its bar, and asked, each history ended at today's, taken
    for a delisting of every symbol but the benchmark, refused as stale (exit 1) or, with a provider whose bar of that
    far session was 'not final', a wait (exit 75, 'run it again later') for days. A session closed but not final yet
    (16:00 to 16:16 on Alpaca's SIP feed) is still such a wait. `weeks` (the range's, Wednesday -> jobs): the `--to`
    whose weeks read only closed sessions is named."""
    now = clock.now() if settings.now is None else min(clock.now(), settings.now)
    last = app.calendar.last_completed_session(now)
    if last is not None and end <= last:
        return
    named = last_week_reading_to(app.calendar, weeks, last, by="the sessions closed now") if weeks and last else None
    earlier = named or "end the range earlier (a week's jobs read to the Tuesday after it)"
    raise UsageError(
        f"--fetch-history: the range reads prices to {end}, a session not complete yet (the last one complete now "
        f"is {last}): no provider has its bar; {earlier}, or run it once {end} has closed"
    )


class _Kept:
    """A provider whose answers (or failures) are kept: asked again for the same bars, it answers as it did."""

    def __init__(self, provider: BarProvider):
        self.provider = provider
        self.name = provider.name
        self.synthetic = provider.synthetic
        self.origin = provider.origin  # the file a CSV provider names in its problems
        self.answers: dict[tuple[tuple[str, ...], date, date], dict[str, list[Bar]] | Exception] = {}
        # Why it could not be asked, when it could not (a 429, a 5xx, a timeout, its bar of the last session not
        # final yet): not kept as an answer, and what it would have said of a history ending early is not known.
        self.unheard: str | None = None

    def incomplete(self, close: datetime) -> str | None:
        """The provider's: a live provider's bar of a session just closed, not taken yet (and so not heard)."""
        why = self.provider.incomplete(close)
        if why is not None:
            self.unheard = why
        return why

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        key = (tuple(symbols), start, end)
        if key not in self.answers:
            try:
                self.answers[key] = self.provider.daily_bars(symbols, start, end)
            except MarketDataError as exc:
                self.answers[key] = exc
            except MarketDataUnavailable as exc:
                self.unheard = str(exc)
                raise
        answer = self.answers[key]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _alike(exc: MarketDataError, otherwise: type[OperationalError]) -> type[OperationalError]:
    """The error to say `exc` again in: a CSV folder's of the configuration keeps its exit 2, whatever wraps it."""
    return PriceFilesMisconfigured if isinstance(exc, PriceFilesMisconfigured) else otherwise


def _unjudged(ends: dict[str, date], kept: Sequence[_Kept], unheard: Sequence[str], folder: Path) -> str:
    """Why a history ending early was not taken as a delisting: a provider that could not be asked might carry the
    symbol on (`_ends_early`'s dispute), and a snapshot, once written, is reused by every resume: a temporary failure
    (exit 75), as the read would be without the early end."""
    first = next(p.name for p in kept for a in p.answers.values() if _heard(a) is not None)
    said = "; ".join(f"{first}'s history of {symbol} ends at {day}" for symbol, day in sorted(ends.items()))
    return (
        f"--fetch-history: {said}, before the range does, but {'; '.join(unheard)}: it could not be asked whether "
        f"it carries on (so not taken as a delisting); nothing was written to {folder}; run it again later"
    )


def _closed_after(calendar: TradingCalendar, end: date, settings: Settings, clock: Clock) -> list[date]:
    """The sessions after `end` closed now (as `_refuse_ahead` counts now), the first QUIET_TAIL + 1 of them at most:
    where a symbol without a trade at the range's end is seen to trade again or not (`_silent`)."""
    now = clock.now() if settings.now is None else min(clock.now(), settings.now)
    last = calendar.last_completed_session(now)
    later = calendar.sessions_between(end + timedelta(days=1), end + timedelta(days=2 * QUIET_TAIL + 14))
    return [day for day in later if last is not None and day <= last][: QUIET_TAIL + 1]


def _silent(kept: _Kept, symbol: str, tail: Sequence[date], after: Sequence[date]) -> bool:
    """Whether `symbol`, without a bar in the range's last sessions `tail` at `kept` (its feed saw no trade of it while
    it saw the others': market/untraded.py `quiet_tail`), has none in the sessions after the range (`after`, those
    closed now) either, for longer than QUIET_TAIL sessions in all: no quiet name then, its history ended (a delisting).
    False when it trades again within them, or when that cannot be told yet (too few closed, its feed not answering)."""
    window = list(after[: QUIET_TAIL + 1 - len(tail)])
    if not window or len(window) < QUIET_TAIL + 1 - len(tail):
        return False
    try:
        bars = kept.daily_bars([symbol], window[0], window[-1])
    except UntradedSessions as exc:  # bars with sessions between them its feed saw no trade in: it trades again
        bars = {s: b for s, (b, _) in exc.untraded.items()}
    except (MarketDataError, MarketDataUnavailable):
        return False
    return not bars.get(symbol)


def _ends_early(
    kept: Sequence[_Kept],
    symbols: Sequence[str],
    sessions: Sequence[date],
    *,
    recent: bool,
    after: Sequence[date] = (),
) -> tuple[dict[str, date], list[str]]:
    """Each symbol (the benchmark aside) whose bars in the first provider that answered end before the range's last
    session and have no other problem, with its last bar's day; not one `_LAG` sessions short of a `recent` range's end
    (a feed not updated yet looks the same: still refused, as before); and, apart, what another provider's answer
    disputes: a symbol it has bars of after that day was not delisted there, only dropped by the first feed (Alpaca no
    longer carrying a symbol Yahoo still has), so it is not taken as a delisting and the fetch is refused, saying so."""
    if not sessions:
        return {}, []
    answers = [(p, heard, a) for p in kept for a in p.answers.values() if (heard := _heard(a)) is not None]
    if not answers:
        return {}, []
    teller, answer, told = answers[0]
    first = teller.name
    # The range's last sessions its feed saw no trade of a symbol in while it saw the others trade, up to QUIET_TAIL
    # (a thin name on IEX, a halt: market/untraded.py `quiet_tail`): no delisting, and the fetch is refused for it as
    # for a middle one, unless the sessions after the range (`after`) show it never traded again (`_silent`).
    quiet = told.tail if isinstance(told, UntradedSessions) else {}
    ends: dict[str, date] = {}
    for symbol in symbols:
        if symbol in quiet and not _silent(teller, symbol, quiet[symbol], after):
            continue
        bars = [b for b in answer.get(symbol) or [] if sessions[0] <= b.day <= sessions[-1]]
        problems = validate_bars({symbol: bars}, sessions) if bars and symbol != BENCHMARK else []
        lagging = recent and len([d for d in sessions if bars and d > bars[-1].day]) <= _LAG
        if problems and all(p.kind is ProblemKind.STALE for p in problems) and not lagging:
            ends[symbol] = bars[-1].day
    disputed = []
    for symbol, day in list(ends.items()):
        later = {
            name: max(b.day for b in other.get(symbol) or [] if b.day <= sessions[-1])
            for name, other in ((p.name, heard) for p, heard, _ in answers[1:])
            if any(day < b.day <= sessions[-1] for b in other.get(symbol) or [])
        }
        if later:
            del ends[symbol]
            seen = ", ".join(f"{name} has bars to {last}" for name, last in sorted(later.items()))
            disputed.append(f"{first}'s history of {symbol} ends at {day} but {seen}")
    return ends, disputed


def _heard(answer: dict[str, list[Bar]] | Exception) -> dict[str, list[Bar]] | None:
    """The bars a provider's kept answer holds: all of them, or those of the files it read whole when it refused others
    (a CSV folder's hole in one file: SeriesRejected `read`), which still show whether it carries a symbol on; or all
    of them when it refused some for sessions its feed saw no trade in (UntradedSessions: the others' bars and theirs),
    where a symbol's history ending early was lost with the whole answer."""
    if isinstance(answer, SeriesRejected):
        return answer.read or None
    if isinstance(answer, UntradedSessions):
        return {**answer.answered, **{symbol: bars for symbol, (bars, _) in answer.untraded.items()}}
    return None if isinstance(answer, Exception) else answer


def _write(snapshot: Snapshot, bars: dict[str, list[Bar]], *, fetched_at: datetime) -> None:
    """Every file into a temporary sibling folder, then one rename: the snapshot appears whole or not at all."""
    folder = snapshot.folder
    building = folder.with_name(folder.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for symbol in snapshot.symbols:
        # repr() of a float reads back as the same float, so the backtest sees exactly the bars fetched.
        lines = ["Date,Open,High,Low,Close,Volume"] + [
            f"{b.day.isoformat()},{b.open!r},{b.high!r},{b.low!r},{b.close!r},{b.volume!r}" for b in bars[symbol]
        ]
        (building / f"{symbol}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = {
        "provider": snapshot.provider,
        "start": snapshot.start.isoformat(),
        "end": snapshot.end.isoformat(),
        "symbols": list(snapshot.symbols),
        "fetched_at": fetched_at.astimezone(UTC).isoformat(),
    }
    (building / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    building.rename(folder)


def _read_manifest(folder: Path) -> Snapshot | None:
    path = folder / MANIFEST
    if not path.is_file():
        if folder.exists():
            raise UsageError(
                f"{folder} exists but holds no {MANIFEST}: it is not a complete price snapshot; delete it and run again"
            )
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Snapshot(
            folder,
            str(raw["provider"]),
            date.fromisoformat(raw["start"]),
            date.fromisoformat(raw["end"]),
            tuple(str(s) for s in raw["symbols"]),
            fetched=False,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a price snapshot manifest ({exc}); delete the folder and run again") from exc


def history_for(
    settings: Settings,
    loaded: LoadedConfig,
    *,
    name: str,
    csv: Path | None,
    jobs: Sequence[Job],
    calendar: TradingCalendar,
    say: Callable[[str], None],
) -> Path:
    """The folder of backtest `name`'s price snapshot, for every bar its `jobs` read (as app/backtest_prices.py
    `prefetch` counts them); UsageError when a CSV folder (`csv`, --csv) was given too."""
    if csv is not None:
        raise UsageError("--fetch-history and --csv exclude each other: prices come from one source")
    start, end = span(list(jobs), calendar)
    symbols = sorted({*loaded.config.assets.symbols, BENCHMARK})
    weeks: dict[date, list[Job]] = {}
    for job in jobs:
        weeks.setdefault(job.week_id, []).append(job)
    snapshot = fetch_history(
        settings, loaded, SystemClock(), name=name, symbols=symbols, start=start, end=end, say=say, weeks=weeks
    )
    return snapshot.folder
