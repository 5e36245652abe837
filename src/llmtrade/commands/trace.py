"""`llmtrade trace RUN_ID`: one run as a timeline, read from the database alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from llmtrade.commands.context import Reads, echo_json, read_books
from llmtrade.commands.options import Backtest, Json
from llmtrade.console import Output

if TYPE_CHECKING:
    from llmtrade.observe.timeline import RunTrace, TraceEntry


def trace(
    ctx: typer.Context,
    run_id: Annotated[
        str,
        typer.Argument(
            help=(
                "The run's id, e.g. 20260107T130000Z-3f9a1c: `llmtrade events --type RunStarted` lists every run "
                "(its id after run: in the stream column), `llmtrade status --json` each command's last run."
            )
        ),
    ],
    backtest: Backtest = None,
    as_json: Json = False,
) -> None:
    """Show a run as a timeline: stages with durations, model calls with latency, tokens and cost, orders,
    fills and failures."""
    from llmtrade.observe.timeline import trace_run  # lazy: see package docstring

    with read_books(ctx, backtest) as storage:
        found = trace_run(storage.events, run_id, backtest=backtest)
    if as_json:
        echo_json(found)
    else:
        print_trace(Output(), found)


def print_trace(out: Output, run: RunTrace) -> None:
    from llmtrade.commands.render.common import calls_text, counted  # lazy: see package docstring
    from llmtrade.domain.wording import market_time

    # What is known, or plainly that it is not: a killed run's heading read "killed, ?".
    what = f"{run.command}, {run.mode}" if run.command else "no RunStarted on record: its command is not known"
    out.heading(f"run {run.run_id} ({what}): {_ended(run)}")
    out.pairs(
        [
            ("trace id", run.trace_id),
            ("started (New York)", market_time(run.started_at)),
            ("model calls", calls_text(run.model_calls, run.rules_answers)),
            ("tokens", f"{run.prompt_tokens} in / {run.completion_tokens} out"),
            (
                "cost",
                f"${run.cost_usd:.4f}"
                + (f" (cost unknown for {counted(n, 'call')})" if (n := run.unknown_cost_calls) else ""),
            ),
            ("orders / fills", f"{run.orders} / {run.fills}"),
            ("failures", run.failures),
        ]
    )
    out.table(
        "stages",
        ["stage", "outcome", "seconds", "model calls", "rules answers", "cost"],
        [
            (
                s.name,
                s.outcome,
                "" if s.duration_ms is None else f"{s.duration_ms / 1000:.2f}",
                s.model_calls,
                s.rules_answers,
                f"${s.cost_usd:.4f}",
            )
            for s in run.stages
        ],
    )
    out.table(
        "timeline",
        ["+s", "kind", "what", "stage", "account", "ms", "model", "tokens", "cost", "detail"],
        [
            (
                f"{e.offset_ms / 1000:.2f}",
                e.kind,
                e.name,
                e.stage or "",
                e.account or "",
                "" if e.duration_ms is None else f"{e.duration_ms:.0f}",
                _model(e),
                "" if e.prompt_tokens is None else f"{e.prompt_tokens}+{e.completion_tokens or 0}",
                "" if e.cost_usd is None else f"${e.cost_usd:.4f}",
                e.detail,
            )
            for e in run.entries
        ],
    )
    if run.other_events:
        out.line("other events: " + ", ".join(f"{name} x{n}" for name, n in run.other_events.items()))


def _ended(run: RunTrace) -> str:
    """How the run ended and how long it took, or what is known of a run with no end of its own."""
    from llmtrade.domain.wording import market_time  # lazy: see package docstring

    if run.duration_ms is not None:
        return f"{run.status}, {run.duration_ms / 1000:.1f} s"
    if run.last_alive_at is None:
        return f"{run.status}, its duration not recorded"
    after = (run.last_alive_at - run.started_at).total_seconds()
    open_stages = [s.name for s in run.stages if s.outcome == "unfinished"]
    where = f", in stage {', '.join(open_stages)}" if open_stages else ""
    known = f"({run.last_event_type}, {after:.1f} s after its start{where})"
    if run.status == "killed":
        return (
            f"killed (or lost its database): last alive at {market_time(run.last_alive_at)} {known}; when it stopped "
            "is not known"
        )
    return (
        f"no end recorded (still running, or killed and not yet found): its last event at "
        f"{market_time(run.last_alive_at)} {known}"
    )


def _model(entry: TraceEntry) -> str:
    """The model column: an offline rules answer is no model's (a trial read the rules' answers under model names)."""
    if entry.kind == "rules_answer":
        return f"rules, in place of {entry.model}" if entry.model else "rules"
    return entry.model or ""


def register(app: typer.Typer) -> None:
    app.command(cls=Reads)(trace)
