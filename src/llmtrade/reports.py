"""What commands print when they finish: human reports on a terminal, JSON for machines."""

from __future__ import annotations

from typing import Any

from llmtrade.console import Output
from llmtrade.domain.research import MarketSnapshot, ResearchPack
from llmtrade.domain.trading import OrderRejected, OrderSubmitted
from llmtrade.llm.gateway import LLMMode, UsageTotals
from llmtrade.llm.providers import ModeDecision
from llmtrade.pipeline.context import PipelineContext
from llmtrade.workflows import committee_stages, research_stages, trading_stages


def mode_banner(decision: ModeDecision) -> str:
    if decision.mode is LLMMode.OFFLINE:
        return f"OFFLINE MODE: rules provider, not model output ({decision.reason})"
    if decision.mode is LLMMode.REPLAY:
        return f"REPLAY MODE: {decision.reason}"
    return f"LIVE MODE: {decision.reason}"


def _footer(out: Output, report: dict[str, Any]) -> None:
    usage = report["usage"]
    cost = f"${usage['cost_usd']:.4f}"
    if usage["unpriced_calls"]:
        cost += f" (+{usage['unpriced_calls']} calls with no known price)"
    out.pairs(
        [
            ("model calls", usage["calls"]),
            ("tokens", f"{usage['prompt_tokens']} in / {usage['completion_tokens']} out"),
            ("cost", cost),
            ("duration", f"{report['duration_ms'] / 1000:.1f} s"),
            ("run", report["run_id"]),
        ]
    )


def usage_json(totals: UsageTotals) -> dict[str, Any]:
    return {
        "calls": totals.calls,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "cost_usd": round(totals.cost_usd, 6),
        "unpriced_calls": totals.unpriced_calls,
    }


def print_council(out: Output, result: dict[str, Any]) -> None:
    out.heading("answers")
    for answer in result["answers"]:
        out.line(f"[{answer['model']}]", style="bold cyan")
        out.line(answer["text"])
        out.line()
    for failure in result["failures"]:
        out.line(f"[{failure['model']}] failed in {failure['stage']}: {failure['error']}", style="bold red")
    out.table(
        "peer ranking (mean rank, 1 = best)",
        ["model", "mean rank", "votes"],
        [(row["model"], f"{row['mean_rank']:.2f}", row["votes"]) for row in result["standings"]],
    )
    out.heading(f"chairman ({result['chairman']})")
    out.line(result["verdict"])
    out.line()
    _footer(out, result)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def print_snapshot(out: Output, snapshot: MarketSnapshot) -> None:
    label = "SYNTHETIC prices (offline)" if snapshot.synthetic else "prices"
    where = f"last session {snapshot.session}, {label} from {snapshot.source}"
    out.table(
        f"market snapshot as of {snapshot.asof.isoformat()}: {where}",
        [
            "symbol",
            "close",
            "1w",
            "4w",
            "12w",
            "vs SMA20",
            "vs SMA50",
            "vs SMA200",
            "RSI14",
            "ATR14",
            "vol20",
            "DD 52w",
            "corr SPY",
        ],
        [
            (
                s,
                _num(i.close),
                _pct(i.return_1w),
                _pct(i.return_4w),
                _pct(i.return_12w),
                _pct(i.price_vs_sma_20),
                _pct(i.price_vs_sma_50),
                _pct(i.price_vs_sma_200),
                _num(i.rsi_14, 1),
                _num(i.atr_14),
                _pct(i.realized_vol_20),
                _pct(i.drawdown_from_52w_high),
                _num(i.corr_spy_60),
            )
            for s, i in snapshot.indicators.items()
        ],
    )


