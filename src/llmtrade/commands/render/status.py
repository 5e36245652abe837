"""The status report."""

from __future__ import annotations

from llmtrade.app.results import StatusResult, UsageSum
from llmtrade.commands.render.common import calls_text, counted, drawdown, money, pct, pnl
from llmtrade.console import Output
from llmtrade.domain.wording import market_time

# Status gives no account-against-FLAT or -SPY figure: one without its interval, trades and costs reads as a verdict.
COMPARE = "`llmtrade leaderboard`: each account against FLAT and SPY with 95% intervals, trades and costs"


def print_status(out: Output, report: StatusResult) -> None:
    switch = "enabled" if report.trading_enabled else f"DISABLED ({report.kill_switch_reason})"
    valued = f"valued at the close of {report.valued_at}" if report.valued_at else "no close to value at"
    # Labelled wherever it appears: with keys set, the demo's books are still valued on the synthetic market.
    valued += " on SYNTHETIC prices" if report.synthetic else ""
    # Every time in New York, the schedule's zone (domain/wording.py): --json keeps the results' own.
    out.heading(f"status as of {market_time(report.asof)} New York (week {report.week_id}, {valued}): trading {switch}")
    if report.valued_note:
        out.line(f"valued at the close of {report.valued_at}: {report.valued_note}")
    out.table(
        "accounts",
        [
            "account",
            "role",
            "broker",
            "equity",
            "week P/L",
            "total",
            # Over the daily closes since the books began, then now (an earlier status's intraday now is not kept):
            # over the runs' valuations it missed closes and disagreed with the leaderboard at the same close.
            "max DD (closes, now)",
            "hit rate",
            "commissions",
            "slippage~",
            "breaker",
            "positions",
        ],
        [
            (
                a.account_id,
                a.role,
                a.broker,
                money(a.equity),
                pnl(a.week_pnl),
                pct(a.total_return),
                drawdown(a.max_drawdown),
                ("n/a" if a.hit_rate is None else f"{a.hit_rate:.0%}") + f" ({counted(a.trades, 'trade')})",
                money(a.commissions_usd),
                "n/a" if a.slippage_usd is None else money(a.slippage_usd),
                f"HALTED: {a.breaker_reason}" if a.halted else "ok",
                ", ".join(f"{p.qty:+d} {p.symbol} @ {p.avg_price:.2f}" for p in a.positions) or "-",
            )
            for a in report.accounts
        ],
    )
    held = [(a.account_id, a.week_held) for a in report.accounts if a.week_held]
    if held:
        out.table("weeks held back by the weekly run (figures above are last week's)", ["account", "why"], held)
    waiting = [(a.account_id, o) for a in report.accounts for o in a.open_orders]
    if waiting:
        out.table(
            "orders not filled yet (positions above change when they fill: at the open, or at the close of a session "
            "priced at its open)",
            ["account", "side", "qty", "symbol", "sent (New York)", "client_order_id"],
            [
                (
                    account,
                    o.side.value,
                    o.qty,
                    o.symbol,
                    market_time(o.submitted_at) if o.submitted_at else "-",
                    o.client_order_id,
                )
                for account, o in waiting
            ],
        )
    differences = [(a.account_id, line) for a in report.accounts for line in a.differences]
    if differences:
        out.table(
            "broker differences (left alone unless adopted: `llmtrade positions adopt ACCOUNT SYMBOL`)",
            ["account", "kind", "symbol", "detail", "recorded (New York)"],
            [
                (
                    account,
                    d.difference.kind,
                    d.difference.symbol,
                    d.difference.detail,
                    market_time(d.recorded_at) if d.recorded_at else "not yet",
                )
                for account, d in differences
            ],
        )
    out.table(
        "last runs",
        ["command", "at (New York)", "mode", "outcome", "degraded"],
        [
            (
                command,
                market_time(r.at),
                r.mode,
                # "killed" (--json: the RunKilled's name) is the error's own wording: killed, or lost its database.
                r.error if r.outcome == "killed" and r.error else r.outcome + (f": {r.error}" if r.error else ""),
                "yes" if r.degraded else "no",
            )
            for command, r in sorted(report.last_runs.items())
        ],
    )
    if report.event_checkpoints:
        out.table(
            "event checkpoints this week (a price move since the last checkpoint)",
            ["job", "symbol", "move", "from", "to", "state"],
            [
                (
                    e.job,
                    e.symbol,
                    pct(e.move),
                    f"{e.reference_price:.2f} at {market_time(e.reference_at)}",
                    f"{e.price:.2f} at {market_time(e.price_at)}",
                    "done" if e.completed else "not finished (run-due resumes it while its session is open)",
                )
                for e in report.event_checkpoints
            ],
        )
    if report.closings_put_off:
        out.table(
            "checkpoints past their deadline, not closed yet (run-due's closing put off; the next one closes them)",
            ["job", "why", "at"],
            [(c.job, c.reason, market_time(c.at)) for c in report.closings_put_off],
        )
    if report.checkpoints_missed:
        missed = ", ".join(report.checkpoints_missed)
        out.pairs([("checkpoints never run, this week and last (no run began in their time)", missed)])
    if report.jobs_not_done:
        out.table(
            "job commands that failed with no run to record it, or did not run their job, this week and last",
            ["at (New York)", "what", "command or job", "why", "event"],
            [
                (
                    market_time(j.at) if j.exact else f"after {market_time(j.at)}",
                    _NOT_DONE.get(j.kind, j.kind),
                    j.command,
                    j.why,
                    "not recorded yet" if j.event_id is None else str(j.event_id),
                )
                for j in report.jobs_not_done
            ],
        )
    if report.alerts_not_delivered:
        out.table(
            "alerts that reached no one (owed: the next job command retries it; given up, or to an unusable URL: never "
            "sent)",
            ["state", "alert", "to", "since (New York)", "attempts", "last error"],
            [
                (a.state, a.alert or "-", a.target, market_time(a.since), str(a.attempts), a.error)
                for a in report.alerts_not_delivered
            ],
        )
    if report.weeks_not_run:
        weeks = ", ".join(str(week) for week in report.weeks_not_run)
        out.pairs([("weeks never run (skipped whole: weekly run, checkpoints, postmortem)", weeks)])
    week, total = report.usage.this_week, report.usage.to_date
    out.pairs(
        [
            ("model calls this week", calls_text(week.calls, week.rules_answers, week.cost_usd) + _billed(week)),
            ("model calls to date", calls_text(total.calls, total.rules_answers, total.cost_usd) + _billed(total)),
            # The leaderboard's SPY row, over the closes this status values at: said, as its costs are in it.
            ("SPY since the first run (as the leaderboard's SPY: slippage paid)", pct(report.spy_return_since_start)),
            ("how the accounts compare", COMPARE),
        ]
    )


# What each kind of `jobs_not_done` line is, as the table says it (the event's type is in --json).
_NOT_DONE = {
    "CommandFailed": "failed on a lost database",
    "DueJobNotRun": "due, not begun: its session closed",
    "ConfigRejected": "refused: the configuration",
    "ClockBehindRefused": "refused: clock behind the books",
    "ClockSkewRefused": "refused: clock off the database's",
    "EventChecksDeferred": "put off: another run held the week",
}


def _billed(usage: UsageSum) -> str:
    """What the cost beside the calls holds besides their answers, and what it cannot hold."""
    failed = counted(usage.failed_calls, "failed call's", "failed calls'")
    said = f"; with {failed} billed tokens in the cost" if usage.failed_calls else ""
    if usage.unknown_cost_calls:
        said += f"; cost unknown for {counted(usage.unknown_cost_calls, 'call')}"
    return said
