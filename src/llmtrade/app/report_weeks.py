"""Each week's report lines read from its stored events: one reader per event type, each keeping the id.

Pure over StoredEvents: `week_report` takes the week's events (any order, any types) and returns the
week as the report shows it; nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from llmtrade.agents import chairman as chairman_role
from llmtrade.agents import pm as pm_role
from llmtrade.app import report_runs
from llmtrade.app.report_records import (
    ChairmanLine,
    CheckpointLine,
    FillLine,
    MissedCheckpoint,
    OrderLine,
    PitchFailure,
    PitchLine,
    PostmortemLine,
    RankLine,
    ReviewCell,
    SizedLine,
    WeekNotRunLine,
    WeekReport,
)
from llmtrade.app.report_week_costs import week_cost, week_trading
from llmtrade.brokers.order_ends import ENDED_AT
from llmtrade.council.anonymize import unmasked
from llmtrade.domain.checkpoints import (
    CheckpointSkipped,
    CheckpointsMissed,
    CheckpointTaken,
    OrderBlocked,
    Postmortem,
    PostmortemWritten,
)
from llmtrade.domain.committee import (
    DecisionMade,
    PitchFailed,
    PitchSubmitted,
    ReviewsAggregated,
    ReviewSubmitted,
)
from llmtrade.domain.events import (
    EventPayload,
    LLMCallCompleted,
    LLMCallFailed,
    StoredEvent,
    rules_answer,
)
from llmtrade.domain.runs import WeekNotRun
from llmtrade.domain.trading import (
    Order,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    QueuedOrderCanceled,
    RiskChecked,
)
from llmtrade.domain.wording import MARKET_ZONE, market_time

# The event types the report reads; everything else a week recorded is left out.
READ: tuple[type[EventPayload], ...] = (
    PitchSubmitted,
    PitchFailed,
    ReviewSubmitted,
    ReviewsAggregated,
    DecisionMade,
    RiskChecked,
    OrderSubmitted,
    OrderRejected,
    OrderBlocked,
    OrderFilled,
    QueuedOrderCanceled,
    CheckpointTaken,
    CheckpointSkipped,
    CheckpointsMissed,
    PostmortemWritten,
    LLMCallCompleted,
    LLMCallFailed,
    WeekNotRun,
)
TYPES = tuple(t.event_type() for t in (*READ, *report_runs.READ))


def week_report(week_id: date, events: Sequence[StoredEvent], *, slippage_bps: float = 0.0) -> WeekReport:
    """The week's lines from its events, oldest event first within each kind; `slippage_bps` is the paper broker's
    (accounts.yaml), what its fills' slippage is estimated with."""
    of: dict[str, list[StoredEvent]] = {name: [] for name in TYPES}
    for event in sorted(events, key=lambda e: e.id):
        if event.type in of:
            of[event.type].append(event)
    by_rules = _rules_answered(of[LLMCallCompleted.event_type()])
    pitches = [_pitch(e, by_rules) for e in of[PitchSubmitted.event_type()]]
    stored = [PitchSubmitted.from_event(e).pitch for e in of[PitchSubmitted.event_type()]]
    pm_of = {p.idea_id: p.pm_id for p in stored}
    decisions = of[DecisionMade.event_type()]
    return WeekReport(
        week_id=week_id,
        runs=report_runs.run_lines(events),
        pitches=tuple(pitches),
        failed_pitches=tuple(_pitch_failure(e) for e in of[PitchFailed.event_type()]),
        reviews=tuple(_review(e, pm_of) for e in of[ReviewSubmitted.event_type()]),
        ranking=tuple(line for e in of[ReviewsAggregated.event_type()][-1:] for line in _ranking(e)),
        chairman=_chairman(decisions[-1], pm_of, by_rules) if decisions else None,
        sized=tuple(_sized(e) for e in of[RiskChecked.event_type()]),
        orders=tuple(
            _order(e)
            for e in sorted(
                of[OrderSubmitted.event_type()] + of[OrderRejected.event_type()] + of[OrderBlocked.event_type()],
                key=lambda e: e.id,
            )
        )
        + _ended(of[QueuedOrderCanceled.event_type()], of[OrderSubmitted.event_type()]),
        fills=tuple(_fill(e) for e in of[OrderFilled.event_type()]),
        checkpoints=tuple(
            _checkpoint(e)
            for e in sorted(of[CheckpointTaken.event_type()] + of[CheckpointSkipped.event_type()], key=lambda e: e.id)
        ),
        # Never run (no run began in their time): the runs' counts cannot show them (a cron trial found them nowhere).
        missed=tuple(
            MissedCheckpoint(event_id=e.id, job=job)
            for e in of[CheckpointsMissed.event_type()]
            for job in CheckpointsMissed.from_event(e).checkpoints
        ),
        postmortems=tuple(_postmortem(e) for e in of[PostmortemWritten.event_type()]),
        not_run=next((_not_run(e) for e in of[WeekNotRun.event_type()]), None),
        cost=week_cost(of[LLMCallCompleted.event_type()], of[LLMCallFailed.event_type()]),
        trading=week_trading(of[OrderFilled.event_type()], slippage_bps),
    )


