"""The backtest report: what ran, the leaderboard at the end, the look-ahead audit, the time taken."""

from __future__ import annotations

from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.commands.render.common import calls_text
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output


def print_backtest(out: Output, report: BacktestResult) -> None:
    out.heading(f"backtest {report.name}: weeks {report.start}..{report.end}, {report.mode} mode")
    out.pairs(
        [
            ("database", report.database),
            ("prices", report.prices),
            ("weeks", f"{report.weeks_run} run now, {report.weeks_done_before} done before, {report.weeks} in range"),
            ("jobs", ", ".join(f"{n} {kind}" for kind, n in report.jobs.items()) or "none"),
            ("model calls", calls_text(report.llm_calls, report.rules_answers)),
            ("degraded runs", report.degraded_runs),
        ]
    )
    print_leaderboard(out, report.leaderboard)
    if report.audit:
        out.table(
            "look-ahead audit (cut-off rerun against the real run)",
            [
                "week",
                "result",
                "answers (model or rules)",
                "checkpoints audited",
                "postmortem audited",
                "first difference",
            ],
            [
                (
                    a.week_id,
                    "pass" if a.passed else "FAIL",
                    a.calls,
                    "none (market not cut inside a session)" if a.checkpoints is None else a.checkpoints,
                    "yes" if a.postmortem else "no",
                    "" if a.passed else f"{a.role} line {a.line}",
                )
                for a in report.audit
            ],
        )
    t = report.timing
    per_week = f", {t.seconds_per_week:.2f} s per week" if t.seconds_per_week is not None else ""
    # By kind only when something ran now: a finished backtest run again ended its line with "; ", before nothing.
    kinds = ", ".join(f"{k} {v:.1f} s" for k, v in t.by_kind.items())
    out.line(f"time: {t.seconds:.1f} s{per_week}" + (f"; {kinds}" if kinds else ""))
