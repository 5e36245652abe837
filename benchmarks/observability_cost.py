"""What the log and the metrics cost (issue 16): at most 1% of an offline run-weekly; the metrics file in 50 ms.

    python benchmarks/observability_cost.py [--weeks 3] [--history-calls 2000]

Offline run-weekly runs as a command (a subprocess, `python -m llmtrade`) on successive Wednesdays in a
throwaway LLMTRADE_HOME with its embedded database. Then, in this process, against that database:

- log: the run's events written as log lines through the configured handlers (the JSON file), exactly the
  path `EventStore.append` takes (`domain.tracing.log_appended`), median of 5;
- metrics: what runs after every command (connect, the event-store queries, the text file written
  atomically), median of 20, and the first one in a fresh process (prometheus_client's import included);
- the same metrics after `--history-calls` more model-call records with live-sized messages (8 KB each),
  about a year of weekly runs with a live committee.

Both are compared with the run's own duration (RunStarted to RunFinished, from its JSON report).
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
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

FIRST_WEEK = date(2026, 1, 7)
LOG_SHARE_TARGET = 0.01
METRICS_TARGET_S = 0.050


def _median(work: Callable[[], object], times: int) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent)


def _weekly(env: dict[str, str], week: date) -> tuple[dict, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "llmtrade", "run-weekly", "--offline", "--json"],
        env={**env, "LLMTRADE_NOW": f"{week}T08:00:00-05:00"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"run-weekly failed:\n{done.stderr}")
    return json.loads(done.stdout), time.perf_counter() - started


def _first_metrics(env: dict[str, str], folder: Path) -> float:
    """What the metrics step adds to a command, in a fresh process that already did what a command does
    before it (settings loaded, psycopg imported): prometheus_client imported, locate, connect, queries, file."""
    code = (
        "import time\n"
        "from pathlib import Path\n"
        "import psycopg\n"
        "from llmtrade.settings import load_settings\n"
        "from llmtrade.storage.database import connect, locate\n"
        "settings = load_settings()\n"
        "t = time.perf_counter()\n"
        "from llmtrade.observe.metrics import registry, write\n"
        "conn = connect(locate(settings).url)\n"
        f"write(registry(conn), Path({str(folder)!r}))\n"
        "print(time.perf_counter() - t)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description="the cost of logging and metrics")
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--history-calls", type=int, default=2000)
    args = parser.parse_args()

    from llmtrade.clock import SystemClock
    from llmtrade.domain.events import LLMCallCompleted, NewEvent
    from llmtrade.domain.tracing import log_appended
    from llmtrade.observe.logs import configure
    from llmtrade.observe.metrics import registry, write
    from llmtrade.settings import Settings
    from llmtrade.storage.bootstrap import open_storage
    from llmtrade.storage.database import stop_embedded

    with tempfile.TemporaryDirectory() as home_dir:
        home = Path(home_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRADE_", "OPENROUTER_", "ALPACA_"))}
        env.pop("DATABASE_URL", None)
        env |= {"LLMTRADE_HOME": home_dir, "PYTHONPATH": str(ROOT / "src")}
        try:
            runs, walls = [], []
            for i in range(args.weeks):
                report, wall = _weekly(env, FIRST_WEEK + timedelta(weeks=i))
                runs.append(report["duration_ms"] / 1000)
                walls.append(wall)
                print(f"run-weekly --offline week {i + 1}: run {runs[-1]:.3f} s, command wall {wall:.3f} s")
            run_s = statistics.median(runs[1:] if len(runs) > 1 else runs)
            wall_s = statistics.median(walls[1:] if len(walls) > 1 else walls)

            first_s = _first_metrics(env, home / "metrics-first")
            settings = Settings(LLMTRADE_HOME=home_dir)
            with open_storage(settings, SystemClock()) as storage:
                last_run = storage.events.read(type="RunStarted")[-1].run_id
                events = storage.events.read(run_id=last_run)
                logging_handlers = configure(lambda: home / "bench-logs")
                try:
                    log_s = _median(lambda: log_appended(events), 5)
                    cpu_started = time.process_time()
                    log_appended(events)
                    log_cpu_s = time.process_time() - cpu_started
                finally:
                    logging_handlers.close()
                folder = home / "metrics"
                metrics_s = _median(lambda: write(registry(storage.conn), folder), 20)

                call = LLMCallCompleted(
                    role="peer_review", provider="openrouter", model="openai/gpt-5.1", source="live",
                    messages=[{"role": "system", "content": "s" * 2000}, {"role": "user", "content": "u" * 6000}],
                    answer="{}", schema_name="review", outcome="ok", prompt_tokens=2000, completion_tokens=300,
                    cost_usd=0.004, latency_ms=900.0, attempts=1, cache_key="k",
                )  # fmt: skip
                batch = [NewEvent.of(call, stream=f"bench-{n}", run_id=f"bench-{n // 40}") for n in range(100)]
                for _ in range(args.history_calls // 100):
                    storage.events.append(batch)
                total = storage.events.count()
                year_s = _median(lambda: write(registry(storage.conn), folder), 20)
        finally:
            stop_embedded(home / "pgdata")

    share = (log_s + metrics_s) / run_s
    print(f"load average while measuring: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores)")
    print(f"offline run-weekly, median run time: {run_s:.3f} s, command wall {wall_s:.3f} s ({len(events)} events)")
    print(f"log lines of one run ({len(events)}): {log_s * 1000:.2f} ms wall, {log_cpu_s * 1000:.2f} ms CPU")
    print(f"metrics file (connect excluded, queries included), warm: {metrics_s * 1000:.2f} ms")
    print(f"metrics step added to a command (import + locate + connect + queries + file): {first_s * 1000:.1f} ms")
    print(f"metrics file with {total} events ({args.history_calls} live-sized call records): {year_s * 1000:.2f} ms")
    print(f"log + metrics (warm) / run time: {share:.2%} (target <= {LOG_SHARE_TARGET:.0%})")
    print(f"log + the whole metrics step / command wall time: {(log_s + first_s) / wall_s:.2%}")
    ok = share <= LOG_SHARE_TARGET and max(metrics_s, year_s) <= METRICS_TARGET_S
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
