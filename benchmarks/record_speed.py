"""What recording costs, apart from the store: CPU microseconds per event built, per pipeline stage, per model call
recorded and per run's start and end, against a sink that keeps nothing (so the store's own cost drops out).

It measures the llmtrade it imports, so one copy of it compares two trees (A/B, interleaved):
`PYTHONPATH=<tree>/src python benchmarks/record_speed.py [--rounds N]`. Prints the median over rounds of the CPU
time per operation, and a week of the 52-week synthetic backtest's recording weighted by what that week records.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from llmtrade.app.runs import RunLog
from llmtrade.config.models import ModelRef
from llmtrade.domain.events import NewEvent, StageCompleted, StageStarted
from llmtrade.domain.memory import MemoryRecalled
from llmtrade.llm.gateway import LLMGateway, LLMMode
from llmtrade.llm.records import CallSite, UsageTotals
from llmtrade.llm.types import ChatMessage
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.pipeline import Pipeline

WEEK = date(2016, 1, 6)
PROMPT = "You pick symbols. " * 120  # about the 4.3 KB a backtest's recorded call holds, in two messages


# What a week of the 52-week synthetic backtest records (857 events): 501 events besides those counted below,
# 114 stages (228 stage events), 84 model calls, 22 runs (44 RunStarted/RunFinished).
PER_WEEK = (501, 114, 84, 22)


class _Sink:
    """Takes appends and keeps nothing: what is measured is the building, not the storing."""

    def append(self, events: Sequence[NewEvent]) -> object:
        return events


class _Stage:
    def __init__(self, name: str, reads: tuple[ContextKey[Any], ...], writes: tuple[ContextKey[Any], ...]):
        self.name, self.reads, self.writes = name, reads, writes

    async def run(self, context: PipelineContext) -> PipelineContext:
        return context.with_values(*((key, 1) for key in self.writes))


def _cpu_us(operation: Callable[[], object], repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        operation()
    return (time.process_time() - started) / repeat * 1e6


def _events() -> Callable[[], object]:
    payloads = [
        StageStarted(stage="trade"),
        StageCompleted(stage="trade", duration_ms=1.25, loaded=False),
        MemoryRecalled(
            role="checkpoint:a1", week_id=WEEK, as_of=datetime(2016, 1, 6, 13, tzinfo=UTC), query="q", memory_ids=["m"]
        ),
    ]

    def build() -> None:
        for payload in payloads:
            NewEvent.of(payload, stream="run:x", week_id=WEEK, run_id="x", account_id="a1")

    return build


def _pipeline(stages: int) -> Callable[[], object]:
    keys = [ContextKey(f"k{i}", int) for i in range(stages + 1)]
    chain = [_Stage(f"s{i}", (keys[i],), (keys[i + 1],)) for i in range(stages)]
    loop = asyncio.new_event_loop()

    def run() -> None:
        pipeline = Pipeline(chain, _Sink(), inputs=(keys[0],))
        start = PipelineContext(run_id="x", week_id=WEEK).with_value(keys[0], 0)
        loop.run_until_complete(pipeline.run(start))

    return run


def _gateway(calls: int) -> Callable[[], object]:
    gateway = LLMGateway(mode=LLMMode.OFFLINE, clients={}, prices={}, events=_Sink(), cache=None, records_inline=True)
    ref = ModelRef(model="m/x", provider="rules")
    messages = [ChatMessage(role="system", content=PROMPT), ChatMessage(role="user", content=PROMPT + "week 1")]
    site = CallSite(role="pm:a", run_id="x", week_id=WEEK, account_id="a1")
    loop = asyncio.new_event_loop()

    async def go() -> None:
        for _ in range(calls):
            await gateway.ask_text(ref, messages, site, rules=lambda rng: "an answer")

    return lambda: loop.run_until_complete(go())


def _runs() -> Callable[[], object]:
    def run() -> None:
        log = RunLog(_Sink(), run_id="x", command="checkpoint", week_id=WEEK)
        log.started(arguments={"offline": True}, mode="offline", mode_reason="--offline given", config_source="c")
        log.finished(UsageTotals(), degraded=False)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cases: list[tuple[str, Callable[[], object], int, int]] = [
        ("an event (NewEvent.of; 3 kinds, each)", _events(), 20000, 3),
        ("pipeline run, per stage (10 stages)", _pipeline(10), 2000, 10),
        ("gateway offline call, recorded", _gateway(100), 40, 100),
        ("run started + finished", _runs(), 10000, 1),
    ]
    week = 0.0
    for (name, operation, repeat, per), count in zip(cases, PER_WEEK, strict=True):
        operation()  # warm
        median = statistics.median(_cpu_us(operation, repeat) / per for _ in range(args.rounds))
        week += median * count
        print(f"{name:40s} {median:8.2f} us CPU (median of {args.rounds})")
    print(f"{'a synthetic backtest week (weighted)':40s} {week / 1000:8.2f} ms CPU")


if __name__ == "__main__":
    main()
