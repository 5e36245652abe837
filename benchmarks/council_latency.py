"""Council wall time against a loopback OpenAI-compatible server with a fixed latency L per call.

The council has three sequential steps (answers, rankings, chairman), each one round of calls in
parallel, so its floor is 3L. Target (issue 3): council time / 3L <= 1.15.

    python benchmarks/council_latency.py [--latency 0.5] [--runs 3]

It runs the real `llmtrade council` command in a subprocess on a throwaway embedded database,
pointing every provider at the fake server with LLMTRADE_LLM_BASE_URL. "council time" is the
run's own duration (RunStarted to RunFinished: rendering, calls, validation, event writes);
"command wall" adds interpreter start-up and opening the database.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402 - needs the repo root on sys.path

TARGET = 1.15


def main() -> int:
    parser = argparse.ArgumentParser(description="council latency against a loopback LLM")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    llmtrade = Path(sys.executable).parent / "llmtrade"
    with tempfile.TemporaryDirectory() as home, FakeOpenAIServer(latency=args.latency) as server:
        env = {
            **os.environ,
            "LLMTRADE_HOME": home,
            "LLMTRADE_LLM_BASE_URL": server.base_url,
            "LLMTRADE_LLM_API_KEY": "bench",
        }
        env.pop("DATABASE_URL", None)
        ratios, walls = [], []
        try:
            for i in range(args.runs):
                server.reset()
                started = time.perf_counter()
                done = subprocess.run(
                    [str(llmtrade), "council", f"benchmark question {i}", "--json"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                wall = time.perf_counter() - started
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    return 2
                report = json.loads(done.stdout)
                council = report["duration_ms"] / 1000
                ratio = council / (3 * args.latency)
                ratios.append(ratio)
                walls.append(wall)
                print(
                    f"run {i + 1}: {len(server.requests)} calls, peak {server.max_in_flight} in flight, "
                    f"council {council:.3f} s, command wall {wall:.3f} s, council / 3L = {ratio:.3f}"
                )
        finally:
            subprocess.run([str(llmtrade), "db", "stop"], env=env, capture_output=True, check=False)
    median = statistics.median(ratios)
    print(f"L = {args.latency} s: median council / 3L = {median:.3f} (target <= {TARGET}); ", end="")
    print(f"median command wall / 3L = {statistics.median(walls) / (3 * args.latency):.3f}")
    print("target met" if median <= TARGET else "target MISSED")
    return 0 if median <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
