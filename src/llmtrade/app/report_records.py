"""What the HTML report shows besides the leaderboard: the weeks as the event store recorded them.

Every line carries `event_id`, the id of the stored event it was read from, so a reader of the report
can find the event (`llmtrade events`) and the report can link to it (`#event-<id>`). Frozen; built
by `app/report.py` (`build_report`), rendered by `report/` (`render_report`).

Units: money in USD, returns as fractions (0.012 = +1.2%), times as ISO-8601 strings in New York time
where the event stored them so.
"""

from __future__ import annotations

from datetime import date

from llmtrade.app.results import Result


class AccountLine(Result):
    """An account as configured (accounts.yaml)."""

    account_id: str
    name: str
    role: str
    starting_cash: float


class ControlLine(Result):
    """A control that changed what an account may trade: a circuit-breaker halt or resume, the kill switch turned
    off or on (no account: all of them), or a frozen plan abandoned because the account no longer held what it
    was planned from."""

    event_id: int
    at: str  # New York time
    kind: str  # halted | resumed | trading disabled | trading enabled | plan abandoned
    account_id: str | None
    detail: str


class PitchLine(Result):
    """A PM's pitch (PitchSubmitted)."""

    event_id: int
    pm: str
    model: str  # the model models.yaml named for the PM
    account_id: str
    instrument: str
    direction: str
    conviction: int  # -2..+2
    thesis: tuple[str, ...]
    # The offline rules answered in the model's place (its LLMCallCompleted's source): the report named the model
    # beside an "[offline rules]" thesis. Defaulted: a WeekReport built before reads as before.
    rules: bool = False


class PitchFailure(Result):
    """A PM that failed to pitch (PitchFailed)."""

    event_id: int
    pm: str
    model: str
    error: str


class ReviewCell(Result):
    """One anonymous peer review (ReviewSubmitted): `reviewer` scored `reviewed`'s pitch, shown to it as
    `label`; `mean_score` is the mean of its seven 1-10 scores."""

    event_id: int
    reviewer: str  # the reviewing PM's id
    reviewed: str  # the pitching PM's id
    label: str
    mean_score: float
    argument_against: str


class RankLine(Result):
    """A pitch's place in the aggregated peer review (ReviewsAggregated); 1 is best."""

    event_id: int
    pm: str
    rank: int
    mean_score: float
    reviews: int


class ChairmanLine(Result):
    """The chairman's decision (DecisionMade)."""

    event_id: int
    model: str  # the chairman's model in models.yaml
    account_id: str
    instrument: str
    direction: str
    conviction: int
    rationale: str
    dissent: tuple[str, ...]
    rules: bool = False  # the offline rules decided in the model's place (as PitchLine.rules)


class SizedLine(Result):
    """The risk gate's verdict on one account's intent (RiskChecked): the position it sized."""

    event_id: int
    account_id: str
    instrument: str
    target_qty: int  # signed shares: positive long, negative short
    price: float
    approved: bool
    reason: str
    occasion: str  # "weekly run" or "checkpoint DAY HH:MM"


class OrderLine(Result):
    """An order's fate (OrderSubmitted, OrderRejected or OrderBlocked)."""

    event_id: int
    account_id: str
    client_order_id: str
    symbol: str
    side: str  # buy | sell ("" when blocked before an order record existed)
    qty: int
    intent: str
    status: str  # the broker's status, "rejected" or "blocked"
    detail: str


class FillLine(Result):
    """A fill in the audit log (OrderFilled)."""

    event_id: int
    account_id: str
    client_order_id: str
    symbol: str
    side: str
    qty: int
    price: float
    commission: float
    filled_at: str
    exact: str = ""  # a fill by hand in a fraction of a share: its quantity as the broker wrote it (qty: whole shares)
    # What priced it (Fill.price_source): "daily open", "daily close" (an order sent in session on daily prices only), a
    # quote's "<provider> <kind>" such as "alpaca trade" or, in books of an earlier version, "csv daily-bridge" (a path
    # through the session's own daily bar, not a traded price); "" for a fill recorded before it was kept.
    priced_by: str = ""


class CheckpointLine(Result):
    """One account at one checkpoint (CheckpointTaken, or CheckpointSkipped with `action` "SKIPPED")."""

    event_id: int
    day: date
    time: str  # HH:MM New York
    account_id: str
    instrument: str | None
    action: str  # STAY | EXIT | FLIP | REDUCE | SKIPPED
    conviction_before: int | None
    conviction_after: int | None
    decided_by: str | None  # invalidation_rule | owner
    invalidation_triggered: bool
    reason: str


class PostmortemLine(Result):
    """One account's week scored (PostmortemWritten). `direction_right`: did the instrument move the way the
    position bet (None for no position or an unknown move); `held`/`broken`: frozen thresholds whose
    thesis side held or broke at the week's end. The memory's "thesis right" is another question (every frozen
    threshold held: workflows/memory_records.py): a new user saw one setup "right" there and "wrong" here under the
    same word."""

    event_id: int
    account_id: str
    instrument: str | None
    direction: str | None
    start_equity: float
    end_equity: float
    week_pnl: float
    week_return: float | None  # week_pnl / start_equity; None when the week began at equity at or below 0 (undefined)
    instrument_return: float | None
    direction_right: bool | None
    held: tuple[str, ...]
    broken: tuple[str, ...]
    got_right: str | None
    got_wrong: str | None
    lessons: tuple[str, ...]
    model_kept: str | None = None  # who wrote the reflection when models.yaml names another model now (Postmortem's)


