"""What every job returns: frozen, typed results (the `--json` output is their dump).

The JSON a command prints is a public contract (cron wrappers and dashboards parse it), so the
field names and values are those the dict reports had; the models add a published schema
(`llmtrade schema COMMAND`). Timestamps that were printed with `isoformat()` stay strings, so
their text does not change; dates are typed (pydantic writes them exactly as `str(date)` did).
Results are built here, in the app layer, from what the pipelines return: presentation code
only renders them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from llmtrade.analytics.records import DRAWDOWN
from llmtrade.app.status_lines import AlertNotDeliveredLine, ClosingPutOffLine, EventCheckpointLine, JobNotDoneLine
from llmtrade.domain.checkpoints import Checkpoint, EventCheckpointTriggered, Postmortem
from llmtrade.domain.committee import AggregateScore
from llmtrade.domain.reconciliation import Difference
from llmtrade.domain.trading import BrokerOrder, Order, Position, RiskVerdict
from llmtrade.llm.gateway import UsageTotals

STATUS_DRAWDOWN = (
    f"{DRAWDOWN}. Over the account's equity at each daily close since the books began (the leaderboard's marks, fills "
    "the broker made that no run recorded yet included), then now's valuation (left out while a position is valued at "
    "cost); an earlier status's intraday 'now' is not kept. None when a held symbol's close is missing from the bar "
    "cache (a warning names the symbol and the session)"
)


class Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Usage(Result):
    """What a run's model calls cost. `calls`: a model's answers, live or replayed from the cache; `rules_answers`: the
    offline rules provider's, which no model gave and cost $0 (counted apart: they are not model calls)."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    unpriced_calls: int
    rules_answers: int = 0

    @classmethod
    def of(cls, totals: UsageTotals) -> Usage:
        return cls(
            calls=totals.calls - totals.rules,
            rules_answers=totals.rules,
            prompt_tokens=totals.prompt_tokens,
            completion_tokens=totals.completion_tokens,
            cost_usd=round(totals.cost_usd, 6),
            unpriced_calls=totals.unpriced_calls,
        )


# ---------------------------------------------------------------- run-weekly


class MarketSource(Result):
    source: str
    synthetic: bool
    session: date


class PitchRow(Result):
    pm: str
    model: str
    account: str
    instrument: str
    direction: str
    conviction: int
    thesis: list[str]


class DecisionRow(Result):
    instrument: str
    direction: str
    conviction: int
    # As the chairman wrote them, each neutral label it was shown followed by its PM: "Pitch 4 (gpt)".
    rationale: str
    dissent: list[str]


class PlannedOrder(Order):
    """An order of the plan with what became of it (planned in a dry run, unsent if not reached)."""

    broker: str
    status: str
    detail: str
    fill_price: float | None


class LateRun(Result):
    """A scheduled job run more than a day after its time (the line said on stderr, under --quiet too)."""

    seconds: float = Field(description="how long after `due` the run finished its job, in seconds")
    due: datetime = Field(description="the instant the job was scheduled for (New York time, with its UTC offset)")


class WeeklyResult(Result):
    run_id: str
    week_id: date
    mode: str
    dry_run: bool
    resumed_stages: list[str]
    market: MarketSource
    research: list[str]
    pitches: list[PitchRow]
    failed_pms: list[str]
    review_matrix: dict[str, dict[str, float]]
    ranking: list[AggregateScore]
    decision: DecisionRow
    risk: list[RiskVerdict]
    orders: list[PlannedOrder]
    # Orders refused by the broker or blocked make the run degraded and are among these notes.
    degraded: list[str]
    usage: Usage
    duration_ms: float
    # Opening legs still held back until their close fills (one line each): not degraded; a rerun
    # or the next checkpoint sends them. Empty in a dry run.
    held_back: list[str] = []
    # A dry run's only: each account with orders queued at its broker, sized from the positions it holds before they
    # fill (a real run waits for them, exit 75).
    queued: list[str] = []
    # A script read "ran 42.5 hours late" from stderr alone (a new user's trial): the same lateness, typed.
    late: LateRun | None = Field(
        None,
        description="the run made its week more than a day after the week's scheduled run (`run-weekly` says so in "
        "a line); None when on time, for a dry run, and for a rerun of a week already complete",
    )


class WeekAlreadyComplete(Result):
    """run-weekly on a finished week: nothing was run, this says who finished it and when."""

    week_id: date
    status: Literal["complete"] = "complete"
    completed_by: dict[str, Any]
    at: str


# ---------------------------------------------------------------- checkpoint and postmortem


