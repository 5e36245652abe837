"""Run `llmtrade memory search --week` and `memory stats` many times, each in a process of its own; count the exits
other than the command's own (target 0): 0 for the stats, 2 for the search (an empty home remembers no week).

The loop tests/test_memory_exit.py ran in the suite (12 runs): those commands once made the packaged embedder, whose
loading thread, a daemon in native code at exit, made glibc abort about one run in three (exit 134). The test now finds
the cause at each run; this is the loop, for a change to how llmtrade ends its process or loads the embedder.
Everything runs in a throwaway LLMTRADE_HOME (its embedded PostgreSQL stopped at the end).

    python benchmarks/memory_exit_soak.py [--runs 60] [--parallel 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

COMMANDS = (("memory", "search", "--week", "2024-02-07"), ("memory", "stats"))
EXPECTED = {COMMANDS[0]: 2, COMMANDS[1]: 0}


def _run(env: dict[str, str], args: tuple[str, ...]) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "llmtrade", *args], env=env, capture_output=True, text=True)
    return done.returncode, done.stderr[-400:]


def _wrong(args: tuple[str, ...], end: tuple[int, str]) -> bool:
    return end[0] != EXPECTED[args]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--parallel", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmtrade-memory-exit-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRADE_") and k != "DATABASE_URL"}
        env["LLMTRADE_HOME"] = home
        source = str(Path(__file__).resolve().parents[1] / "src")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
        try:
            first = _run(env, COMMANDS[1])  # starts the home's server once, before the runs race for it
            if first[0] != 0:
                print(f"could not start: exit {first[0]}: {first[1]}", file=sys.stderr)
                return 1
            commands = [COMMANDS[i % 2] for i in range(options.runs)]
            with ThreadPoolExecutor(max_workers=options.parallel) as pool:
                ends = list(pool.map(lambda args: _run(env, args), commands))
        finally:
            subprocess.run([sys.executable, "-m", "llmtrade", "db", "stop"], env=env, capture_output=True)
    codes = Counter(code for code, _ in ends)
    wrong = [(args, end) for args, end in zip(commands, ends, strict=True) if _wrong(args, end)]
    print(f"{options.runs} runs: exit codes {dict(codes)}; {len(wrong)} not the command's own")
    for args, (code, said) in wrong:
        print(f"{' '.join(args)}: exit {code}: {said}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
