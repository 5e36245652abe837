"""The weekly run, checkpoint and postmortem reports."""

from __future__ import annotations

from llmtrade.app.results import (
    CheckpointAccount,
    CheckpointResult,
    PostmortemResult,
    WeekAlreadyComplete,
    WeeklyResult,
)
from llmtrade.commands.render.common import footer, money, pct, pnl, prices_from
from llmtrade.console import Output
from llmtrade.domain.checkpoints import IndicatorOutcome
from llmtrade.domain.wording import market_time
from llmtrade.llm.gateway import LLMMode


def print_weekly(out: Output, report: WeeklyResult | WeekAlreadyComplete) -> None:
    if isinstance(report, WeekAlreadyComplete):
        out.line(
            f"week {report.week_id} is already complete (run {report.completed_by['run_id']} "
            f"at {market_time(report.at)}): nothing to do"
        )
        return
    market = report.market
    out.heading(f"week {report.week_id}: {'DRY RUN, ' if report.dry_run else ''}{report.mode} mode")
    out.line(f"prices: {prices_from(market.source, synthetic=market.synthetic)}, last session {market.session}")
    if report.resumed_stages:
        out.line("resumed: " + ", ".join(report.resumed_stages) + " loaded from the stored week")
    # Offline, the rules answered every role: the models.yaml entry is only what a live run would ask.
    rules = report.mode == LLMMode.OFFLINE.value

    def answered_by(model: str) -> str:
        return f"offline rules, in place of {model}" if rules else model

    out.table(
        "pitches",
        ["pm", "model", "account", "instrument", "direction", "conviction"],
        [
            (p.pm, answered_by(p.model), p.account, p.instrument, p.direction, f"{p.conviction:+d}")
            for p in report.pitches
        ],
    )
    pms = [p.pm for p in report.pitches]
    out.table(
        "review scores (mean of 7 criteria; rows review columns)",
        ["reviewer", *pms],
        [(r, *(report.review_matrix.get(r, {}).get(c, "") for c in pms)) for r in pms],
    )
    out.table(
        "aggregate ranking",
        ["rank", "pm", "mean score", "reviews"],
        [(s.rank, s.pm_id, f"{s.mean_score:.2f}", s.reviews) for s in report.ranking],
    )
    d = report.decision
    out.heading(f"chairman: {d.direction} {d.instrument} at conviction {d.conviction:+d}")
    out.line(d.rationale)
    for item in d.dissent:
        out.line(f"dissent: {item}")
    out.table(
        "risk gate",
        ["account", "instrument", "target qty", "approved", "reason", "adjustments"],
        [
            (
                v.account_id,
                v.instrument or "-",
                v.target_qty,
                "yes" if v.approved else "NO",
                v.reason,
                "; ".join(f"{a.rule}: {a.detail}" for a in v.adjustments) or "-",
            )
            for v in report.risk
        ],
    )
    out.table(
        "orders",
        ["account", "broker", "side", "qty", "symbol", "intent", "status", "client_order_id", "detail"],
        [
            (o.account_id, o.broker, o.side, o.qty, o.symbol, o.intent, o.status, o.client_order_id, o.detail)
            for o in report.orders
        ],
    )
    for note in degraded(report):
        out.warning(f"DEGRADED: {note}")
    for note in report.held_back:
        out.line(f"HELD BACK: {note}")
    footer(out, report.usage, duration_ms=report.duration_ms, run_id=report.run_id)