def print_research(out: Output, packs: list[ResearchPack], degraded: list[str]) -> None:
    if packs:
        print_snapshot(out, packs[0].snapshot)
    for pack in packs:
        out.heading(
            f"research pack {pack.label}: {pack.research_source}, week {pack.week_id}, as of {pack.asof_et.isoformat()}"
        )
        regime = pack.macro_regime
        out.pairs(
            [
                ("risk mode", regime.risk_mode),
                (
                    "impulses",
                    f"rates {regime.rates_impulse}, usd {regime.usd_impulse}, "
                    f"inflation {regime.inflation_impulse}, growth {regime.growth_impulse}",
                ),
                ("hash", pack.content_hash()[:16]),
            ]
        )
        for narrative in pack.top_narratives:
            out.line(f"- {narrative.name}: {narrative.why_it_moves_prices_this_week}")
            out.line(f"  falsified by: {narrative.what_would_falsify_it}")
        out.line(f"consensus: {pack.consensus_map.street_consensus}")
        out.line(f"would surprise: {pack.consensus_map.what_would_surprise}")
        out.table(
            "tradable candidates",
            ["instrument", "bias", "thesis", "invalidation"],
            [
                (c.instrument, c.directional_bias, c.one_week_thesis, c.invalidation_rule)
                for c in pack.tradable_candidates
            ],
        )
        if pack.event_calendar_next_7d:
            out.line("events next 7 days: " + "; ".join(pack.event_calendar_next_7d))
        notes = pack.confidence_notes
        for note in [*notes.known_unknowns, *notes.data_quality_flags]:
            out.line(f"note: {note}")
    for item in degraded:
        out.line(f"DEGRADED: {item}", style="bold red")


def _outcome(event: OrderSubmitted | OrderRejected) -> dict[str, Any]:
    if isinstance(event, OrderSubmitted):
        result = event.result
        return {"status": result.status.value, "detail": result.message, "fill_price": result.fill_price}
    return {"status": "rejected", "detail": event.reason, "fill_price": None}


def weekly_report(
    context: PipelineContext,
    *,
    run_id: str,
    mode: str,
    dry_run: bool,
    totals: UsageTotals,
    duration_ms: float,
    resumed: list[str],
) -> dict[str, Any]:
    """Everything the weekly report shows, as plain data (also the --json output)."""
    snapshot = context.get(research_stages.SNAPSHOT)
    pitches = context.get(committee_stages.PITCHES)
    reviews = context.get(committee_stages.REVIEWS)
    scores = context.get(committee_stages.SCORES)
    decision = context.get(committee_stages.DECISION)
    verdicts = context.get(trading_stages.VERDICTS)
    plans = context.get(trading_stages.PLANS)
    executed = context.get(trading_stages.EXECUTED)
    pm_of = {p.idea_id: p.pm_id for p in pitches}
    matrix: dict[str, dict[str, float]] = {}
    for review in reviews:
        matrix.setdefault(review.reviewer_pm_id, {})[pm_of[review.pitch_id]] = round(review.scores.mean(), 2)
    sent = {e.order.client_order_id: _outcome(e) for e in executed}
    return {
        "run_id": run_id,
        "week_id": str(context.week_id),
        "mode": mode,
        "dry_run": dry_run,
        "resumed_stages": resumed,
        "market": {"source": snapshot.source, "synthetic": snapshot.synthetic, "session": str(snapshot.session)},
        "research": [p.research_source for p in context.get(research_stages.RESEARCH_PACKS)],
        "pitches": [
            {
                "pm": p.pm_id,
                "model": p.model,
                "account": p.account_id,
                "instrument": p.instrument,
                "direction": p.direction,
                "conviction": p.conviction,
                "thesis": p.thesis_bullets,
            }
            for p in pitches
        ],
        "failed_pms": context.get(committee_stages.FAILED_PMS),
        "review_matrix": matrix,
        "ranking": [s.model_dump() for s in scores],
        "decision": {
            "instrument": decision.selected_trade.instrument,
            "direction": decision.selected_trade.direction,
            "conviction": decision.conviction,
            "rationale": decision.rationale,
            "dissent": decision.dissent_summary,
        },
        "risk": [v.model_dump() for v in verdicts],
        "orders": [
            {
                **o.model_dump(mode="json"),
                "broker": plan.broker,
                **sent.get(
                    o.client_order_id, {"status": "planned" if dry_run else "unsent", "detail": "", "fill_price": None}
                ),
            }
            for plan in plans
            for o in plan.orders
        ],
        "degraded": context.get(research_stages.DEGRADED),
        "usage": usage_json(totals),
        "duration_ms": round(duration_ms, 1),
    }


