"""A backtest's range that the benchmark's prices do not cover, refused at its start as a bad argument (exit 2).

Every weekly run and checkpoint reads SPY, so a week whose as-of session comes before SPY's first bar, or whose jobs
read a session after its last, cannot run. Such a range is the user's to change (a folder whose files all end on the
day they were downloaded, given `--to` today; files that begin on 2018-01-02, given `--from 2018-01-01`), as a range
the files do not cover at all is (app/backtest_prices.py `refuse_outside`): it was an operational failure (exit 1)
that said "start the backtest after it" or "end the range there" without the week that would run. The refusal names
the `--from` or `--to` of the range's weeks that these prices do cover, or that none does; `--fetch-history`'s
refusal of a range reading a session not closed yet names its `--to` alike (`last_week_reading_to`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from llmtrade.config.models import BENCHMARK
from llmtrade.errors import UsageError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.workflows.schedule import Job


def _reads(calendar: TradingCalendar, jobs: Sequence[Job], *, weeks: int = 0) -> tuple[date, date]:
    """A week's as-of session (the last closed at its first job) and the last session its last job reads; `weeks`
    later (earlier when negative): the same jobs that many weeks on, as the schedule repeats them."""
    shift = timedelta(weeks=weeks)  # an aware datetime's arithmetic keeps the wall time: 08:00 stays 08:00 over DST
    first, last = min(job.at for job in jobs) + shift, max(job.at for job in jobs) + shift
    return (
        calendar.last_completed_session(first) or first.date(),
        calendar.last_completed_session(last) or last.date(),
    )


# How far past the range a refusal looks for the week the benchmark's prices do cover. The files overlap the range
# (app/backtest_prices.py `refuse_outside` refuses one they do not), so that week is a week or two away.
_NEAREST = 8


def _nearest(
    calendar: TradingCalendar, plan: Mapping[date, Sequence[Job]], covers: Callable[[date, date], bool], step: int
) -> tuple[date, tuple[date, date]] | None:
    """The week nearest the range (`step` 1: after its last week, -1: before its first) whose (as-of, last read)
    sessions `covers` accepts, with them; None within `_NEAREST` weeks."""
    weeks = sorted(week for week, jobs in plan.items() if jobs)
    edge = weeks[-1] if step > 0 else weeks[0]
    for n in range(1, _NEAREST + 1):
        reads = _reads(calendar, plan[edge], weeks=n * step)
        if covers(*reads):
            return edge + timedelta(weeks=n * step), reads
    return None


def _place(where: str | None) -> tuple[str, str]:
    """(' (FILE)', 'SPY.csv') for the benchmark's file `where`, or ('', "SPY's file") when it has none."""
    return (f" ({where})", Path(where).name) if where else ("", f"{BENCHMARK}'s file")


def last_week_reading_to(
    calendar: TradingCalendar,
    plan: Mapping[date, Sequence[Job]],
    last_bar: date,
    *,
    by: str = "these prices",
    key: str = "--to",
) -> str | None:
    """What to give as `--to` for the weeks of `plan` (each week's Wednesday -> its jobs) whose jobs read no session
    after `last_bar` (covered `by` what: "these prices", "the sessions closed now"): "end the range with --to W
    (...)"; None when no week of the range is covered."""
    reads = {week: _reads(calendar, jobs) for week, jobs in sorted(plan.items()) if jobs}
    covered = [week for week, (_asof, last) in reads.items() if last <= last_bar]
    if not covered:
        return None
    return f"end the range with {key} {covered[-1]} (its last week {by} cover, reading to {reads[covered[-1]][1]})"


def benchmark_ends_early(
    calendar: TradingCalendar, plan: Mapping[date, Sequence[Job]], last_bar: date, where: str | None
) -> UsageError:
    """The refusal of a range (`plan`: each week's Wednesday -> its jobs) whose last week reads a session after the
    benchmark's last bar `last_bar` (its file `where`): the last week it covers given as `--to`, or none."""
    place, named = _place(where)
    reads = {week: _reads(calendar, jobs) for week, jobs in sorted(plan.items()) if jobs}
    first = min(reads)
    advice = last_week_reading_to(calendar, plan, last_bar)
    if advice is None:
        # Said alone, "no week of the range is covered" left the user to find the week that is: name it.
        advice = f"no week of the range is covered (its first, {first}, reads to {reads[first][1]})"
        found = _nearest(calendar, plan, lambda _asof, last: last <= last_bar, -1)
        if found is not None:
            week, (_asof, last) = found
            advice += f": give a range that ends at --to {week} or earlier (the last week these prices cover, "
            advice += f"reading to {last})"
    return UsageError(
        f"prices end early: {BENCHMARK}'s{place} last bar is {last_bar}, before the range's last week reads (to "
        f"{max(last for _asof, last in reads.values())}); every week reads {BENCHMARK}, the benchmark, so the weeks "
        f"after it cannot run: {advice}, or give {named} its later history"
    )


