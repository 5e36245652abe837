"""Which mode a command runs in, and the provider clients for live mode.

Offline is chosen by `--offline`, or automatically when a configured provider's key is not set;
`LLMTRADE_LLM_BASE_URL` / `LLMTRADE_LLM_API_KEY` point every provider at one server (a local
Ollama or vLLM needs no key). Modes never mix within a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmtrade.config.models import ModelsConfig
from llmtrade.errors import UsageError
from llmtrade.llm.gateway import LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.settings import Settings


@dataclass(frozen=True)
class ModeDecision:
    mode: LLMMode
    reason: str
    # REPLAY only: a cache miss is sent to the live model instead of failing, while every call recorded in
    # the database costs at most this many USD in all (`backtest --replay --live-misses USD`).
    live_misses_usd: float | None = None
    # OFFLINE only: the API key variables whose absence chose it (not --offline), each with its provider.
    unset_keys: tuple[str, ...] = ()

    @property
    def banner(self) -> str:
        """The line every command starts with: the mode, and why."""
        if self.mode is LLMMode.OFFLINE:
            return f"OFFLINE MODE: rules provider, not model output ({self.reason})"
        if self.mode is LLMMode.REPLAY:
            return f"REPLAY MODE: {self.reason}"
        return f"LIVE MODE: {self.reason}"


def decide_mode(
    models: ModelsConfig, settings: Settings, *, offline: bool, replay: bool, live_misses_usd: float | None = None
) -> ModeDecision:
    if offline and replay:
        raise UsageError("--offline and --replay exclude each other: offline uses rules, replay uses cached answers")
    if live_misses_usd is not None:
        if not replay:
            raise UsageError("--live-misses USD goes with --replay: it lets a cache miss ask the live model")
        missing = unset_keys(models, settings)
        if missing:
            raise UsageError(f"--live-misses sends cache misses to the live models, but {', '.join(missing)} not set")
        return ModeDecision(
            LLMMode.REPLAY,
            f"--replay: answers from the cache of earlier live calls; a miss asks the live model "
            f"(at most ${live_misses_usd:.2f} in all, --live-misses)",
            live_misses_usd,
        )
    if replay:
        return ModeDecision(LLMMode.REPLAY, "--replay: answers come only from the cache of earlier live calls")
    if offline:
        return ModeDecision(LLMMode.OFFLINE, "--offline given")
    if settings.llm_base_url:
        return ModeDecision(LLMMode.LIVE, f"every provider points at LLMTRADE_LLM_BASE_URL={settings.llm_base_url}")
    missing = unset_keys(models, settings)
    if missing:
        return ModeDecision(LLMMode.OFFLINE, "no key set: " + ", ".join(missing), unset_keys=tuple(missing))
    used = sorted({ref.provider for _, ref in models.model_refs()})
    names = ", ".join(f"{n} at {models.providers[n].base_url}" for n in used)
    return ModeDecision(LLMMode.LIVE, f"live models: {names}")


def unset_keys(models: ModelsConfig, settings: Settings) -> list[str]:
    """The API key variables the configured models need and the environment lacks (none when
    LLMTRADE_LLM_BASE_URL or LLMTRADE_LLM_API_KEY points every provider at one server)."""
    if settings.llm_base_url or settings.llm_api_key:
        return []
    used = sorted({ref.provider for _, ref in models.model_refs()})
    missing = []
    for name in used:
        variable = models.providers[name].api_key_env
        if variable and not settings.secret(variable):
            like = settings.set_like(variable)
            # A key set under a near name is a misspelt api_key_env (a trial's week ran offline without a word).
            hint = f"; {' and '.join(like)} set: is models.yaml's api_key_env misspelt?" if like else ""
            missing.append(f"{variable} (provider {name}{hint})")
    return missing


def build_clients(models: ModelsConfig, settings: Settings) -> dict[str, OpenAICompatibleClient]:
    clients = {}
    for name, provider in models.providers.items():
        key = settings.llm_api_key or (settings.secret(provider.api_key_env) if provider.api_key_env else None)
        clients[name] = OpenAICompatibleClient(
            name,
            settings.llm_base_url or str(provider.base_url),
            key,
            timeout_seconds=provider.timeout_seconds,
            max_concurrency=provider.max_concurrency,
            max_retries=provider.max_retries,
            structured_outputs=provider.structured_outputs,
            reasoning_as_answer=provider.reasoning_as_answer,
            max_retry_after_seconds=provider.max_retry_after_seconds,
            attempt_floor_seconds=provider.attempt_floor_seconds,
            min_tokens_per_second=provider.min_tokens_per_second,
            context_tokens=provider.context_tokens,
        )
    return clients
