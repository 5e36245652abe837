"""Results built from what the pipelines return: the only code that reads their context keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from llmtrade.app.inquiry_results import CouncilFailure, CouncilResult
from llmtrade.app.results import (
    CheckpointAccount,
    CheckpointResult,
    DecisionRow,
    MarketSource,
    PitchRow,
    PlannedOrder,
    Usage,
    WeeklyResult,
)
from llmtrade.council.anonymize import unmasked
from llmtrade.domain.checkpoints import OrderBlocked
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import OrderRejected, OrderSubmitted
from llmtrade.llm.gateway import UsageTotals
from llmtrade.pipeline.context import PipelineContext
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows import committee_stages, council_stages, execution_stage, research_stages, trading_stages
from llmtrade.workflows.checkpoint import Outcome


def _sent(event: OrderSubmitted | OrderRejected) -> dict:
    if isinstance(event, OrderSubmitted):
        result = event.result
        return {"status": result.status.value, "detail": result.message, "fill_price": result.fill_price}
    return {"status": "rejected", "detail": event.reason, "fill_price": None}


def weekly_result(
    context: PipelineContext,
    *,
    run_id: str,
    mode: str,
    dry_run: bool,
    totals: UsageTotals,
    duration_ms: float,
    resumed: list[str],
) -> WeeklyResult:
    snapshot = context.get(research_stages.SNAPSHOT)
    pitches = context.get(committee_stages.PITCHES)
    decision = context.get(committee_stages.DECISION)
    names = context.get(committee_stages.PITCH_NAMES)
    pm_of = {p.idea_id: p.pm_id for p in pitches}
    matrix: dict[str, dict[str, float]] = {}
    for review in context.get(committee_stages.REVIEWS):
        matrix.setdefault(review.reviewer_pm_id, {})[pm_of[review.pitch_id]] = round(review.scores.mean(), 2)
    sent = {e.order.client_order_id: _sent(e) for e in context.get(execution_stage.EXECUTED)}
    # An order the run did not reach is "planned" in a dry run (by design) and "unsent" otherwise.
    missing = {"status": "planned" if dry_run else "unsent", "detail": "", "fill_price": None}
    return WeeklyResult(
        run_id=run_id,
        week_id=context.week_id,
        mode=mode,
        dry_run=dry_run,
        resumed_stages=resumed,
        market=MarketSource(source=snapshot.source, synthetic=snapshot.synthetic, session=snapshot.session),
        research=[p.research_source for p in context.get(research_stages.RESEARCH_PACKS)],
        pitches=[
            PitchRow(
                pm=p.pm_id,
                model=p.model,
                account=p.account_id,
                instrument=p.instrument,
                direction=p.direction,
                conviction=p.conviction,
                thesis=p.thesis_bullets,
            )
            for p in pitches
        ],
        failed_pms=context.get(committee_stages.FAILED_PMS),
        review_matrix=matrix,
        ranking=context.get(committee_stages.SCORES),
        decision=DecisionRow(
            instrument=decision.selected_trade.instrument,
            direction=decision.selected_trade.direction,
            conviction=decision.conviction,
            rationale=unmasked(decision.rationale, names),
            dissent=[unmasked(line, names) for line in decision.dissent_summary],
        ),
        risk=context.get(trading_stages.VERDICTS),
        orders=[
            PlannedOrder(**o.model_dump(), broker=plan.broker, **sent.get(o.client_order_id, missing))
            for plan in context.get(trading_stages.PLANS)
            for o in plan.orders
        ],
        degraded=context.get(research_stages.DEGRADED),
        queued=context.get(trading_stages.QUEUED),
        usage=Usage.of(totals),
        duration_ms=round(duration_ms, 1),
    )


def order_refusals(events: EventStore, week_id: date) -> dict[str, str]:
    """The week's orders that did not go out, and why: blocked before sending, or refused by the broker."""

    def step(state: dict[str, str], new: list[StoredEvent]) -> dict[str, str]:
        refused = dict(state)  # the kept state is shared: a new one, never changed in place
        for event in new:
            if event.type == _BLOCKED:
                blocked = events.payload(OrderBlocked, event)
                refused[blocked.client_order_id] = blocked.reason
            elif event.type == _REJECTED:
                rejected = events.payload(OrderRejected, event)
                refused[rejected.order.client_order_id] = rejected.reason
            else:
                refused.pop(events.payload(OrderSubmitted, event).order.client_order_id, None)  # sent by a later run
        return refused

    # Read after every checkpoint (some twenty a week, the week's orders growing): folded over what is new since the
    # last one, each event parsed once per process (events.payload).
    stream = week_stream(week_id, ORDERS)
    return dict(events.fold_stream(_REFUSALS, stream=stream, types=_ORDER_TYPES, start={}, step=step))


