"""Config sections of the parts built on the committee: discovery (assets.yaml `discovery:`, issue 15) and the
memory (models.yaml `memory:`, issue 14). Kept apart from config/models.py, which holds the five files' core."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmtrade.config.scalars import Count, Flag, Identifier, Number, _Model

# ---------------------------------------------------------------- assets.yaml: discovery


class FuzzyWeights(_Model):
    """How the fuzzy picker weighs its 0-1 memberships; they must add up to 1."""

    liquidity: Annotated[Number, Field(ge=0, le=1)] = 0.30
    volatility: Annotated[Number, Field(ge=0, le=1)] = 0.25
    momentum: Annotated[Number, Field(ge=0, le=1)] = 0.35
    balance: Annotated[Number, Field(ge=0, le=1)] = 0.10

    @model_validator(mode="after")
    def _sum_to_one(self) -> FuzzyWeights:
        total = self.liquidity + self.volatility + self.momentum + self.balance
        if abs(total - 1) > 1e-6:
            raise ValueError(f"fuzzy weights must add up to 1, not {total:g}")
        return self


class EnsembleWeights(_Model):
    """How the ensemble weighs the three pickers' 0-1 scores; they must add up to 1."""

    metric: Annotated[Number, Field(ge=0, le=1)] = 0.3
    fuzzy: Annotated[Number, Field(ge=0, le=1)] = 0.4
    llm: Annotated[Number, Field(ge=0, le=1)] = 0.3

    @model_validator(mode="after")
    def _sum_to_one(self) -> EnsembleWeights:
        total = self.metric + self.fuzzy + self.llm
        if abs(total - 1) > 1e-6:
            raise ValueError(f"ensemble weights must add up to 1, not {total:g}")
        return self


class DiscoveryConfig(_Model):
    """Symbol discovery: which symbols the committee sees, and how the pickers judge candidates.

    universe_mode: static (assets.yaml's universe only), watchlist (the week's watchlist plus SPY,
    the benchmark every reader needs), or both (the universe and the watchlist)."""

    universe_mode: Literal["static", "watchlist", "both"] = "static"
    watchlist_size: Annotated[Count, Field(ge=1, le=50)] = 20
    min_avg_volume: Annotated[Number, Field(ge=0)] = 1_000_000.0  # shares a session, 20-session mean
    max_spread: Annotated[Number, Field(gt=0, le=1)] = 0.01  # Corwin-Schultz spread estimate, a fraction of price
    min_price: Annotated[Number, Field(ge=0)] = 5.0
    max_price: Annotated[Number, Field(gt=0)] = 2_000.0
    fuzzy_weights: FuzzyWeights = FuzzyWeights()
    fuzzy_min_score: Annotated[Number, Field(ge=0, le=1)] = 0.3
    ensemble_weights: EnsembleWeights = EnsembleWeights()
    llm_picks: Annotated[Count, Field(ge=1, le=30)] = 10
    # A backtest runs discovery before each weekly run (and records the forward returns as they mature) so
    # `discover performance --backtest` measures every picker; watchlist and both modes run it whatever this says.
    in_backtest: Flag = True

    @model_validator(mode="after")
    def _price_range(self) -> DiscoveryConfig:
        # Else every candidate was refused as "price ... outside 5000..2000", with no word at load (a trial).
        if self.min_price >= self.max_price:
            raise ValueError(
                f"min_price ({self.min_price:g}) must be below max_price ({self.max_price:g}): no candidate's price "
                "could be within them"
            )
        return self


# ---------------------------------------------------------------- models.yaml: memory


class EmbeddingModel(_Model):
    """An OpenAI-compatible `/embeddings` model for the memory's text vectors."""

    model: Annotated[str, Field(min_length=1)]
    provider: Identifier = "openrouter"
    dimensions: Annotated[Count, Field(ge=1, le=4096)] | None = None  # None: the model's own


class MemoryConfig(_Model):
    """The committee's memory of past setups and outcomes (memory/). Off: no prompt shows a memory, no
    validator runs, nothing is recalled (for ablations); what happened is still recorded as events, so a
    memory switched on later can be rebuilt from them."""

    enabled: Flag = True
    # None: the packaged offline embedder (no network); a model: its vectors, recorded with model and dims.
    embedding: EmbeddingModel | None = None
    setups_per_role: Annotated[Count, Field(ge=0, le=20)] = 5  # similar past setups shown to one role
    token_budget: Annotated[Count, Field(ge=0, le=8000)] = 800  # memory text per prompt, in tokens (~4 chars)
    # The validator (agents/validator.py) compares each pitch with its `validator_neighbours` most similar past
    # setups whose outcome is known, and flags it when at least `validator_min_losers` of them lost money
    # (week return below zero). It only informs the chairman; the risk gate is unchanged.
    validator_neighbours: Annotated[Count, Field(ge=1, le=20)] = 5
    validator_min_losers: Annotated[Count, Field(ge=1, le=20)] = 3

    @model_validator(mode="after")
    def _losers_within_neighbours(self) -> MemoryConfig:
        if self.validator_min_losers > self.validator_neighbours:
            raise ValueError(
                f"validator_min_losers ({self.validator_min_losers}) cannot exceed validator_neighbours "
                f"({self.validator_neighbours}): no pitch could ever be flagged"
            )
        return self


# ---------------------------------------------------------------- models.yaml: budget (issue 16)


class BudgetConfig(_Model):
    """Dollar ceilings on model calls (USD; None: no ceiling). `per_run_usd` caps one run's calls,
    `per_week_usd` every call of the week (Wednesday to Wednesday, New York) across runs. With either set,
    a live call is sent only when what is spent plus its worst case fits, and only for a priced model."""

    per_run_usd: Annotated[Number, Field(gt=0)] | None = None
    per_week_usd: Annotated[Number, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _run_within_week(self) -> BudgetConfig:
        # A run's calls are calls of its week (llm/budget.py checks both before each call): a run ceiling above the
        # week's could never be reached, the week's stopping every run first, with no word at load.
        if self.per_run_usd is not None and self.per_week_usd is not None and self.per_run_usd > self.per_week_usd:
            raise ValueError(
                f"per_run_usd ({self.per_run_usd:g}) is above per_week_usd ({self.per_week_usd:g}): a run's calls "
                f"are calls of its week, so the week's ceiling would stop every run at ${self.per_week_usd:g} and "
                "per_run_usd could never be reached; lower per_run_usd or raise per_week_usd"
            )
        return self

    @property
    def active(self) -> bool:
        return self.per_run_usd is not None or self.per_week_usd is not None


# ---------------------------------------------------------------- risk.yaml: alerts (issue 16)


class AlertsConfig(_Model):
    """When an alert fires for a state rather than an event: an account's drawdown from its peak valuation
    (a fraction, 0.10 = 10 %) and how many days without a successful weekly run `run-due` tolerates."""

    drawdown_pct: Annotated[Number, Field(gt=0, le=1)] = 0.10
    silence_days: Annotated[Count, Field(ge=1, le=60)] = 8
