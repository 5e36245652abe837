"""`status` and a checkpoint while an account holds a symbol whose prices ended (its CSV file no longer written).

    PYTHONPATH=src python benchmarks/ended_held_reads.py [--home /tmp/home-x] [--years 2] [--repeat 5] [--src DIR]

An offline home on a CSV folder (`LLMTRADE_MARKET_PROVIDERS=csv`): `years` of the seeded synthetic market to
Tuesday 2026-01-06, then flat bars to the next Tuesday. The weekly run of Wednesday 2026-01-07 08:00 (offline rules)
buys at the open; the file of one symbol an account then holds (not SPY) is cut after Wednesday: its prices ended.
Then, timed as commands (a fresh process each, wall time):
- `status --json` at Friday 17:00, `repeat` times (each a cron run's `status`);
- `checkpoint 09:00`, `12:00`, `14:00`, `15:50` on Friday and Monday (a checkpoint is run once per slot).
Besides the wall time, each command's calls of the CSV provider's `daily_bars` are counted (LLMTRADE_BENCH_COUNT: a
sitecustomize wrapper written into the home), and those of the ended symbol alone (what is read for it: the
judgement, its last bar, status's closes to it) with the calendar days they spanned and the time spent in them.
The home's embedded PostgreSQL is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUESDAY = date(2026, 1, 6)
WEDNESDAY = date(2026, 1, 7)

# Counts CSV reads in each command's process: loaded through sitecustomize (PYTHONPATH), written to a JSON file.
_COUNTER = """
import json, os, time
path = os.environ.get("LLMTRADE_BENCH_COUNT")
if path:
    from llmtrade.market import csv_folder
    _read = csv_folder.CsvFolderProvider.daily_bars
    def daily_bars(self, symbols, start, end):
        began = time.perf_counter()
        try:
            return _read(self, symbols, start, end)
        finally:
            took = time.perf_counter() - began
            with open(path, "a") as out:  # a line per call: the CLI may leave without running atexit hooks
                out.write(json.dumps([list(symbols), (end - start).days, took]) + chr(10))
    csv_folder.CsvFolderProvider.daily_bars = daily_bars
"""


def write_market(folder: Path, years: int) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from llmtrade.config.loader import load_config
    from llmtrade.market.synthetic import SyntheticMarket

    config = load_config(None).config
    classes = {i.symbol: i.asset_class.value for i in config.assets.universe}
    history = SyntheticMarket(classes, seed=11).daily_bars(list(classes), date(2026 - years, 1, 1), TUESDAY)
    after = [WEDNESDAY + timedelta(days=d) for d in range(0, 7) if (WEDNESDAY + timedelta(days=d)).weekday() < 5]
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, bars in history.items():
        rows = [f"{b.day},{b.open},{b.high},{b.low},{b.close},{int(b.volume)}" for b in bars]
        last = bars[-1].close
        rows += [f"{day},{last},{last},{last},{last},1000000" for day in after]
        (folder / f"{symbol}.csv").write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")


def run(env: dict[str, str], now: str, *args: str) -> tuple[float, int, list, str]:
    counted = Path(env["LLMTRADE_HOME"]) / "counted.json"
    counted.unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "llmtrade", *args],
        env={**env, "LLMTRADE_NOW": now, "LLMTRADE_BENCH_COUNT": str(counted)},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    calls = [json.loads(line) for line in counted.read_text().splitlines()] if counted.exists() else []
    return wall, done.returncode, calls, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, default=Path("/tmp/home-ended-bench"))
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the llmtrade sources the commands run")
    args = parser.parse_args()
    home = args.home
    if home.exists():
        sys.exit(f"{home} exists: give a new --home")
    (home / "site").mkdir(parents=True)
    (home / "site" / "sitecustomize.py").write_text(_COUNTER)
    write_market(home / "csv", args.years)
    env = {
        **os.environ,
        "LLMTRADE_HOME": str(home),
        "LLMTRADE_MARKET_PROVIDERS": "csv",
        "LLMTRADE_MARKET_CSV_DIR": str(home / "csv"),
        "PYTHONPATH": os.pathsep.join([str(home / "site"), str(args.src)]),
    }
    env.pop("DATABASE_URL", None)
    try:
        wall, code, _, _ = run(env, "2026-01-07T08:00:00-05:00", "-q", "run-weekly")
        assert code == 0, f"run-weekly exited {code}"
        _, code, _, out = run(env, "2026-01-07T12:00:00-05:00", "status", "--json")
        held = sorted({p["symbol"] for a in json.loads(out)["accounts"] for p in a["positions"] if p["qty"]} - {"SPY"})
        assert held, "no account holds a symbol other than SPY"
        gone = held[0]
        path = home / "csv" / f"{gone}.csv"
        path.write_text(
            "".join(
                line
                for line in path.read_text().splitlines(True)
                if line[:10] <= str(WEDNESDAY) or line.startswith("Date")
            )
        )
        print(f"{gone}.csv cut after {WEDNESDAY} ({args.years} years of history; held: {', '.join(held)})")
        walls = []
        for _ in range(args.repeat):
            wall, code, calls, out = run(env, "2026-01-09T17:00:00-05:00", "status", "--json")
            walls.append(wall)
        ended = json.loads(out).get("at_last_close")
        days = sum(span for symbols, span, _ in calls if symbols == [gone])
        took = 1000 * sum(t for symbols, _, t in calls if symbols == [gone])
        print(
            f"status (exit {code}, at_last_close {ended}): median {statistics.median(walls):.3f} s wall "
            f"(min {min(walls):.3f}, of {args.repeat}); CSV reads {len(calls)}, of {gone} "
            f"alone {sum(c[0] == [gone] for c in calls)} spanning {days} calendar days, {took:.2f} ms"
        )
        for now, slot in [
            ("2026-01-09T09:00:00-05:00", "09:00"),
            ("2026-01-09T12:00:00-05:00", "12:00"),
            ("2026-01-09T14:00:00-05:00", "14:00"),
            ("2026-01-12T09:00:00-05:00", "09:00"),
            ("2026-01-12T12:00:00-05:00", "12:00"),
        ]:
            wall, code, calls, _ = run(env, now, "-q", "checkpoint", slot)
            days = sum(span for symbols, span, _ in calls if symbols == [gone])
            took = 1000 * sum(t for symbols, _, t in calls if symbols == [gone])
            print(
                f"checkpoint {now[:10]} {slot} (exit {code}): {wall:.3f} s wall; CSV reads {len(calls)}, of {gone} "
                f"alone {sum(c[0] == [gone] for c in calls)} spanning {days} calendar days, {took:.2f} ms"
            )
    finally:
        subprocess.run([sys.executable, "-m", "llmtrade", "db", "stop"], env=env, capture_output=True, check=False)


if __name__ == "__main__":
    main()
