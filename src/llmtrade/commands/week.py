"""The week's jobs: run-weekly, checkpoint, postmortem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from llmtrade.commands.context import echo_json, job
from llmtrade.commands.options import DryRun, Json, Offline, PastWeek, Replay, Week, parse_date, parse_time
from llmtrade.console import Output, print_error
from llmtrade.console import quiet as silent


def run_weekly(
    ctx: typer.Context,
    week: Week = None,
    dry_run: DryRun = False,
    offline: Offline = False,
    replay: Replay = False,
    as_json: Json = False,
) -> None:
    """The week's committee: research, pitches, anonymous peer review, chairman, risk gate, orders."""
    from llmtrade.app import jobs  # lazy: see package docstring
    from llmtrade.commands.render.week import print_weekly

    with job(ctx, offline=offline, replay=replay, alerts=not dry_run, writes=not dry_run) as app:
        result = jobs.run_weekly(
            app, week=parse_date(week), dry_run=dry_run, observer=lambda calls: _progress(as_json, calls)
        )
    if as_json:
        echo_json(result)
    else:
        print_weekly(Output(), result)


def checkpoint(
    ctx: typer.Context,
    time: Annotated[str, typer.Argument(help="A configured checkpoint time, e.g. 9:00 or 12:00 (New York).")],
    week: Week = None,
    dry_run: DryRun = False,
    offline: Offline = False,
    replay: Replay = False,
    as_json: Json = False,
) -> None:
    """Every account holding a position re-judges it from the week's frozen inputs: STAY, EXIT, FLIP, REDUCE."""
    from llmtrade.app import jobs  # lazy: see package docstring
    from llmtrade.commands.render.week import print_checkpoint

    with job(ctx, offline=offline, replay=replay, alerts=not dry_run, writes=not dry_run) as app:
        result = jobs.checkpoint(app, parse_time(time, "checkpoint TIME"), week=parse_date(week), dry_run=dry_run)
    if as_json:
        echo_json(result)
    else:
        print_checkpoint(Output(), result)


def postmortem(
    ctx: typer.Context, week: PastWeek = None, offline: Offline = False, replay: Replay = False, as_json: Json = False
) -> None:
    """Score a finished week per account: P/L, the thesis against what happened, frozen indicators, reflections."""
    from llmtrade.app import jobs  # lazy: see package docstring
    from llmtrade.commands.render.week import print_postmortem

    with job(ctx, offline=offline, replay=replay) as app:
        result = jobs.run_postmortem(app, week=parse_date(week))
    if as_json:
        echo_json(result)
    else:
        print_postmortem(Output(), result)


def _progress(quiet: bool, calls: Callable[[], int]) -> Callable[[str, str, float | None], None]:
    """Stage-by-stage progress on stderr (stdout keeps only the report), with the requests each stage sent."""
    from llmtrade.pipeline.pipeline import WAITED  # lazy: see package docstring

    seen = {"calls": 0}

    def observe(stage: str, state: str, seconds: float | None) -> None:
        made = calls() - seen["calls"]
        seen["calls"] = calls()
        if (quiet or silent()) and state not in ("failed", WAITED):
            return
        text = f"{stage}: {state}"
        if seconds is not None:
            text += f" in {seconds:.2f} s" + (f" ({made} model requests)" if made else "")
        print_error(text, prefix="  ")

    return observe


def register(app: typer.Typer) -> None:
    app.command("run-weekly")(run_weekly)
    app.command()(checkpoint)
    app.command()(postmortem)