class RunLine(Result):
    """One run of the week (its RunStarted) and how it ended, so a failure, a degraded run or a run killed mid-way is
    on the page with the events that say so."""

    event_id: int  # the RunStarted
    run_id: str
    command: str  # run-weekly | checkpoint | postmortem | ...
    arguments: dict[str, str | int | float | bool | None]  # as RunStarted recorded them: the week, the slot
    started_at: str  # New York time
    mode: str  # live | offline | replay
    # finished | degraded | failed | killed (a later run found it gone; the page says "no end") | no end recorded
    outcome: str
    end_event_id: int | None  # the RunFinished, RunFailed or RunKilled; None when no end is recorded
    detail: tuple[str, ...]  # the error of a failed run; what a stage went on without or is waiting for
    # False for a finished run whose every stage loaded its stored output (report_runs.NOTHING_REDONE): a look at a job
    # done, not the job run again. Defaulted: a report built before reads as before.
    redone: bool = True


class WeekCost(Result):
    """The week's model calls (LLMCallCompleted answered by a model, live or replayed from the cache; failures counted
    apart): what they cost. The offline rules provider's answers are no model's: `rules_answers`, $0."""

    calls: int
    rules_answers: int
    failed_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    unpriced_calls: int  # calls (answered, or failed with a reply: billed) whose cost is not known: not in cost_usd


class OutsideCost(Result):
    """The model calls of runs recorded with no week and given to none (a `council` question, a live `ask`, a discover
    run in a week with no other record): a row of their own, so the page's cost counts every call the books hold."""

    runs: tuple[str, ...]  # by command, as "council (2 runs)", oldest command first
    cost: WeekCost


class WeekTrading(Result):
    """What the week's fills (OrderFilled) cost besides the models: commissions paid and the slippage estimated as
    the leaderboard estimates it (traded notional x the paper broker's slippage_bps), so the weeks add up to its
    columns."""

    fills: int
    traded_usd: float  # shares x price over every fill, bought and sold
    commissions_usd: float
    slippage_usd: float | None  # None when a fill came from a broker whose slippage is in its prices, unmeasured


class MissedCheckpoint(Result):
    """A scheduled checkpoint no run began in its time (CheckpointsMissed, recorded by the next wake-up)."""

    event_id: int
    job: str  # its job key, e.g. checkpoint:2026-01-29T09:00


class WeekNotRunLine(Result):
    """A week the books skipped whole (WeekNotRun, recorded by the first wake-up after its last session closed)."""

    event_id: int
    checkpoints: int  # how many of its scheduled checkpoints were lost with it
    reason: str


class WeekInPart(Result):
    """A listed week whose jobs are not all done, as the leaderboard's note says of it (app/report_partial.py):
    `label` for the week list ("partial": an unfinished backtest stopped inside it; "running": one still running in
    another process; "open": the live week with no postmortem yet), `note` for its section."""

    label: str
    note: str


class WeekReport(Result):
    """Everything recorded for one week (its Wednesday), in the order the week happened."""

    week_id: date
    runs: tuple[RunLine, ...]
    pitches: tuple[PitchLine, ...]
    failed_pitches: tuple[PitchFailure, ...]
    reviews: tuple[ReviewCell, ...]
    ranking: tuple[RankLine, ...]
    chairman: ChairmanLine | None
    sized: tuple[SizedLine, ...]
    orders: tuple[OrderLine, ...]
    fills: tuple[FillLine, ...]
    checkpoints: tuple[CheckpointLine, ...]
    postmortems: tuple[PostmortemLine, ...]
    missed: tuple[MissedCheckpoint, ...] = ()
    not_run: WeekNotRunLine | None = None
    in_part: WeekInPart | None = None
    cost: WeekCost
    trading: WeekTrading


class Report(Result):
    """The report's data: the accounts and every week with recorded events, oldest first."""

    source: str  # "live" or "backtest NAME"
    accounts: tuple[AccountLine, ...]
    weeks: tuple[WeekReport, ...]
    controls: tuple[ControlLine, ...] = ()
    outside: OutsideCost | None = None  # None when every call is in a week's row

    def event_ids(self) -> list[int]:
        """Every event id the report cites, in the order it shows them."""
        ids: list[int] = [line.event_id for line in self.controls]
        for week in self.weeks:
            for run in week.runs:
                ids += [run.event_id] + ([run.end_event_id] if run.end_event_id is not None else [])
            for group in (
                week.pitches,
                week.failed_pitches,
                week.reviews,
                week.ranking,
                (week.chairman,) if week.chairman else (),
                week.sized,
                week.orders,
                week.fills,
                week.checkpoints,
                week.postmortems,
            ):
                ids += [line.event_id for line in group]
            if week.not_run is not None:
                ids.append(week.not_run.event_id)
        return ids