def print_weekly(out: Output, report: dict[str, Any]) -> None:
    market = report["market"]
    title = f"week {report['week_id']}: {'DRY RUN, ' if report['dry_run'] else ''}{report['mode']} mode"
    out.heading(title)
    out.line(
        f"prices: {'SYNTHETIC ' if market['synthetic'] else ''}{market['source']}, last session {market['session']}"
    )
    if report["resumed_stages"]:
        out.line("resumed: " + ", ".join(report["resumed_stages"]) + " loaded from the stored week")
    out.table(
        "pitches",
        ["pm", "model", "account", "instrument", "direction", "conviction"],
        [
            (p["pm"], p["model"], p["account"], p["instrument"], p["direction"], f"{p['conviction']:+d}")
            for p in report["pitches"]
        ],
    )
    pms = [p["pm"] for p in report["pitches"]]
    out.table(
        "review scores (mean of 7 criteria; rows review columns)",
        ["reviewer", *pms],
        [(r, *(report["review_matrix"].get(r, {}).get(c, "") for c in pms)) for r in pms],
    )
    out.table(
        "aggregate ranking",
        ["rank", "pm", "mean score", "reviews"],
        [(s["rank"], s["pm_id"], f"{s['mean_score']:.2f}", s["reviews"]) for s in report["ranking"]],
    )
    d = report["decision"]
    out.heading(f"chairman: {d['direction']} {d['instrument']} at conviction {d['conviction']:+d}")
    out.line(d["rationale"])
    for item in d["dissent"]:
        out.line(f"dissent: {item}")
    out.table(
        "risk gate",
        ["account", "instrument", "target qty", "approved", "reason", "adjustments"],
        [
            (
                v["account_id"],
                v["instrument"] or "-",
                v["target_qty"],
                "yes" if v["approved"] else "NO",
                v["reason"],
                "; ".join(f"{a['rule']}: {a['detail']}" for a in v["adjustments"]) or "-",
            )
            for v in report["risk"]
        ],
    )
    out.table(
        "orders",
        ["account", "broker", "side", "qty", "symbol", "intent", "status", "client_order_id", "detail"],
        [
            (
                o["account_id"],
                o["broker"],
                o["side"],
                o["qty"],
                o["symbol"],
                o["intent"],
                o["status"],
                o["client_order_id"],
                o["detail"],
            )
            for o in report["orders"]
        ],
    )
    for note in report["degraded"]:
        out.line(f"DEGRADED: {note}", style="bold red")
    _footer(out, report)


def checkpoint_report(
    outcomes: list[Any],
    *,
    week_id: Any,
    day: Any,
    time: str,
    run_id: str,
    mode: str,
    dry_run: bool,
    repeated: bool,
    totals: UsageTotals,
    duration_ms: float,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "week_id": str(week_id),
        "day": str(day),
        "time": time,
        "mode": mode,
        "dry_run": dry_run,
        "repeated": repeated,
        "accounts": [
            {
                "account_id": o.account_id,
                "skipped": o.skipped,
                "checkpoint": o.checkpoint.model_dump(mode="json") if o.checkpoint else None,
                "verdict": o.verdict.model_dump(mode="json") if o.verdict else None,
                "orders": [order.model_dump(mode="json") for order in o.orders.orders] if o.orders else [],
            }
            for o in outcomes
        ],
        "usage": usage_json(totals),
        "duration_ms": round(duration_ms, 1),
    }


