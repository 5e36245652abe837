"""Three first-use commands at once on a fresh home, many times over: count the trials where one failed, said a
traceback, or the migrations were not each applied once (target 0).

tests/test_concurrency.py runs the race once (`db status --json`, `status`, `events --json` started together on a
home with no server yet: they share its initdb, its database's creation and its migrations); this is the loop, for a
change to how a home's server, database or migrations are first made. Each trial is a throwaway LLMTRADE_HOME whose
embedded PostgreSQL is stopped after it.

    python benchmarks/first_use_race.py [--trials 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
COMMANDS = (["db", "status", "--json"], ["status"], ["events", "--json"])


def _trial(home: Path, shipped: list[int]) -> list[str]:
    """The race on `home`; what went wrong."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRADE_") and k != "DATABASE_URL"}
    env |= {
        "LLMTRADE_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SOURCE), env.get("PYTHONPATH")])),
    }
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "llmtrade", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in COMMANDS
    ]
    said = [process.communicate(timeout=300) for process in running]
    ends = [(process.returncode, out, err) for process, (out, err) in zip(running, said, strict=True)]
    subprocess.run([sys.executable, "-m", "llmtrade", "db", "stop"], env=env, capture_output=True)
    wrong = [
        f"{' '.join(args)}: exit {code}: {err[-300:]}"
        for args, (code, _, err) in zip(COMMANDS, ends, strict=True)
        if code != 0 or "Traceback" in err
    ]
    if not wrong:
        applied = [m["number"] for m in json.loads(ends[0][1])["migrations"]]
        if applied != shipped:
            wrong.append(f"migrations {applied}, shipped {shipped}")
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    options = parser.parse_args()
    sys.path.insert(0, str(SOURCE))
    from llmtrade.storage import migrations

    shipped = [m.number for m in migrations.available()]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="llmtrade-first-use-") as folder:
        for trial in range(options.trials):
            wrong = _trial(Path(folder) / f"home-{trial}", shipped)
            failed += bool(wrong)
            for line in wrong:
                print(f"trial {trial}: {line}")
    print(f"{options.trials} trials: {failed} went wrong")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
