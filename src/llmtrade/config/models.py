"""Pydantic models of the five YAML files (DESIGN.md section 6).

Every model refuses unknown keys, so a typo is an error rather than a silently ignored setting.
Rules over several entries or several files (unique ids, a PM bound to an account that does not
exist, the benchmark in the universe) live in config/rules.py, which reports all of them at once.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, Strict, field_validator, model_validator

from llmtrade.config.scalars import Count, Flag, Fraction, Identifier, Number, either
from llmtrade.config.sections import AlertsConfig, BudgetConfig, DiscoveryConfig, MemoryConfig
from llmtrade.config.times import clock_time


class _Model(BaseModel):
    # As config/scalars.py's: ruff's mutable-default check needs to see a pydantic base in this module.
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_time(value: str) -> str:
    # Kept as HH:MM, the form every job key, stream and message compares: `9:00` is 09:00 (config/times.py).
    return clock_time(value)


# ---------------------------------------------------------------- assets.yaml


class AssetClass(StrEnum):
    EQUITY = "equity"
    RATES = "rates"
    CREDIT = "credit"
    USD = "usd"
    GOLD = "gold"
    OIL = "oil"


class Instrument(_Model):
    symbol: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9.]{0,9}$")]
    asset_class: AssetClass
    name: str = ""
    shortable: Flag = True
    # Set by the week's universe (discovery/universe.py) on a symbol it keeps only because an account holds it (off
    # the watchlist): there to be managed, so the risk gate lets a trade close or cut it, never open, add or flip.
    held_only: Flag = False


MarketProviderName = Literal["alpaca", "yfinance", "csv", "synthetic"]


class AlpacaDataKeys(_Model):
    key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "ALPACA_DATA_KEY"
    secret_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "ALPACA_DATA_SECRET"


class MarketDataConfig(_Model):
    """Where prices come from. Live runs try `providers` in order; offline runs use csv (when a
    folder is set) and the synthetic market. LLMTRADE_MARKET_PROVIDERS overrides the order."""

    providers: Annotated[list[MarketProviderName], Field(min_length=1)] = ["alpaca", "yfinance"]
    csv_dir: str | None = None
    alpaca_feed: Literal["iex", "sip"] = "iex"
    alpaca: AlpacaDataKeys = AlpacaDataKeys()
    request_timeout_seconds: Annotated[Number, Field(gt=0, le=120)] = 15.0
    synthetic_seed: Count = 7
    # How old an in-session price may be before the quote service refuses it and asks the next provider.
    quote_staleness_seconds: Annotated[Number, Field(gt=0, le=86_400)] = 900.0

    @field_validator("providers")
    @classmethod
    def _no_repeats(cls, providers: list[str]) -> list[str]:
        if repeats := _repeats(providers):
            raise ValueError(f"a provider is listed twice: {repeats}")
        return providers


def _repeats(values: list[str]) -> str:
    """The values listed more than once, in the order first met, for a message ("" when none is)."""
    return ", ".join(dict.fromkeys(v for v in values if values.count(v) > 1))


# The market benchmark: indicators' corr_spy, the researcher's risk mode and `status`'s SPY line all
# read it, and the market layer asks the providers for it by this name. It is not a setting because
# those readers name it too; config/rules.py requires it in the universe, so every provider (the
# synthetic market knows only the universe) can price it and a run never fails on it halfway.
BENCHMARK = "SPY"


class AssetsConfig(_Model):
    universe: Annotated[list[Instrument], Field(min_length=1)]
    market_data: MarketDataConfig = MarketDataConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()

    @field_validator("universe")
    @classmethod
    def _held_only_is_not_configured(cls, universe: list[Instrument]) -> list[Instrument]:
        # held_only is the week's universe's mark (discovery/universe.py sets it without validating assets.yaml again):
        # written in assets.yaml it would say a symbol is held when it is not (review L).
        if marked := [i.symbol for i in universe if i.held_only]:
            raise ValueError(
                f"held_only is set by llmtrade on a symbol kept only because it is held, not in assets.yaml "
                f"(remove it from {', '.join(marked)})"
            )
        return universe

    @property
    def symbols(self) -> list[str]:
        return [i.symbol for i in self.universe]

    def instrument(self, symbol: str) -> Instrument | None:
        return next((i for i in self.universe if i.symbol == symbol), None)


# ---------------------------------------------------------------- schedule.yaml


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"


class WeeklyRun(_Model):
    day: Weekday = Weekday.WEDNESDAY
    time: str = "08:00"

    _time = field_validator("time")(_check_time)


class PostmortemRun(_Model):
    day: Weekday = Weekday.TUESDAY
    time: str = "16:30"

    _time = field_validator("time")(_check_time)


# How long a job keeps retrying the model calls that failed for a temporary reason (unreachable, timeout,
# 429, 5xx): "next_job" (until the job scheduled after it: the weekly run's first checkpoint, the next
# checkpoint of the day or the close, the next weekly run for a postmortem), or minutes after the job's time.
_WEEK_MINUTES = 7 * 24 * 60
RetryUntil = Annotated[
    Literal["next_job"] | Annotated[Count, Field(ge=0, le=_WEEK_MINUTES)],
    either(f"next_job, or a whole number of minutes from 0 to {_WEEK_MINUTES}"),
]


class EventCheckpoint(_Model):
    """An extra checkpoint for an account whose instrument moved since its last checkpoint (run by `run-due`).

    `threshold`: the move, as a fraction of the last checkpoint's price (0.05 = 5%), beyond which the
    account is checked again; 0 or null turns event checkpoints off. `min_interval_minutes`: at most one
    event checkpoint per account within this many minutes."""

    threshold: Annotated[Number, Field(ge=0, lt=1)] | None = 0.05
    min_interval_minutes: Annotated[Count, Field(ge=1, le=24 * 60)] = 60

    @property
    def enabled(self) -> bool:
        return bool(self.threshold)


class ScheduleConfig(_Model):
    timezone: Literal["America/New_York"] = "America/New_York"
    weekly_run: WeeklyRun = WeeklyRun()
    checkpoints: Annotated[list[str], Field(min_length=0)] = ["09:00", "12:00", "14:00", "15:50"]
    postmortem: PostmortemRun = PostmortemRun()
    retry_until: RetryUntil = "next_job"
    event_checkpoint: EventCheckpoint = EventCheckpoint()

    @field_validator("checkpoints")
    @classmethod
    def _checkpoint_times(cls, times: list[str]) -> list[str]:
        times = [_check_time(value) for value in times]
        if repeats := _repeats(times):
            raise ValueError(f"a checkpoint time is listed twice: {repeats}")
        return sorted(times)


# ---------------------------------------------------------------- models.yaml


class Provider(_Model):
    base_url: HttpUrl
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    # The wait for a reply's first byte and between its reads (a keep-alive byte restarts it).
    timeout_seconds: Annotated[Number, Field(gt=0, le=900)] = 120.0
    # Each attempt's whole deadline, body included: this floor plus max_tokens at the slowest rate a real model
    # writes (300 s + 4000 / 20 = 500 s), so a long legitimate answer fits and a never-ending keep-alive ends.
    attempt_floor_seconds: Annotated[Number, Field(gt=0, le=3600)] = 300.0
    min_tokens_per_second: Annotated[Number, Field(gt=0, le=10000)] = 20.0
    max_concurrency: Annotated[Count, Field(ge=1, le=64)] = 16
    max_retries: Annotated[Count, Field(ge=0, le=10)] = 4
    structured_outputs: Flag = True
    # Reasoning models sometimes leave `content` empty and put everything in `reasoning`; using that
    # as the answer is a choice (it may be half-finished thinking), so it is off unless set here.
    reasoning_as_answer: Flag = False
    # A 429 asking to wait longer than this fails at once (exit 75) instead of holding the run.
    max_retry_after_seconds: Annotated[Number, Field(ge=0, le=3600)] = 120.0
    # The server's context window in tokens, where it cuts a longer prompt without an error (Ollama's num_ctx or
    # OLLAMA_CONTEXT_LENGTH): an answer to a prompt that passed it is refused, not taken (llm/prompt_cut.py).
    context_tokens: Annotated[Count, Field(ge=256)] | None = None


class Price(_Model):
    """USD per million tokens, used when the provider does not report the cost itself."""

    input_per_mtok: Annotated[Number, Field(ge=0)]
    output_per_mtok: Annotated[Number, Field(ge=0)]


class ModelRef(_Model):
    model: Annotated[str, Field(min_length=1)]
    provider: Identifier = "openrouter"
    temperature: Annotated[Number, Field(ge=0, le=2)] = 0.7
    max_tokens: Annotated[Count, Field(ge=1)] = 4000
    # The last day the model's training data may cover (a YAML date, YYYY-MM-DD); the leaderboard splits
    # the weeks before it (the model may have read what happened next) from those after. None: unknown.
    knowledge_cutoff: Annotated[date, Strict()] | None = None


class PortfolioManager(ModelRef):
    id: Identifier
    account: Identifier


class Chairman(ModelRef):
    account: Identifier


class ResearchProviderRef(ModelRef):
    id: Identifier
    kind: Literal["llm"] = "llm"


class CouncilConfig(_Model):
    """The general-purpose council of `llmtrade council`; defaults to the PMs and the chairman."""

    models: list[ModelRef] | None = None
    chairman: ModelRef | None = None


class ModelsConfig(_Model):
    providers: Annotated[dict[Identifier, Provider], Field(min_length=1)]
    pms: Annotated[list[PortfolioManager], Field(min_length=2)]
    chairman: Chairman
    research: Annotated[list[ResearchProviderRef], Field(min_length=1, max_length=4)]
    council: CouncilConfig = CouncilConfig()
    prices: dict[str, Price] = {}
    memory: MemoryConfig = MemoryConfig()
    budget: BudgetConfig = BudgetConfig()

    def model_refs(self) -> list[tuple[str, ModelRef]]:
        """Every model reference with its field path, for cross-checks and listings."""
        refs: list[tuple[str, ModelRef]] = [(f"pms[{i}]", pm) for i, pm in enumerate(self.pms)]
        refs.append(("chairman", self.chairman))
        refs += [(f"research[{i}]", r) for i, r in enumerate(self.research)]
        refs += [(f"council.models[{i}]", m) for i, m in enumerate(self.council.models or [])]
        if self.council.chairman:
            refs.append(("council.chairman", self.council.chairman))
        return refs


# ---------------------------------------------------------------- accounts.yaml


class AccountRole(StrEnum):
    PM = "pm"
    CHAIRMAN = "chairman"
    FLAT = "flat"


class BrokerKind(StrEnum):
    AUTO = "auto"  # alpaca when the account's keys are set in the environment, else paper
    PAPER = "paper"
    ALPACA = "alpaca"


class AlpacaKeys(_Model):
    key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    secret_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]


class Account(_Model):
    id: Identifier
    name: str = ""
    role: AccountRole
    broker: BrokerKind = BrokerKind.AUTO
    starting_cash: Annotated[Number, Field(gt=0)] = 100_000.0
    alpaca: AlpacaKeys | None = None

    @model_validator(mode="after")
    def _alpaca_needs_keys(self) -> Account:
        if self.broker is BrokerKind.ALPACA and self.alpaca is None:
            raise ValueError("broker alpaca needs alpaca.key_env and alpaca.secret_env")
        return self


class PaperBrokerConfig(_Model):
    slippage_bps: Annotated[Number, Field(ge=0, le=500)] = 5.0
    commission_per_order: Annotated[Number, Field(ge=0)] = 0.0


class AlpacaConfig(_Model):
    paper_url: HttpUrl = HttpUrl("https://paper-api.alpaca.markets")
    request_timeout_seconds: Annotated[Number, Field(gt=0, le=120)] = 15.0


class AccountsConfig(_Model):
    accounts: Annotated[list[Account], Field(min_length=1)]
    paper: PaperBrokerConfig = PaperBrokerConfig()
    alpaca: AlpacaConfig = AlpacaConfig()

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.id == account_id), None)


# ---------------------------------------------------------------- risk.yaml


class HardLimits(_Model):
    max_position_pct: Fraction = 0.20
    max_asset_class_pct: Fraction = 0.30
    max_open_positions: Annotated[Count, Field(ge=1, le=100)] = 10
    allow_short: Flag = True

    @model_validator(mode="after")
    def _position_within_class(self) -> HardLimits:
        # One position is part of its asset class (risk/gate.py clamps the size by both): a class cap below the
        # position cap clamped every position to the class's, conviction 2 as small as 1, with no word at load.
        if self.max_asset_class_pct < self.max_position_pct:
            raise ValueError(
                f"max_asset_class_pct ({self.max_asset_class_pct:g}) is below max_position_pct "
                f"({self.max_position_pct:g}): one position is part of its asset class, so the risk gate would cut "
                f"every position to {self.max_asset_class_pct:g} of equity and the position limit could never be "
                "reached; raise max_asset_class_pct or lower max_position_pct"
            )
        return self


class CircuitBreaker(_Model):
    halt_drawdown_pct: Fraction = 0.20
    halt_consecutive_losses: Annotated[Count, Field(ge=1)] = 10
    resume_drawdown_pct: Fraction = 0.15
    resume_consecutive_wins: Annotated[Count, Field(ge=1)] = 3

    @model_validator(mode="after")
    def _resume_below_halt(self) -> CircuitBreaker:
        if self.resume_drawdown_pct >= self.halt_drawdown_pct:
            raise ValueError(
                f"resume_drawdown_pct ({self.resume_drawdown_pct}) must be below "
                f"halt_drawdown_pct ({self.halt_drawdown_pct})"
            )
        return self


class RiskConfig(_Model):
    limits: HardLimits = HardLimits()
    circuit_breaker: CircuitBreaker = CircuitBreaker()
    # Orders against a live (real-money) Alpaca endpoint are refused unless this is true.
    live_trading_enabled: Flag = False
    alerts: AlertsConfig = AlertsConfig()


# ---------------------------------------------------------------- all of it


CONFIG_FILES: dict[str, type[_Model]] = {
    "assets.yaml": AssetsConfig,
    "schedule.yaml": ScheduleConfig,
    "models.yaml": ModelsConfig,
    "accounts.yaml": AccountsConfig,
    "risk.yaml": RiskConfig,
}


class Config(_Model):
    assets: AssetsConfig
    schedule: ScheduleConfig
    models: ModelsConfig
    accounts: AccountsConfig
    risk: RiskConfig