def _not_run(event: StoredEvent) -> WeekNotRunLine:
    lost = WeekNotRun.from_event(event)
    checkpoints = sum(job.startswith("checkpoint:") for job in lost.jobs)
    return WeekNotRunLine(event_id=event.id, checkpoints=checkpoints, reason=lost.reason)


def _rules_answered(calls: Sequence[StoredEvent]) -> set[tuple[str | None, str | None, str]]:
    """(run id, account id, role) of each answer the offline rules gave in a model's place: the last call of each
    (a repair comes after the answer it repairs) read from its LLMCallCompleted (`source`)."""
    last: dict[tuple[str | None, str | None, str], bool] = {}
    for call in calls:
        last[(call.run_id, call.account_id, str(call.payload.get("role")))] = rules_answer(call.payload)
    return {key for key, rules in last.items() if rules}


def _pitch(event: StoredEvent, by_rules: set[tuple[str | None, str | None, str]]) -> PitchLine:
    pitch = PitchSubmitted.from_event(event).pitch
    return PitchLine(
        rules=(event.run_id, pitch.account_id, pm_role.ROLE) in by_rules,
        event_id=event.id,
        pm=pitch.pm_id,
        model=pitch.model,
        account_id=pitch.account_id,
        instrument=pitch.instrument,
        direction=pitch.direction,
        conviction=pitch.conviction,
        thesis=tuple(pitch.thesis_bullets),
    )


def _pitch_failure(event: StoredEvent) -> PitchFailure:
    failed = PitchFailed.from_event(event)
    return PitchFailure(
        event_id=event.id, pm=failed.pm_id, model=failed.model, error=f"{failed.error_type}: {failed.error}"
    )


def _review(event: StoredEvent, pm_of: dict[str, str]) -> ReviewCell:
    review = ReviewSubmitted.from_event(event).review
    return ReviewCell(
        event_id=event.id,
        reviewer=review.reviewer_pm_id,
        # A pitch not in the week's pitches cannot happen in a stored week; its id is shown rather than dropped.
        reviewed=pm_of.get(review.pitch_id, review.pitch_id),
        label=review.anonymized_pitch_id,
        mean_score=round(review.scores.mean(), 2),
        argument_against=review.best_argument_against,
    )


def _ranking(event: StoredEvent) -> list[RankLine]:
    scores = ReviewsAggregated.from_event(event).scores
    return [
        RankLine(event_id=event.id, pm=s.pm_id, rank=s.rank, mean_score=round(s.mean_score, 2), reviews=s.reviews)
        for s in sorted(scores, key=lambda s: s.rank)
    ]


def _chairman(
    event: StoredEvent, pm_of: dict[str, str], by_rules: set[tuple[str | None, str | None, str]]
) -> ChairmanLine:
    """The decision as its reader needs it: each neutral label the chairman wrote followed by its PM."""
    made = DecisionMade.from_event(event)
    decision = made.decision
    names = {label: pm_of[idea] for label, idea in made.labels.items() if idea in pm_of}
    return ChairmanLine(
        event_id=event.id,
        rules=(event.run_id, decision.account_id, chairman_role.ROLE) in by_rules,
        model=decision.model,
        account_id=decision.account_id,
        instrument=decision.selected_trade.instrument,
        direction=decision.selected_trade.direction,
        conviction=decision.conviction,
        rationale=unmasked(decision.rationale, names),
        dissent=tuple(unmasked(line, names) for line in decision.dissent_summary),
    )


def _slot(stream: str) -> tuple[date, str] | None:
    """(day, HH:MM) of a checkpoint stream (domain/streams.py checkpoint_stream), None for another stream."""
    _, found, rest = stream.partition(":checkpoint:")
    if not found:
        return None
    day, _, clock = rest.partition("T")
    return date.fromisoformat(day), clock[:5]


def _sized(event: StoredEvent) -> SizedLine:
    verdict = RiskChecked.from_event(event).verdict
    slot = _slot(event.stream)
    return SizedLine(
        event_id=event.id,
        account_id=verdict.account_id,
        instrument=verdict.instrument,
        target_qty=verdict.target_qty,
        price=verdict.price,
        approved=verdict.approved,
        reason=verdict.reason,
        occasion=f"checkpoint {slot[0]} {slot[1]}" if slot else "weekly run",
    )