class CheckpointAccount(Result):
    account_id: str
    skipped: str | None
    checkpoint: Checkpoint | None
    verdict: RiskVerdict | None
    orders: list[Order]
    # client_order_id -> why it did not go out (blocked by the kill switch or the breaker, refused by the broker)
    refused: dict[str, str] = {}


class CheckpointResult(Result):
    run_id: str
    week_id: date
    day: date
    time: str
    mode: str
    dry_run: bool
    repeated: bool
    accounts: list[CheckpointAccount]
    usage: Usage
    duration_ms: float
    # Opening legs of the week still held back until their close fills: reported, not degraded.
    held_back: list[str] = []
    # The week's orders left undone (refused, held back) that this checkpoint's newer plan for their account replaced,
    # one line per account: given up whole, never sent; reported, not degraded.
    superseded: list[str] = []
    # What made the run degraded, one line each (an owner that failed, a plan abandoned, an order refused): its
    # RunFinished records `degraded` exactly when this is not empty.
    degraded: list[str] = []
    # One line per account judged by the model that made the week's trade where models.yaml names another model for
    # its PM (or the chairman) now (workflows/frozen_trade.py `_maker`): a swap takes effect at the next weekly run.
    models_kept: list[str] = []


class PostmortemResult(Result):
    run_id: str
    week_id: date
    written_now: bool
    accounts: list[Postmortem]
    usage: Usage
    duration_ms: float
    # Opening legs still held back for a close that never filled before the week closed: never sent.
    never_sent: list[str] = []
    # The owners' reflections stored as missing by this run (each "account: why"): the run is degraded.
    failed_reflections: list[str] = []
    # What made the run degraded, one line each: its RunFinished records `degraded` exactly when this is not empty.
    degraded: list[str] = []
    # The accounts whose reflection the model that made the week's trade wrote, models.yaml naming another for them now
    # (each account's `model_kept`): as checkpoints say in their `models_kept`.
    models_kept: list[str] = []
    without_rows: list[str] = Field(
        [],
        description="each account with no row whose books held a position at the week's end (it was not in "
        "accounts.yaml for the week's run or its postmortem): what it held and why it has no row; and each account "
        "whose week the weekly run held back and never planned (its orders open at its broker all week): why",
    )
    late: LateRun | None = Field(
        None,
        description="`postmortem` closed its week more than a day after the week's scheduled postmortem (said in a "
        "line); None when on time, for a week closed before, and under run-due (its job's own `late`)",
    )


# ---------------------------------------------------------------- status


class AccountStanding(Result):
    account_id: str
    name: str
    role: str
    broker: str
    equity: float
    cash: float
    week_pnl: float | None
    total_return: float | None
    # app/status_drawdown.py: an intraday "now" is a point of that status only (the evening's does not keep it).
    max_drawdown: float | None = Field(description=STATUS_DRAWDOWN)
    hit_rate: float | None
    trades: int = 0  # closed trades (round trips) the hit rate is over; even ones count in neither wins nor losses
    commissions_usd: float = Field(0.0, description="commissions paid to date on llmtrade's fills (USD)")
    slippage_usd: float | None = Field(
        None,
        description="slippage paid to date, estimated as traded notional x the paper broker's slippage_bps (USD); "
        "None for another broker, whose slippage is in its prices, unmeasured",
    )
    positions: list[Position]
    open_orders: list[BrokerOrder] = []  # llmtrade's orders the broker holds unfilled (they change `positions`)
    halted: bool
    breaker_reason: str | None
    # Reconciliation with the broker (positions above and equity are what llmtrade manages).
    differences: list[DifferenceLine] = []
    week_held: str | None = Field(
        None,
        description="why the weekly run held this account's week back (orders of llmtrade's still open at its broker, "
        "or its broker not answering) and has not planned it since: its equity and positions are last week's; None "
        "when its week is planned",
    )


class DifferenceLine(Result):
    """A difference between the broker and llmtrade's records as it stands now; `recorded_at` is when
    a run or checkpoint first recorded it (None: seen only now, recorded by the next run)."""

    difference: Difference
    recorded_at: str | None


class LastRun(Result):
    run_id: str
    at: str
    mode: str
    # killed: app/killed_runs.py; running: its lease held now; running or killed: a run from before leases; stopped to
    # wait: exit 75 after its StageDeferred (app/last_runs.py `waited`), no failure
    outcome: Literal["finished", "failed", "stopped to wait", "killed", "running", "running or killed"]
    degraded: bool
    error: str | None