_BLOCKED, _REJECTED = OrderBlocked.event_type(), OrderRejected.event_type()
_ORDER_TYPES = (_BLOCKED, _REJECTED, OrderSubmitted.event_type())
# The memo's key: `step` depends on nothing but the stream's events (EventStore.fold_stream).
_REFUSALS = "order_refusals"


def checkpoint_result(
    outcomes: list[Outcome],
    *,
    week_id: date,
    day: date,
    time: str,
    run_id: str,
    mode: str,
    dry_run: bool,
    repeated: bool,
    totals: UsageTotals,
    duration_ms: float,
    refused: Mapping[str, str] | None = None,
    held_back: list[str] | None = None,
    superseded: list[str] | None = None,
    degraded: list[str] | None = None,
    models_kept: list[str] | None = None,
) -> CheckpointResult:
    """`refused`: client_order_id -> reason, for orders that did not go out (see `order_refusals`);
    `held_back`: a note per opening leg still held back for its close (workflows/legs.py `held_back_notes`);
    `superseded`: a note per account whose orders left undone this checkpoint's plan replaced (legs.py)."""
    refused = refused or {}
    return CheckpointResult(
        run_id=run_id,
        week_id=week_id,
        day=day,
        time=time,
        mode=mode,
        dry_run=dry_run,
        repeated=repeated,
        accounts=[
            CheckpointAccount(
                account_id=o.account_id,
                skipped=o.skipped,
                checkpoint=o.checkpoint,
                verdict=o.verdict,
                orders=list(o.orders.orders) if o.orders else [],
                refused={
                    order.client_order_id: refused[order.client_order_id]
                    for order in (o.orders.orders if o.orders else [])
                    if order.client_order_id in refused
                },
            )
            for o in outcomes
        ],
        usage=Usage.of(totals),
        duration_ms=round(duration_ms, 1),
        held_back=held_back or [],
        superseded=superseded or [],
        degraded=degraded or [],
        models_kept=models_kept or [],
    )


def council_result(
    context: PipelineContext,
    *,
    run_id: str,
    mode: str,
    query: str,
    chairman: str,
    totals: UsageTotals,
    duration_ms: float,
) -> CouncilResult:
    verdict = context.get(council_stages.VERDICT)
    return CouncilResult(
        run_id=run_id,
        mode=mode,
        query=query,
        answers=context.get(council_stages.ANSWERS),
        failures=[
            CouncilFailure(model=f.model, stage=f.stage, error=str(f.error))
            for f in context.get(council_stages.FAILURES)
        ],
        rankings=context.get(council_stages.RANKINGS),
        standings=context.get(council_stages.STANDINGS),
        chairman=chairman,
        # The chairman cites answers by the neutral labels it was shown ("Answer 2"), shuffled for it: the reader,
        # shown the answers in models.yaml's order, is told whose each is.
        verdict=unmasked(verdict.answer, verdict.labels, word="Answer"),
        usage=Usage.of(totals),
        duration_ms=round(duration_ms, 1),
    )
