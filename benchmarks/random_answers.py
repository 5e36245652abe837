"""run-weekly and council against a loopback LLM that answers random schema-valid instances.

A strict-mode model returns any instance of the schema it is sent, so this server does exactly
that: every structured request gets a random instance of its own `response_format` schema (seeded
by the request, so a run reproduces), free-text requests a canned answer. Targets (issue 10):

- 0 repairs and 0 failed roles over the runs (a repair is a request carrying the repair prompt; a
  failed role is a PM, review, research provider or council member that did not answer);
- run time / critical path <= 1.15 at L = 0.5 s: 4 round trips for run-weekly (research, pitches,
  reviews, chairman), 3 for the council (answers, rankings, chairman). The run time is the whole
  run's (RunFinished.duration_ms), so it includes work no model waits on: for run-weekly the market
  snapshot, recall, the risk gate and execution, printed per run beside the model-bound stages' own ratio;
  the memory reads and writes, the validator and risk_prep (the PM and FLAT accounts' sizing) run alongside
  the stages after them and are printed apart.

    python benchmarks/random_answers.py [--latency 0.5] [--runs 50] [--only weekly|council]

Each weekly run is a new week (successive Wednesdays 08:00) in a throwaway LLMTRADE_HOME, prices
from the synthetic market, the bar cache warmed by `market snapshot` first as in weekly_latency.py.
`--home DIR` runs in DIR and keeps it, so the state after N weeks can be inspected or a later week
profiled from a copy of it. Each run-weekly also runs the previous week's postmortem first (app/jobs.py),
so the accounts are valued and the week closed as cron's postmortem would; positions roll weekly (each
account holds its one pitch), so what grows is the history, not the books.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from llmtrade.llm.structured import repair_prompt  # noqa: E402 - needs the repo root on sys.path
from tests.fakes.openai_server import FakeOpenAIServer, completion_for  # noqa: E402
from tests.fakes.random_instances import random_instance  # noqa: E402

TARGET = 1.15
FIRST_WEEK = date(2026, 1, 7)
# The stages whose time is model round trips; the rest (snapshot, risk gate, execution) is our own work.
MODEL_STAGES = ("research", "pitches", "peer_review", "chairman")
# The stages that overlap the ones after them (pipeline/stage.py `overlaps`): their time is off the path
# unless it outlasts what they overlap.
ALONGSIDE = ("recall_ahead", "remember_research", "remember_pitches", "validator", "risk_prep")
REPAIR_MARK = repair_prompt("X").split("X")[0]  # the fixed opening of every repair message


def random_answer(body: dict[str, Any]) -> dict[str, Any]:
    """A completion whose content is a random instance of the request's schema, seeded by the request."""
    reply = completion_for(body)
    fmt = (body.get("response_format") or {}).get("json_schema")
    if fmt:
        seed = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        content = json.dumps(random_instance(fmt["schema"], random.Random(seed)))
        reply["choices"][0]["message"]["content"] = content
    return reply


