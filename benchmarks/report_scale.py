"""How `llmtrade leaderboard` and `llmtrade report` scale with the length of the books: wall time and peak memory.

Runs the commands as a user does, each in a process of its own (`python -m llmtrade`), on an offline backtest of
the range given (made first, or reused with the same --home and --name), and reports for each: wall seconds and
the process's peak resident memory (`wait4`'s ru_maxrss, the process alone: its draws worker is a process of its
own), and the report's size.

    python benchmarks/report_scale.py --range 2018-01-03:2026-05-27            # the real ETF files
    python benchmarks/report_scale.py --synthetic --range 2016-01-06:2025-12-24

A user's weekly cron reads the live books, which grow by a week a week; a backtest of years is the long case.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backtest_speed import DEFAULT_CSV, config_dir


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of one command run to its end, its output discarded."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 and process.stderr is not None:
        sys.stderr.write(process.stderr.read().decode(errors="replace"))
    return wall, usage.ru_maxrss / 1024, process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", required=True, help="FROM:TO (dates), the backtest's weeks")
    parser.add_argument("--synthetic", action="store_true", help="the synthetic market instead of the CSV files")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--home", type=Path, help="LLMTRADE_HOME to make or reuse (default: a new temporary one)")
    parser.add_argument("--name", default="scale")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command")
    args = parser.parse_args()
    first, last = args.range.split(":")
    home = args.home or Path(tempfile.mkdtemp(prefix="llmtrade-scale-"))
    config = home / "config"
    if not config.exists():
        config_dir(config, None if args.synthetic else args.csv)
    # As installed: pip writes the bytecode, where a shell with PYTHONDONTWRITEBYTECODE compiles every module each run.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"LLMTRADE_HOME": str(home)}
    base = [sys.executable, "-m", "llmtrade", "--config", str(config)]
    try:
        made = [*base, "backtest", "--name", args.name, "--from", first, "--to", last, "--offline", "--json"]
        wall, rss, code = timed(made, env)
        print(f"backtest {args.range}: {wall:.1f} s, peak {rss:.0f} MB, exit {code}")
        if code != 0:
            return code
        page = home / "report.html"
        for _ in range(args.repeat):
            for label, command in (
                ("leaderboard", [*base, "leaderboard", "--backtest", args.name, "--json"]),
                ("report", [*base, "report", "--backtest", args.name, "-o", str(page)]),
            ):
                wall, rss, code = timed(command, env)
                size = f", {page.stat().st_size / 1e6:.1f} MB of HTML" if label == "report" and code == 0 else ""
                print(f"{label}: {wall:.1f} s, peak {rss:.0f} MB{size}, exit {code}")
    finally:
        subprocess.run([*base, "db", "stop"], env=env, capture_output=True, check=False)
    print(f"home: {home}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