def benchmark_begins_late(
    calendar: TradingCalendar, plan: Mapping[date, Sequence[Job]], first_bar: date, where: str | None
) -> UsageError:
    """The refusal of a range (`plan`) whose first week's as-of session comes before the benchmark's first bar
    `first_bar` (its file `where`): the first week it covers given as `--from`, or none."""
    place, named = _place(where)
    reads = {week: _reads(calendar, jobs) for week, jobs in sorted(plan.items()) if jobs}
    covered = [week for week, (asof, _last) in reads.items() if asof >= first_bar]
    first = min(reads)
    if covered:
        advice = f"start the range with --from {covered[0]} (its first week these prices cover, as of "
        advice += f"{reads[covered[0]][0]})"
    else:
        advice = "no week of the range is covered"
        found = _nearest(calendar, plan, lambda asof, _last: asof >= first_bar, 1)
        if found is not None:
            week, (asof, _last) = found
            advice += f": give a range that starts at --from {week} or later (the first week these prices cover, "
            advice += f"as of {asof})"
    return UsageError(
        f"prices begin late: {BENCHMARK}'s{place} first bar is {first_bar}, after the first week's as-of session "
        f"{reads[first][0]}; every week reads {BENCHMARK}, the benchmark, so the weeks before it cannot run: "
        f"{advice}, or give {named} its earlier history"
    )


def synthetic_too_early(
    calendar: TradingCalendar, plan: Mapping[date, Sequence[Job]], given: tuple[date, date], origin: date
) -> UsageError | None:
    """The refusal of a range on the synthetic market (`plan`; `given`: its first and last day as written) whose first
    week's as-of session comes before the market's first day `origin`, or None: one whose jobs read only sessions
    before it is not covered at all (the first --from that runs named); one that ends after it begins late, as a
    benchmark file that begins inside the range does (`benchmark_begins_late`). A sweep asks it of each range before
    any run (each failed alone, exit 1, "no bars"); a backtest before it builds anything (backtest_prices.py)."""
    reads = sorted(_reads(calendar, jobs) for jobs in plan.values() if jobs)
    if not reads or reads[0][0] >= origin:
        return None
    if max(last for _asof, last in reads) < origin:
        return before_synthetic(given, origin)
    return benchmark_begins_late(calendar, plan, origin, None)


def before_synthetic(given: tuple[date, date], origin: date) -> UsageError:
    """The refusal of a range (`given`) that ends before the synthetic market's first day `origin`, naming the first
    --from that runs (the Wednesday after it)."""
    start = origin + timedelta(days=(2 - origin.weekday()) % 7 or 7)
    return UsageError(
        f"the prices do not cover the range {given[0]} to {given[1]}: the synthetic market begins on "
        f"{origin}; give --from {start} or later (or --csv DIR for prices of earlier years)"
    )


def refuse_synthetic_ahead(
    calendar: TradingCalendar, plan: Mapping[date, Sequence[Job]], now: datetime, *, where: str = "", key: str = "--to"
) -> None:
    """UsageError (exit 2) when a range on the synthetic market (`plan`: each week's Wednesday -> its jobs) reads a
    session not closed at `now` (the system's time). The synthetic market makes up a bar for any day, so such a range
    ran to the Tuesday after its last week with no word, its accounts and baselines valued at closes of days still to
    come, under a heading "as of the close of" a day after today. Real prices refuse it (no file or provider has those
    bars); this says it alike, naming the `--to` whose weeks read only closed sessions. `where` prefixes the message
    (a sweep's file and key); `key` names the last day's option (a sweep file's "to:")."""
    jobs = [job for week in plan.values() for job in week]
    if not jobs:
        return
    reads = _reads(calendar, jobs)[1]
    last = calendar.last_completed_session(now)
    if last is not None and reads <= last:
        return
    named = last_week_reading_to(calendar, plan, last, by="the sessions closed now", key=key) if last else None
    earlier = named or "no week of the range has closed yet (a week's jobs read to the Tuesday after it)"
    raise UsageError(
        f"{where}the range reads the synthetic market to {reads}, a session not closed yet (the last closed now is "
        f"{last}): a backtest values nothing at a close still to come; {earlier}"
    )