def _repairs(requests: list[dict[str, Any]]) -> int:
    return sum(
        1
        for body in requests
        if any(REPAIR_MARK in str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")
    )


def _run(llmtrade: Path, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([str(llmtrade), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout) if "--json" in args else {}


def weekly(llmtrade: Path, server: FakeOpenAIServer, base: dict[str, str], runs: int, latency: float) -> bool:
    env = {**base, "LLMTRADE_MARKET_PROVIDERS": "synthetic"}
    ratios: list[float] = []
    model_ratios: list[float] = []
    other: dict[str, list[float]] = {}
    cpus: list[float] = []  # CPU seconds of each run-weekly command (start-up included): less load-sensitive
    repairs = failed = 0
    for i in range(runs):
        week = FIRST_WEEK + timedelta(weeks=i)
        week_env = {**env, "LLMTRADE_NOW": f"{week}T08:00:00-05:00"}
        _run(llmtrade, ["market", "snapshot", "--json"], week_env)
        server.reset()
        before = _children_cpu()
        report = _run(llmtrade, ["run-weekly", "--json"], week_env)
        cpu = _children_cpu() - before
        cpus.append(cpu)
        pms = len(report["pitches"]) + len(report["failed_pms"])
        reviews = sum(len(row) for row in report["review_matrix"].values())
        missing_reviews = len(report["pitches"]) * (len(report["pitches"]) - 1) - reviews
        run_failed = len(report["failed_pms"]) + missing_reviews + len(report["degraded"])
        run_repairs = _repairs(server.requests)
        ratio = report["duration_ms"] / 1000 / (4 * latency)
        stages = _stage_ms(llmtrade, report["run_id"], week_env)
        model_bound = sum(stages.get(s, 0.0) for s in MODEL_STAGES) / 1000 / (4 * latency)
        rest = {s: ms for s, ms in stages.items() if s not in MODEL_STAGES and s not in ALONGSIDE}
        beside = {s: ms for s, ms in stages.items() if s in ALONGSIDE}
        repairs, failed = repairs + run_repairs, failed + run_failed
        ratios.append(ratio)
        model_ratios.append(model_bound)
        for name, ms in [*rest.items(), *beside.items()]:
            other.setdefault(name, []).append(ms)
        print(
            f"weekly {i + 1:>2} ({week}): {len(server.requests)} calls, {pms} PMs, {reviews} reviews, "
            f"repairs {run_repairs}, failed {run_failed}, run / 4L = {ratio:.3f}, "
            f"model stages / 4L = {model_bound:.3f}, command CPU {cpu:.2f} s, other stages "
            + ", ".join(f"{name} {ms:.0f} ms" for name, ms in rest.items())
            + "; alongside "
            + ", ".join(f"{name} {ms:.0f} ms" for name, ms in beside.items())
            + (f"  degraded: {report['degraded']}" if report["degraded"] else "")
        )
    print(
        f"run-weekly: the model-bound stages ({', '.join(MODEL_STAGES)}) / 4L median "
        f"{statistics.median(model_ratios):.3f}; the other stages, median: "
        + ", ".join(f"{name} {statistics.median(ms):.0f} ms" for name, ms in other.items() if name not in ALONGSIDE)
        + "; alongside the next stages (off the path), median: "
        + ", ".join(f"{name} {statistics.median(ms):.0f} ms" for name, ms in other.items() if name in ALONGSIDE)
        + f"; run-weekly command CPU (user + sys, start-up included) median {statistics.median(cpus):.2f} s"
    )
    return _summary("run-weekly", "4L", runs, repairs, failed, ratios)


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stage_ms(llmtrade: Path, run_id: str, env: dict[str, str]) -> dict[str, float]:
    """Each stage's duration in the run, from its StageCompleted events."""
    done = subprocess.run(
        [str(llmtrade), "events", "--run", run_id, "--type", "StageCompleted", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [json.loads(line)["payload"] for line in done.stdout.splitlines() if line.strip()]
    return {row["stage"]: float(row["duration_ms"]) for row in rows}


def council(llmtrade: Path, server: FakeOpenAIServer, base: dict[str, str], runs: int, latency: float) -> bool:
    ratios: list[float] = []
    repairs = failed = 0
    for i in range(runs):
        server.reset()
        report = _run(llmtrade, ["council", f"random answers question {i}", "--json"], base)
        members = len(report["answers"]) + len([f for f in report["failures"] if f.get("stage") == "answers"])
        run_failed = len(report["failures"]) + (len(report["answers"]) - len(report["rankings"]))
        run_repairs = _repairs(server.requests)
        ratio = report["duration_ms"] / 1000 / (3 * latency)
        repairs, failed = repairs + run_repairs, failed + run_failed
        ratios.append(ratio)
        print(
            f"council {i + 1:>2}: {len(server.requests)} calls, {members} members, {len(report['rankings'])} rankings, "
            f"repairs {run_repairs}, failed {run_failed}, council / 3L = {ratio:.3f}"
        )
    return _summary("council", "3L", runs, repairs, failed, ratios)


def _summary(name: str, path: str, runs: int, repairs: int, failed: int, ratios: list[float]) -> bool:
    median, worst = statistics.median(ratios), max(ratios)
    met = repairs == 0 and failed == 0 and median <= TARGET
    print(
        f"{name}: {runs} runs, {repairs} repairs, {failed} failed roles (target 0 and 0); "
        f"run / {path} median {median:.3f}, max {worst:.3f} (target median <= {TARGET}): "
        + ("met" if met else "MISSED")
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description="run-weekly and council against random schema-valid answers")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--only", choices=["weekly", "council"])
    parser.add_argument(
        "--home",
        type=Path,
        help="run in this LLMTRADE_HOME and keep it afterwards (to inspect or profile the late weeks' state)",
    )
    args = parser.parse_args()
    # A benchmark stopped with kill (SIGTERM) still stops its embedded server and removes its home.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    llmtrade = Path(sys.executable).parent / "llmtrade"
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as scratch,
        FakeOpenAIServer(latency=args.latency, answer=random_answer) as server,
    ):
        home = str(args.home.resolve()) if args.home else scratch
        if args.home:
            args.home.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRADE_", "OPENROUTER_", "ALPACA_"))}
        base.pop("DATABASE_URL", None)
        base |= {"LLMTRADE_HOME": home, "LLMTRADE_LLM_BASE_URL": server.base_url, "LLMTRADE_LLM_API_KEY": "bench"}
        # The command runs this checkout's code, not whatever the venv's editable install points at.
        base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), base.get("PYTHONPATH")]))
        results = []
        try:
            if args.only in (None, "weekly"):
                results.append(weekly(llmtrade, server, base, args.runs, args.latency))
            if args.only in (None, "council"):
                results.append(council(llmtrade, server, base, args.runs, args.latency))
        finally:
            subprocess.run([str(llmtrade), "db", "stop"], env=base, capture_output=True, check=False)
    print(f"L = {args.latency} s, benchmark wall {time.perf_counter() - started:.0f} s")
    print("targets met" if all(results) else "target MISSED")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
