"""Pydantic models of the five YAML files (DESIGN.md section 6).

Every model refuses unknown keys, so a typo is an error rather than a silently ignored setting.
Rules that span files (a PM bound to an account that does not exist) live in `Config`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_IDENT = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Identifier = Annotated[str, Field(pattern=_IDENT, max_length=32)]
Fraction = Annotated[float, Field(gt=0, le=1)]


def _check_time(value: str) -> str:
    if not _TIME.match(value):
        raise ValueError("must be a 24-hour time HH:MM, e.g. 08:00")
    return value


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
    shortable: bool = True


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
    request_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 15.0
    synthetic_seed: int = 7

    @field_validator("providers")
    @classmethod
    def _no_repeats(cls, providers: list[str]) -> list[str]:
        if len(set(providers)) != len(providers):
            raise ValueError(f"a provider is listed twice: {providers}")
        return providers


class AssetsConfig(_Model):
    universe: Annotated[list[Instrument], Field(min_length=1)]
    market_data: MarketDataConfig = MarketDataConfig()

    @field_validator("universe")
    @classmethod
    def _symbols_unique(cls, universe: list[Instrument]) -> list[Instrument]:
        seen: set[str] = set()
        for index, instrument in enumerate(universe):
            if instrument.symbol in seen:
                raise ValueError(f"instrument {instrument.symbol} is listed twice (again at universe[{index}])")
            seen.add(instrument.symbol)
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


class ScheduleConfig(_Model):
    timezone: Literal["America/New_York"] = "America/New_York"
    weekly_run: WeeklyRun = WeeklyRun()
    checkpoints: Annotated[list[str], Field(min_length=0)] = ["09:00", "12:00", "14:00", "15:50"]
    postmortem: PostmortemRun = PostmortemRun()

    @field_validator("checkpoints")
    @classmethod
    def _checkpoint_times(cls, times: list[str]) -> list[str]:
        for value in times:
            _check_time(value)
        if len(set(times)) != len(times):
            raise ValueError("a checkpoint time is listed twice")
        return sorted(times)


# ---------------------------------------------------------------- models.yaml


class Provider(_Model):
    base_url: HttpUrl
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=900)] = 120.0
    max_concurrency: Annotated[int, Field(ge=1, le=64)] = 16
    max_retries: Annotated[int, Field(ge=0, le=10)] = 4
    structured_outputs: bool = True
    # Reasoning models sometimes leave `content` empty and put everything in `reasoning`; using that
    # as the answer is a choice (it may be half-finished thinking), so it is off unless set here.
    reasoning_as_answer: bool = False
    # A 429 asking to wait longer than this fails at once (exit 75) instead of holding the run.
    max_retry_after_seconds: Annotated[float, Field(ge=0, le=3600)] = 120.0


class Price(_Model):
    """USD per million tokens, used when the provider does not report the cost itself."""

    input_per_mtok: Annotated[float, Field(ge=0)]
    output_per_mtok: Annotated[float, Field(ge=0)]


class ModelRef(_Model):
    model: Annotated[str, Field(min_length=1)]
    provider: Identifier = "openrouter"
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    max_tokens: Annotated[int, Field(ge=1)] = 4000


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

    @model_validator(mode="after")
    def _pm_ids_unique(self) -> ModelsConfig:
        ids = [pm.id for pm in self.pms]
        if len(set(ids)) != len(ids):
            raise ValueError(f"PM ids must be unique, got {ids}")
        return self

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
    starting_cash: Annotated[float, Field(gt=0)] = 100_000.0
    alpaca: AlpacaKeys | None = None

    @model_validator(mode="after")
    def _alpaca_needs_keys(self) -> Account:
        if self.broker is BrokerKind.ALPACA and self.alpaca is None:
            raise ValueError("broker alpaca needs alpaca.key_env and alpaca.secret_env")
        return self


class PaperBrokerConfig(_Model):
    slippage_bps: Annotated[float, Field(ge=0, le=500)] = 5.0
    commission_per_order: Annotated[float, Field(ge=0)] = 0.0


class AlpacaConfig(_Model):
    paper_url: HttpUrl = HttpUrl("https://paper-api.alpaca.markets")
    request_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 15.0


class AccountsConfig(_Model):
    accounts: Annotated[list[Account], Field(min_length=1)]
    paper: PaperBrokerConfig = PaperBrokerConfig()
    alpaca: AlpacaConfig = AlpacaConfig()

    @model_validator(mode="after")
    def _one_of_each(self) -> AccountsConfig:
        ids = [a.id for a in self.accounts]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"account ids must be unique; repeated: {', '.join(dupes)}")
        for role in (AccountRole.CHAIRMAN, AccountRole.FLAT):
            count = sum(1 for a in self.accounts if a.role is role)
            if count != 1:
                raise ValueError(f"exactly one account must have role {role.value}, found {count}")
        return self

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.id == account_id), None)


# ---------------------------------------------------------------- risk.yaml


class HardLimits(_Model):
    max_position_pct: Fraction = 0.20
    max_asset_class_pct: Fraction = 0.30
    max_open_positions: Annotated[int, Field(ge=1, le=100)] = 10
    allow_short: bool = True


class CircuitBreaker(_Model):
    halt_drawdown_pct: Fraction = 0.20
    halt_consecutive_losses: Annotated[int, Field(ge=1)] = 10
    resume_drawdown_pct: Fraction = 0.15
    resume_consecutive_wins: Annotated[int, Field(ge=1)] = 3

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
    live_trading_enabled: bool = False


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