class UsageSum(Result):
    """Recorded model calls over a period (from events, so it includes runs that failed): a model's answers, live or
    replayed; the offline rules provider's apart (`rules_answers`: no model, $0)."""

    calls: int
    rules_answers: int = 0
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    # Failed calls a reply came back to (truncated, empty: billed); their tokens and cost are in the sums above.
    failed_calls: int = 0
    unknown_cost_calls: int = 0  # calls whose cost is not known (no usage, no price): not in cost_usd


class StatusUsage(Result):
    this_week: UsageSum
    to_date: UsageSum


class StatusPricesFailed(Result):
    reason: str
    exit_code: int


class StatusResult(Result):
    asof: str  # the instant asked at (now, or LLMTRADE_NOW)
    week_id: date
    trading_enabled: bool
    kill_switch_reason: str | None
    # The SPY baseline's return from the close before the first valuation to `valued_at`'s close: bought in whole
    # shares with the paper broker's slippage and commission, as the leaderboard's SPY row (app/baselines.py).
    spy_return_since_start: float | None
    accounts: list[AccountStanding]
    last_runs: dict[str, LastRun]
    usage: StatusUsage
    event_checkpoints: list[EventCheckpointLine] = []
    closings_put_off: list[ClosingPutOffLine] = []
    # Scheduled checkpoints of this week and last that no run began in their time (CheckpointsMissed), by key.
    checkpoints_missed: list[str] = []
    # Job commands of this week and last that failed with no run to record it (CommandFailed), or did not run their job:
    # refused for the configuration or the clock, or a job found due after its session closed (DueJobNotRun).
    jobs_not_done: list[JobNotDoneLine] = []
    # Alerts that reached no one: owed now (retried by the next job command), given up or to an unusable URL this week
    # and last.
    alerts_not_delivered: list[AlertNotDeliveredLine] = []
    # Weeks of the books whose weekly run's time is over with no run of it completed: skipped, never run late
    # (app/missed_weeks.py), whether a wake-up has said so yet or not.
    weeks_not_run: list[date] = []
    # What `status` warns of on stderr (prices unavailable; a held symbol that looks split, no split recorded yet).
    warnings: list[str] = []
    # The session whose close values the accounts: the last closed at `asof` (None when no price could be had). The
    # leaderboard values the books at the last close a run saw (its `end`), which is earlier until a run values this.
    valued_at: date | None = None
    # Why `valued_at` is the session before the last one closed at `asof` (its bar is final at no provider yet).
    valued_note: str | None = None
    # Held symbols whose prices ended (a CSV file no longer written, a ticker delisted or renamed), valued at their last
    # close, by symbol: that close's day. As the leaderboard and the report value them; said in `warnings` too.
    at_last_close: dict[str, date] = {}
    # Whether those closes are the synthetic market's (the offline demo's books): every equity and P/L is made up.
    synthetic: bool = False
    # Why no price could be read now, when it is a wait (a provider not reached; rate-limited past what a command run
    # by hand waits): the rest is said, at cost, and `status` exits 75.
    prices_wait: str | None = None
    # Why some position is valued at cost for a reason waiting will not mend (a CSV file missing or unreadable, a
    # symbol no provider has), with the exit status gives after showing the rest (2 for the CSV folder's own files).
    prices_failed: StatusPricesFailed | None = None
    # The symbols without a price (`prices_wait`, `prices_failed`) that no account holds: an order of llmtrade's is
    # queued in each (its fill not recorded yet), which that price would fill or value. Empty when one is held.
    unpriced_orders: list[str] = []


# ---------------------------------------------------------------- positions


# ---------------------------------------------------------------- run-due


WeeklyOutcome = WeeklyResult | WeekAlreadyComplete


class DueJobRun(Result):
    job: str
    kind: Literal["weekly", "checkpoint", "postmortem"]
    report: WeeklyResult | WeekAlreadyComplete | CheckpointResult | PostmortemResult
    # An event checkpoint (a price move, not the schedule): why it fired.
    trigger: EventCheckpointTriggered | None = None
    late: LateRun | None = Field(
        None,
        description="a weekly run or postmortem this wake-up ran more than a day after its time with no wait said "
        "before (its late line); None otherwise",
    )


class RunDueResult(RootModel[list[DueJobRun]]):
    """`run-due --json`: one entry per job run, in order (an empty list when nothing was due)."""

    model_config = ConfigDict(frozen=True)


class BreakerReset(Result):
    account_id: str
    peak_equity: float


# The `--json` document of each command, for `llmtrade schema COMMAND`.
DOCUMENTS: dict[str, Any] = {
    "run-weekly": WeeklyOutcome,
    "checkpoint": CheckpointResult,
    "postmortem": PostmortemResult,
    "status": StatusResult,
    "run-due": RunDueResult,
}
