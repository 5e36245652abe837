"""How much memory `llmtrade backtest --offline` holds as its weeks go by: peak RSS, RSS after each tenth of the
weeks, and (with `--trace A:B`) what the heap gained between week A and week B, by where it was allocated.

Each range runs in a process of its own (this script started again with one range), as `llmtrade backtest`
does, so its peak (resource.getrusage's ru_maxrss) is that range's alone; PostgreSQL is started per range as
benchmarks/backtest_speed.py starts it (its memory is not counted: another process). RSS after a week is read
from /proc/self/status (VmRSS) in the progress callback, after the week's flush was handed over and its heap
frozen (app/backtest_process.py `weekly_heap`).

`--trace A:B` starts tracemalloc after week A (only what is allocated from then on is traced: the first weeks'
start-up is not in the figure) and compares a snapshot there with one after week B (Snapshot.compare_to),
grouped by `--group` (lineno or traceback, `--frames` deep): what the weeks between kept, by allocation site.
Tracing costs several times the CPU: its run's times are not the backtest's.

    python benchmarks/backtest_memory.py --synthetic [--range 2016-01-06:2016-12-28 ...] [--csv DIR]
        [--trace 10:100 [--group lineno|traceback] [--frames 8] [--top 25]] [--cpu]

`--cpu`: also the process's CPU seconds (user + system) for the backtest call, and per tenth.
"""

from __future__ import annotations

import argparse
import gc
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from backtest_speed import DEFAULT_CSV, scratch  # noqa: E402


def rss_mb() -> float:
    """This process's resident set now, in MB (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", action="append", dest="ranges", help="FROM:TO (dates); repeatable")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--synthetic", action="store_true", help="the synthetic market instead of the CSVs")
    parser.add_argument("--no-discovery", action="store_true", help="no discovery before the weekly runs")
    parser.add_argument("--trace", help="A:B: what the heap gained between week A and week B (tracemalloc)")
    parser.add_argument("--group", choices=("lineno", "traceback", "filename"), default="lineno")
    parser.add_argument("--frames", type=int, default=8, help="frames kept per allocation (traceback grouping)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--cpu", action="store_true", help="the CPU seconds of the backtest call too")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: run the one range here
    args = parser.parse_args()
    ranges = args.ranges or ["2016-01-06:2016-12-28"]
    if not args.synthetic and not args.csv.is_dir():
        print(f"no CSV folder at {args.csv}", file=sys.stderr)
        return 2
    if args.one:
        return run(args, ranges[0])
    # Each range in a process of its own: ru_maxrss is a process's peak, and a range must not inherit another's heap.
    base = [a for a in sys.argv[1:] if a]
    stripped: list[str] = []
    skip = False
    for arg in base:
        if skip:
            skip = False
            continue
        if arg == "--range":
            skip = True
            continue
        if arg.startswith("--range="):
            continue
        stripped.append(arg)
    for span in ranges:
        done = subprocess.run([sys.executable, __file__, *stripped, "--range", span, "--one"], check=False)
        if done.returncode:
            return done.returncode
    return 0


def run(args: argparse.Namespace, span: str) -> int:
    from llmtrade.app.backtest import BacktestSpec, backtest

    first, last = (date.fromisoformat(d) for d in span.split(":"))
    trace = tuple(int(n) for n in args.trace.split(":")) if args.trace else None
    with scratch(args, "backtest-memory-") as (settings, folder, loaded, _postmaster):
        spec = BacktestSpec(name="memory", first=first, last=last, offline=True, replay=False)
        marks: list[tuple[int, float, float]] = []  # weeks done, RSS MB, CPU seconds
        snapshots: dict[int, tracemalloc.Snapshot] = {}

        def progress(p: object) -> None:
            done = p.weeks_done  # type: ignore[attr-defined]
            marks.append((done, rss_mb(), time.process_time()))
            if trace is None:
                return
            if done == trace[0]:
                tracemalloc.start(args.frames)
                snapshots[done] = tracemalloc.take_snapshot()
            elif done == trace[1]:
                snapshots[done] = tracemalloc.take_snapshot()
                tracemalloc.stop()

        before = rss_mb()
        cpu = time.process_time()
        result = backtest(settings, loaded, folder, spec, say=lambda _t: None, progress=progress, draws_apart=True)
        cpu = time.process_time() - cpu
        report(args, result, before, cpu, marks)
        if trace is not None and len(snapshots) == 2:
            traced(args, snapshots[trace[0]], snapshots[trace[1]], trace)
        elif trace is not None:
            print(f"  --trace {args.trace}: the range ran {result.weeks_run} weeks, not enough to trace")
    return 0


def report(
    args: argparse.Namespace, result: object, before: float, cpu: float, marks: list[tuple[int, float, float]]
) -> None:
    weeks = result.weeks_run  # type: ignore[attr-defined]
    print(
        f"{result.start}..{result.end}: {weeks} weeks; RSS before the backtest {before:.0f} MB, "  # type: ignore[attr-defined]
        f"peak {peak_mb():.0f} MB (ru_maxrss), after {rss_mb():.0f} MB; objects tracked by gc {len(gc.get_objects())}"
        + (f"; {cpu:.1f} s CPU" if args.cpu else "")
    )
    # After each tenth of the weeks (the week whose mark is nearest each tenth), with the CPU that tenth took.
    by_week = {done: (mb, t) for done, mb, t in marks}
    shown: list[str] = []
    last_cpu = marks[0][2] if marks else 0.0
    for tenth in range(1, 11):
        week = max(1, round(weeks * tenth / 10))
        if week not in by_week:
            continue
        mb, t = by_week[week]
        shown.append(f"w{week} {mb:.0f}" + (f" ({t - last_cpu:.1f}s)" if args.cpu else ""))
        last_cpu = t
    print("  RSS MB after week: " + ", ".join(shown))


def traced(
    args: argparse.Namespace, start: tracemalloc.Snapshot, end: tracemalloc.Snapshot, trace: tuple[int, ...]
) -> None:
    ignore = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    ]
    start, end = start.filter_traces(ignore), end.filter_traces(ignore)
    diff = end.compare_to(start, args.group)
    gained = sum(d.size_diff for d in diff)
    print(f"  heap gained between week {trace[0]} and week {trace[1]}: {gained / 2**20:.1f} MB traced; top {args.top}:")
    for stat in diff[: args.top]:
        print(f"  {stat.size_diff / 2**20:+8.2f} MB {stat.count_diff:+8d} blocks")
        lines = stat.traceback.format(limit=args.frames if args.group == "traceback" else 1, most_recent_first=True)
        for line in lines:
            if line.strip().startswith("File"):
                print(f"      {line.strip().replace(str(ROOT) + '/', '')}")


if __name__ == "__main__":
    sys.exit(main())
