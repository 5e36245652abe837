"""Everything a model-using command needs, opened once: storage, config, mode, gateway, prompts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmtrade.clock import Clock
from llmtrade.config.loader import LoadedConfig
from llmtrade.llm.gateway import LLMGateway, LLMMode
from llmtrade.llm.providers import ModeDecision, build_clients, decide_mode
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
    config_dir: Path | None,
    offline: bool,
    replay: bool,
) -> Session:
    decision = decide_mode(loaded.config.models, settings, offline=offline, replay=replay)
    clients = build_clients(loaded.config.models, settings) if decision.mode is LLMMode.LIVE else {}
    gateway = LLMGateway(
        mode=decision.mode,
        clients=clients,
        prices=loaded.config.models.prices,
        events=storage.events,
        cache=AnswerCache(storage.conn),
    )
    return Session(
        settings, loaded, clock, storage, decision, gateway, PromptRenderer(prompts_dir(settings, config_dir))
    )