def _order(event: StoredEvent) -> OrderLine:
    if event.type == OrderBlocked.event_type():
        blocked = OrderBlocked.from_event(event)
        return OrderLine(
            event_id=event.id,
            account_id=blocked.account_id,
            client_order_id=blocked.client_order_id,
            symbol="",
            side="",
            qty=0,
            intent="",
            status="blocked",
            detail=blocked.reason,
        )
    if event.type == OrderSubmitted.event_type():
        sent = OrderSubmitted.from_event(event)
        order, status, detail = sent.order, sent.result.status.value, sent.result.message
    else:
        rejected = OrderRejected.from_event(event)
        order, status, detail = rejected.order, "rejected", rejected.reason
    return OrderLine(
        event_id=event.id,
        account_id=order.account_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side.value,
        qty=order.qty,
        intent=order.intent,
        status=status,
        detail=detail,
    )


def _ended(ends: list[StoredEvent], submitted: list[StoredEvent]) -> tuple[OrderLine, ...]:
    """The week's orders its broker accepted and then ended without filling them whole (brokers/order_ends.py): the
    order's line again, under the broker's end, after the lines of what was sent."""
    sent: dict[str, Order] = {}
    for event in submitted:
        order = OrderSubmitted.from_event(event).order
        sent[order.client_order_id] = order
    lines = []
    for event in ends:
        ended = QueuedOrderCanceled.from_event(event)
        order = sent.get(ended.client_order_id)
        if order is None or not ended.reason.startswith(ENDED_AT):
            continue  # the breaker's cancels and a split's are not the broker's ends
        lines.append(
            OrderLine(
                event_id=event.id,
                account_id=order.account_id,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side.value,
                qty=order.qty,
                intent=order.intent,
                status=ended.status.value if ended.status is not None else "ended",
                detail=ended.reason,
            )
        )
    return tuple(lines)


def _fill(event: StoredEvent) -> FillLine:
    fill = OrderFilled.from_event(event).fill
    return FillLine(
        event_id=event.id,
        account_id=fill.account_id,
        client_order_id=fill.client_order_id,
        symbol=fill.symbol,
        side=fill.side.value,
        qty=fill.qty,
        price=fill.price,
        commission=fill.commission,
        filled_at=market_time(fill.filled_at),
        exact=fill.exact,
        priced_by=fill.price_source,
    )


def _checkpoint(event: StoredEvent) -> CheckpointLine:
    if event.type == CheckpointSkipped.event_type():
        skipped = CheckpointSkipped.from_event(event)
        day, time = _slot(event.stream) or (event.occurred_at.astimezone(MARKET_ZONE).date(), "")
        return CheckpointLine(
            event_id=event.id,
            day=day,
            time=time,
            account_id=skipped.account_id,
            instrument=None,
            action="SKIPPED",
            conviction_before=None,
            conviction_after=None,
            decided_by=None,
            invalidation_triggered=False,
            reason=skipped.reason,
        )
    taken = CheckpointTaken.from_event(event).checkpoint
    return CheckpointLine(
        event_id=event.id,
        day=taken.day,
        time=taken.time,
        account_id=taken.account_id,
        instrument=taken.instrument,
        action=taken.action,
        conviction_before=taken.conviction_before,
        conviction_after=taken.conviction_after,
        decided_by=taken.decided_by,
        invalidation_triggered=taken.invalidation_triggered,
        reason=taken.reason_delta,
    )


def direction_right(postmortem: Postmortem) -> bool | None:
    """Whether the instrument moved the way the position bet: LONG and up, or SHORT and down."""
    move = postmortem.instrument_return
    if move is None or postmortem.direction not in ("LONG", "SHORT"):
        return None
    return move > 0 if postmortem.direction == "LONG" else move < 0


def _postmortem(event: StoredEvent) -> PostmortemLine:
    pm = PostmortemWritten.from_event(event).postmortem
    reflection = pm.reflection
    return PostmortemLine(
        event_id=event.id,
        account_id=pm.account_id,
        instrument=pm.instrument,
        direction=pm.direction,
        start_equity=pm.start_equity,
        end_equity=pm.end_equity,
        week_pnl=pm.week_pnl,
        # None over a week begun at no equity (domain/checkpoints.py Postmortem): n/a, and the page says why.
        week_return=pm.week_return,
        instrument_return=pm.instrument_return,
        direction_right=direction_right(pm),
        held=tuple(i.threshold for i in pm.indicators if i.held is True),
        broken=tuple(i.threshold for i in pm.indicators if i.held is False),
        got_right=reflection.what_the_thesis_got_right if reflection else None,
        got_wrong=reflection.what_it_got_wrong if reflection else None,
        lessons=tuple(reflection.lessons) if reflection else (),
        model_kept=pm.model_kept,
    )