def print_checkpoint(out: Output, report: dict[str, Any]) -> None:
    title = f"checkpoint {report['day']} {report['time']} (week {report['week_id']}, {report['mode']} mode)"
    out.heading(title + (", DRY RUN" if report["dry_run"] else ""))
    if report["repeated"]:
        out.line("this checkpoint was already done: showing what it decided (nothing was repeated)")
    rows = []
    for a in report["accounts"]:
        cp = a["checkpoint"]
        if cp is None:
            rows.append((a["account_id"], "-", "skipped", "", a["skipped"], ""))
            continue
        orders = "; ".join(f"{o['side']} {o['qty']} {o['symbol']}" for o in a["orders"]) or "-"
        rows.append(
            (
                a["account_id"],
                cp["instrument"],
                cp["action"],
                f"{cp['conviction_before']:+d} -> {cp['conviction_after']:+d}",
                ("[rule] " if cp["invalidation_triggered"] else "") + cp["reason_delta"],
                orders,
            )
        )
    out.table("accounts", ["account", "instrument", "action", "conviction", "reason", "orders"], rows)
    _footer(out, report)


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def print_postmortem(out: Output, report: dict[str, Any]) -> None:
    out.heading(f"postmortem of week {report['week_id']}" + ("" if report["written_now"] else " (stored; not redone)"))
    out.table(
        "accounts",
        ["account", "trade", "start", "end", "week P/L", "return", "instrument move", "realised", "unrealised"],
        [
            (
                a["account_id"],
                f"{a['direction']} {a['instrument']}" if a["instrument"] else "flat",
                _money(a["start_equity"]),
                _money(a["end_equity"]),
                _money(a["week_pnl"]),
                _pct(a["week_return"]),
                _pct(a["instrument_return"]),
                _money(a["realized_pnl"]),
                _money(a["unrealized_pnl"]),
            )
            for a in report["accounts"]
        ],
    )
    for a in report["accounts"]:
        if a["indicators"]:
            held = ", ".join(
                f"{i['threshold']} {'held' if i['held'] else 'broke' if i['held'] is False else 'unknown'}"
                for i in a["indicators"]
            )
            out.line(f"{a['account_id']} indicators: {held}")
        if a["reflection"]:
            r = a["reflection"]
            out.line(f"{a['account_id']} right: {r['what_the_thesis_got_right']}")
            out.line(f"{a['account_id']} wrong: {r['what_it_got_wrong']}")
            out.line(f"{a['account_id']} lessons: {'; '.join(r['lessons'])}")


def print_status(out: Output, report: dict[str, Any]) -> None:
    switch = "enabled" if report["trading_enabled"] else f"DISABLED ({report['kill_switch_reason']})"
    out.heading(f"status as of {report['asof']} (week {report['week_id']}): trading {switch}")
    out.table(
        "accounts",
        [
            "account",
            "role",
            "broker",
            "equity",
            "week P/L",
            "total",
            "max DD",
            "hit rate",
            "vs FLAT",
            "vs SPY",
            "breaker",
            "positions",
        ],
        [
            (
                a["account_id"],
                a["role"],
                a["broker"],
                _money(a["equity"]),
                _money(a["week_pnl"]),
                _pct(a["total_return"]),
                _pct(-a["max_drawdown"] if a["max_drawdown"] else 0.0),
                "n/a" if a["hit_rate"] is None else f"{a['hit_rate']:.0%}",
                _pct(a["vs_flat"]),
                _pct(a["vs_spy"]),
                f"HALTED: {a['breaker_reason']}" if a["halted"] else "ok",
                ", ".join(f"{p['qty']:+d} {p['symbol']} @ {p['avg_price']:.2f}" for p in a["positions"]) or "-",
            )
            for a in report["accounts"]
        ],
    )
    out.table(
        "last runs",
        ["command", "at", "mode", "outcome", "degraded"],
        [
            (
                command,
                r["at"],
                r["mode"],
                r["outcome"] + (f": {r['error']}" if r["error"] else ""),
                "yes" if r["degraded"] else "no",
            )
            for command, r in sorted(report["last_runs"].items())
        ],
    )
    week, total = report["usage"]["this_week"], report["usage"]["to_date"]
    out.pairs(
        [
            ("model calls this week", f"{week['calls']} (${week['cost_usd']:.4f})"),
            ("model calls to date", f"{total['calls']} (${total['cost_usd']:.4f})"),
            ("SPY since the first run", _pct(report["spy_return_since_start"])),
        ]
    )
