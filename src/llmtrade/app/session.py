"""One run's model access: the gateway (with its usage totals) over the run's event store.

The mode and the prompts are decided by the container, once per invocation; a session only binds
them to the storage a run writes to (the real store, or a dry run's draft view)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmtrade.app.job_loop import run_job
from llmtrade.clock import Clock, Timer
from llmtrade.config.loader import LoadedConfig
from llmtrade.domain.tracing import LOGGER
from llmtrade.llm.budget import backtest_budget, run_budget
from llmtrade.llm.gateway import LLMGateway, LLMMode
from llmtrade.llm.providers import ModeDecision, build_clients
from llmtrade.prompts.renderer import PromptRenderer
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache


@dataclass
class Session:
    settings: Settings
    loaded: LoadedConfig
    clock: Clock
    storage: Storage
    decision: ModeDecision
    gateway: LLMGateway
    prompts: PromptRenderer
    # How the run's coroutine is run to its end: a loop of its own, or a backtest's one loop (app/job_loop.py).
    runner: Callable[[Coroutine[Any, Any, Any]], Any] = run_job
    # What the run's duration and its model calls' latencies are measured on (clock.py Timer).
    timer: Timer = time.perf_counter
    # Where what needs a look goes (said under --quiet too): the container's warning; a bare session logs it.
    warn: Callable[[str], None] = logging.getLogger(LOGGER).warning

    async def aclose(self) -> None:
        await self.gateway.aclose()


def prompts_dir(settings: Settings, config_dir: Path | None) -> Path | None:
    """LLMTRADE_PROMPTS_DIR, else a `prompts/` folder beside the YAML files when there is one."""
    if settings.prompts_dir is not None:
        return settings.prompts_dir
    if config_dir is not None and (config_dir / "prompts").is_dir():
        return config_dir / "prompts"
    return None


def open_session(
    settings: Settings,
    loaded: LoadedConfig,
    clock: Clock,
    storage: Storage,
    *,
    decision: ModeDecision,
    prompts: PromptRenderer,
    timer: Timer = time.perf_counter,
    warn: Callable[[str], None] | None = None,
    asked_anew: set[str] | None = None,
) -> Session:
    # A gateway per run, not per invocation: its HTTP clients belong to the run's event loop (a live job runs on
    # a loop of its own: app/job_loop.py run_job) and are closed with the run; its totals are that run's usage report.
    models = loaded.config.models
    misses = decision.live_misses_usd
    sends = decision.mode is LLMMode.LIVE or misses is not None
    budget = None
    if decision.mode is LLMMode.LIVE:
        budget = run_budget(models, storage.conn, clock.now())
    elif misses is not None:
        budget = backtest_budget(models, storage.events, misses)
    gateway = LLMGateway(
        mode=decision.mode,
        clients=build_clients(models, settings) if sends else {},
        prices=models.prices,
        events=storage.events,
        cache=AnswerCache(storage.conn),
        budget=budget,
        misses_go_live=misses is not None,
        asked_anew=asked_anew,
        # A backtest's sole writer holds its appends in memory: a thread per batch of call records costs more.
        records_inline=storage.events.holds_appends,
        timer=timer,
    )
    session = Session(settings, loaded, clock, storage, decision, gateway, prompts, timer=timer)
    if warn is not None:
        session.warn = warn
    return session
