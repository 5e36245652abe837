"""How much CPU one offline checkpoint ask costs: `checkpointer.check` through an OFFLINE gateway (prompt, request key,
rules answer, validation, LLMCallCompleted record), six owners at a time as a checkpoint asks them, into an event sink
that keeps the events in a list (the store's own append is not measured here: benchmarks/store_speed.py does that).

Prints the CPU microseconds per ask (the least of ten blocks: the steadier figure on a shared machine) and a digest of
the events and answers (latency_ms left out), so two versions can be compared for speed and for sameness:

    python benchmarks/offline_ask_speed.py [ASKS]
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from datetime import date
from typing import Any

from llmtrade.agents import checkpointer
from llmtrade.config.models import ModelRef
from llmtrade.domain.checkpoints import CheckpointAnswer
from llmtrade.domain.committee import Threshold, WatchedIndicator
from llmtrade.domain.events import NewEvent
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.prompts.renderer import PromptRenderer


class Sink:
    def __init__(self) -> None:
        self.events: list[NewEvent] = []

    def append(self, events: Any, **_: Any) -> None:
        self.events.extend(events)


SINK = Sink()
GATEWAY = LLMGateway(mode=LLMMode.OFFLINE, clients={}, prices={}, events=SINK, cache=None, records_inline=True)
PROMPTS = PromptRenderer()
OWNER = ModelRef(model="some/model-1", temperature=0.3, max_tokens=1500)
WATCHED = [
    WatchedIndicator(name="RSI", threshold=Threshold(indicator="rsi_14", op="<", value=70.0), why="not overbought"),
    WatchedIndicator(
        name="Trend", threshold=Threshold(indicator="price_vs_sma_50", op=">", value=0.0), why="above the 50-day"
    ),
]
MEMORY = (
    "[m1] LONG AAPL at +2 (2015-12-02): momentum; outcome +1.2% (week 2015-12-02)",
    "[m2] LONG MSFT at +1 (2015-11-18): breakout; outcome -0.4% (week 2015-11-18)",
)
TEMPLATES = checkpointer.read_templates(PROMPTS)


async def _one(i: int) -> CheckpointAnswer:
    site = CallSite(role="checkpoint", run_id="run-1", week_id=date(2016, 1, 6), account_id=f"acct{i % 6}")
    return await checkpointer.check(
        GATEWAY,
        PROMPTS,
        OWNER,
        instrument="AAPL",
        direction="LONG",
        conviction=2 if i % 3 else 1,
        thesis=["Momentum is strong", "Earnings ahead"],
        watched=WATCHED,
        values={"rsi_14": 50.0 + (i % 40), "price_vs_sma_50": 0.01 * ((i % 7) - 3)},
        pnl_pct=0.001 * ((i % 50) - 20),
        time=f"{10 + i % 6}:30",
        site=site,
        memory=MEMORY if i % 2 else (),
        templates=TEMPLATES,
    )


async def _asks(n: int) -> list[CheckpointAnswer]:
    answers: list[CheckpointAnswer] = []
    for k in range(0, n, 6):
        answers += await asyncio.gather(*(_one(k + j) for j in range(6)))
    return answers


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
    asyncio.run(_asks(300))  # warm: schemas, templates, kept texts
    SINK.events.clear()
    answers: list[CheckpointAnswer] = []
    best = float("inf")
    for _ in range(10):
        started = time.process_time()
        answers += asyncio.run(_asks(n // 10))
        best = min(best, time.process_time() - started)
    digest = hashlib.sha256()
    for event in SINK.events:
        data = event.model_dump(mode="json")
        data["payload"].pop("latency_ms", None)  # wall time: differs run to run
        digest.update(json.dumps(data, sort_keys=True).encode())
    for answer in answers:
        digest.update(answer.model_dump_json().encode())
    print(f"{n} asks: {best * 10 / n * 1e6:.1f} us CPU each; {len(SINK.events)} events {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
