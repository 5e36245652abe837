"""How long `llmtrade --help` takes, wall clock, as a user's shell sees it.

Target (issue 2): under 0.3 s on the project's 2-core machine. Heavy libraries (psycopg,
pydantic-settings, pgserver, yaml) must stay out of the import path of `--help`.

    python benchmarks/cli_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 0.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    exe = Path(sys.executable).parent / "llmtrade"
    command = [str(exe)] if exe.exists() else [shutil.which("llmtrade") or "llmtrade"]
    command.append("--help")
    subprocess.run(command, capture_output=True, check=True)  # warm the OS file cache and .pyc files
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(
        f"llmtrade --help over {args.runs} runs: median {median:.3f} s, min {min(times):.3f} s, max {max(times):.3f} s"
    )
    print(f"target < {TARGET_SECONDS} s: {'met' if median < TARGET_SECONDS else 'MISSED'}")
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
