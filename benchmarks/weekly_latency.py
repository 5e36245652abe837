"""run-weekly against a loopback OpenAI-compatible server with a fixed latency L per call, and offline.

Targets (issue 5):
- live: run time / critical path <= 1.15 with L = 0.5 s, where the critical path is research +
  pitches + reviews + chairman = 4L (each a round of parallel calls);
- offline: `llmtrade run-weekly` on a warm embedded database takes under 5 s, command wall time.

    python benchmarks/weekly_latency.py [--latency 0.5] [--weeks 3]

Each run is a new week (LLMTRADE_NOW on successive Wednesdays 08:00) in a throwaway LLMTRADE_HOME,
prices from the synthetic market (chosen explicitly, as a live run may). "run time" is the run's own
duration (RunStarted to RunFinished: snapshot, 19 model calls, risk gate, 5 accounts' orders, every
event write). Before each live week, `llmtrade market snapshot` at the same instant warms the bar
cache, as a cron machine's earlier commands would; the first week is also reported cold.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.committee_answers import committee_answer  # noqa: E402 - needs the repo root on sys.path
from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402

LIVE_TARGET = 1.15
OFFLINE_TARGET = 5.0
FIRST_WEEK = date(2026, 1, 7)


def _run(llmtrade: Path, args: list[str], env: dict[str, str]) -> tuple[dict, float]:
    started = time.perf_counter()
    done = subprocess.run([str(llmtrade), *args], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    return (json.loads(done.stdout) if "--json" in args else {}), wall


def main() -> int:
    parser = argparse.ArgumentParser(description="run-weekly latency against a loopback LLM")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--weeks", type=int, default=3)
    args = parser.parse_args()
    llmtrade = Path(sys.executable).parent / "llmtrade"
    critical = 4 * args.latency
    ratios, offline_walls = [], []
    with (
        tempfile.TemporaryDirectory() as home,
        FakeOpenAIServer(latency=args.latency, answer=committee_answer) as server,
    ):
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRADE_", "OPENROUTER_", "ALPACA_"))}
        base.pop("DATABASE_URL", None)
        base["LLMTRADE_HOME"] = home
        live = {**base, "LLMTRADE_LLM_BASE_URL": server.base_url, "LLMTRADE_MARKET_PROVIDERS": "synthetic"}
        try:
            for i in range(args.weeks):
                week = FIRST_WEEK + timedelta(weeks=i)
                env = {**live, "LLMTRADE_NOW": f"{week}T08:00:00-05:00"}
                if i > 0:
                    _run(llmtrade, ["market", "snapshot", "--json"], env)
                server.reset()
                report, wall = _run(llmtrade, ["run-weekly", "--json"], env)
                seconds = report["duration_ms"] / 1000
                ratio = seconds / critical
                if i > 0:
                    ratios.append(ratio)
                print(
                    f"live week {week} ({'cold' if i == 0 else 'warm'}): {len(server.requests)} calls, "
                    f"peak {server.max_in_flight} in flight, run {seconds:.3f} s, command wall {wall:.3f} s, "
                    f"run / 4L = {ratio:.3f}"
                )
            offline = {**base}
            for i in range(args.weeks + 1):
                week = FIRST_WEEK + timedelta(weeks=args.weeks + i)
                _, wall = _run(
                    llmtrade, ["run-weekly", "--offline"], {**offline, "LLMTRADE_NOW": f"{week}T08:00:00-05:00"}
                )
                if i > 0:  # the first offline week also builds that stretch of the synthetic market's cache
                    offline_walls.append(wall)
                print(f"offline week {week}: command wall {wall:.3f} s")
        finally:
            subprocess.run([str(llmtrade), "db", "stop"], env=base, capture_output=True, check=False)
    live_median = statistics.median(ratios)
    offline_median = statistics.median(offline_walls)
    print(f"L = {args.latency} s: median warm run / 4L = {live_median:.3f} (target <= {LIVE_TARGET})")
    print(f"offline run-weekly on a warm database: median {offline_median:.3f} s (target < {OFFLINE_TARGET} s)")
    met = live_median <= LIVE_TARGET and offline_median < OFFLINE_TARGET
    print("targets met" if met else "target MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