def print_checkpoint(out: Output, report: CheckpointResult) -> None:
    title = f"checkpoint {report.day} {report.time} (week {report.week_id}, {report.mode} mode)"
    out.heading(title + (", DRY RUN" if report.dry_run else ""))
    if report.repeated:
        out.line("this checkpoint was already done: showing what it decided (nothing was repeated)")
    rows = []
    for a in report.accounts:
        cp = a.checkpoint
        if cp is None:
            rows.append((a.account_id, "-", "skipped", "", a.skipped, ""))
            continue
        orders = (
            "; ".join(
                f"{o.side} {o.qty} {o.symbol}"
                + (f" NOT SENT ({a.refused[o.client_order_id]})" if o.client_order_id in a.refused else "")
                for o in a.orders
            )
            or "-"
        )
        rows.append(
            (
                a.account_id,
                cp.instrument,
                _action(cp.action, a),
                f"{cp.conviction_before:+d} -> {cp.conviction_after:+d}",
                ("[rule] " if cp.invalidation_triggered else "") + cp.reason_delta,
                orders,
            )
        )
    out.table("accounts", ["account", "instrument", "action", "conviction", "reason", "orders"], rows)
    for note in degraded(report):
        out.warning(f"DEGRADED: {note}")
    for note in report.held_back:
        out.line(f"HELD BACK: {note}")
    for note in report.superseded:
        out.line(f"SUPERSEDED: {note}")
    for note in report.models_kept:
        out.line(f"MODEL KEPT: {note}")
    footer(out, report.usage, duration_ms=report.duration_ms, run_id=report.run_id)


def degraded(report: WeeklyResult | WeekAlreadyComplete | CheckpointResult | PostmortemResult) -> list[str]:
    """What made a job's run degraded, one line each: said with --quiet too (run-due's lines name it). The job decided
    it, and its RunFinished records exactly whether there is any: a renderer of its own once said DEGRADED of a run
    recorded as not degraded (an operator's trial)."""
    if isinstance(report, WeekAlreadyComplete):
        return []
    return report.degraded


def _action(action: str, account: CheckpointAccount) -> str:
    """The move as it was carried out: refused by the gate, cut by a halt, or blocked before sending."""
    verdict = account.verdict
    if action != "STAY" and verdict is not None and not verdict.approved:
        return f"{action} REFUSED ({verdict.reason.split(':')[0]})"
    if verdict is not None and verdict.shadow_qty is not None and verdict.shadow_qty != verdict.target_qty:
        return f"{action} cut to {verdict.target_qty:+d} (halted: may only reduce)"
    if account.refused:
        return f"{action} NOT SENT" if len(account.refused) == len(account.orders) else f"{action} (partly not sent)"
    return action


def print_postmortem(out: Output, report: PostmortemResult) -> None:
    out.heading(f"postmortem of week {report.week_id}" + ("" if report.written_now else " (stored; not redone)"))
    out.table(
        "accounts",
        ["account", "trade", "start", "end", "week P/L", "return", "instrument move", "realised", "unrealised"],
        [
            (
                a.account_id,
                f"{a.direction} {a.instrument}" if a.instrument else "flat",
                money(a.start_equity),
                money(a.end_equity),
                pnl(a.week_pnl),
                pct(a.week_return),
                pct(a.instrument_return),
                pnl(a.realized_pnl),
                pnl(a.unrealized_pnl),
            )
            for a in report.accounts
        ],
    )
    for a in report.accounts:
        if a.week_return is None:
            began = money(a.start_equity)
            out.line(f"{a.account_id} return: n/a, its week began at equity {began}: no return over nothing")
        if a.indicators:
            held = ", ".join(_indicator(i) for i in a.indicators)
            out.line(f"{a.account_id} indicators: {held}")
        if a.reflection:
            r = a.reflection
            out.line(f"{a.account_id} right: {r.what_the_thesis_got_right}")
            out.line(f"{a.account_id} wrong: {r.what_it_got_wrong}")
            out.line(f"{a.account_id} lessons: {'; '.join(r.lessons)}")
    for note in report.never_sent:
        out.line(f"NEVER SENT: {note}")
    for note in report.models_kept:
        out.line(f"MODEL KEPT: {note}")
    for note in report.without_rows:
        out.line(f"NO ROW: {note}")


def _indicator(outcome: IndicatorOutcome) -> str:
    if outcome.held is None:
        return f"{outcome.threshold} unknown"
    if outcome.role == "invalidation":
        return f"exit rule {outcome.threshold} {'did not fire' if outcome.held else 'FIRED'}"
    return f"{outcome.threshold} {'held' if outcome.held else 'broke'}"
