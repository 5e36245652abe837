"""When jobs fire and running what is due: schedule show/crontab, run-due."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmtrade.commands.context import Reads, container, echo_json, job, state
from llmtrade.commands.options import Json, Offline
from llmtrade.console import Output, print_error, quiet
from llmtrade.domain.wording import market_time
from llmtrade.exits import TEMPORARY, classify, one_line

if TYPE_CHECKING:
    from datetime import datetime

    from llmtrade.app.results import RunDueResult
    from llmtrade.config.models import Config

schedule_app = typer.Typer(help="When the weekly run, checkpoints and postmortem fire.", no_args_is_help=True)


@schedule_app.command("show", cls=Reads)
def schedule_show(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("--count", min=1, max=200, help="How many fire times.")] = 12,
    as_json: Json = False,
) -> None:
    """The next fire times of the weekly run, checkpoints and postmortem, in New York and local time."""
    from llmtrade.app.housekeeping import schedule_view  # lazy: see package docstring

    app = container(ctx)
    view = schedule_view(app, count)
    if as_json:
        echo_json(view)
        return
    out = Output()
    out.table(
        "next fire times (weekends and NYSE holidays skipped)",
        ["kind", "week", "New York", "local"],
        [(f.kind, f.week_id, f.new_york, f.local) for f in view.root],
    )
    event = app.loaded.config.schedule.event_checkpoint
    if event.threshold:
        out.line(
            f"plus an event checkpoint (run by run-due) for an account whose instrument moves more than "
            f"{event.threshold:.2%} since its last checkpoint, at most once every {event.min_interval_minutes} "
            "minutes per account; `status` lists the ones fired this week"
        )


@schedule_app.command("crontab", cls=Reads)
def schedule_crontab(
    ctx: typer.Context,
    every: Annotated[
        str,
        typer.Option("--every", metavar="MINUTES", help="Time between run-due wake-ups: minutes (5, 5m, 5min) or 1h."),
    ] = "5",
    log: Annotated[str, typer.Option("--log", help="Where cron's output goes.")] = "~/llmtrade-cron.log",
) -> None:
    """Crontab lines that drive everything through `llmtrade run-due`, with what this shell has and cron would not:
    the folder of the `.env` here, the config folder, LLMTRADE_HOME. Prints only: it opens no database, and a refused
    --every is said in one line (exit 2), not recorded."""
    # Why a refusal here is not an event, unlike a job's or a hand-made change's: this is run by a person at a shell,
    # once, to get lines to paste (cron never runs it), and its error is on their screen as they type. Recording it
    # would open the books for a command that has no side effects: start an embedded server in a home that may have
    # none yet, or wait on a DATABASE_URL that is not reachable, all before saying the typo. Nothing reaches a cron
    # user either way: a crontab that was refused was never installed.
    import os  # lazy: see package docstring
    import shutil
    import sys

    from llmtrade.errors import UsageError
    from llmtrade.workflows.crontab import crontab_lines

    root = state(ctx)
    config = root.config().config
    minutes = every_minutes(every)
    _require_every_checkpoint_reached(config, minutes, root.clock().now(), written=every)
    executable = shutil.which("llmtrade") or str(Path(sys.executable).parent / "llmtrade")
    try:
        lines = crontab_lines(
            executable,
            every_minutes=minutes,
            log=log,
            workdir=Path.cwd() if Path(".env").is_file() else None,
            config_dir=root.config_dir.resolve() if root.config_dir is not None else None,
            home=root.settings.home.resolve() if os.environ.get("LLMTRADE_HOME") else None,
        )
    except ValueError as exc:  # lines cron would run broken every few minutes: said now, none printed
        raise UsageError(f"schedule crontab: {exc}") from None
    lost = _lost_in_cron(config)
    if lost:
        # Names only: a secret never goes into the crontab, nor onto the screen.
        note = (
            f"{', '.join(lost)}: set in this shell but not in {Path.cwd() / '.env'}, so cron will not have them (no "
            "DATABASE_URL: another, embedded database; no key: an offline run); put them in that .env and run "
            "`llmtrade schedule crontab` again here"
        )
        lines.insert(-1, f"# {note}")
        Output(stream=sys.stderr).warning(f"warning: {note}")
        from llmtrade.domain.tracing import log_warning  # lazy: see package docstring

        log_warning(f"warning: {note}")  # kept in the log file, as every warning said on stderr is (README)
    for line in lines:
        typer.echo(line)


# "5", "5m", "5 min", "5minutes", "1h", "1 hour": how an interval is usually written (cron's own unit is the minute).
_EVERY = re.compile(r"(\d+)\s*(m|mins?|minutes?|h|hrs?|hours?)?", re.IGNORECASE)


def every_minutes(written: str) -> int:
    """The minutes of a `--every` as written: whole minutes from 1 to 59, bare or with a minute unit, or 1h (cron
    wakes at minute 0 of each hour). UsageError naming what to write otherwise: a typer int option refused "5m" with
    "not a valid integer", never saying the unit was the trouble."""
    from llmtrade.errors import UsageError  # lazy: see package docstring

    found = _EVERY.fullmatch(written.strip())
    if found is not None:
        number, unit = int(found.group(1)), (found.group(2) or "m").lower()
        minutes = number * 60 if unit.startswith("h") else number
        if 1 <= minutes <= 59 or minutes == 60:
            return minutes
    raise UsageError(
        f"--every {written}: write minutes from 1 to 59 (5, 5m or 5min) or 1h (cron wakes at most once a minute, "
        "and run-due must wake at least once an hour)"
    )


def _require_every_checkpoint_reached(config: Config, every: int, now: datetime, *, written: str = "") -> None:
    """Refuse an interval whose wake-ups would never run a checkpoint (--every 15 and the 15:50 one, say), naming it
    and the longest interval up to `every` that runs them all."""
    from llmtrade.errors import UsageError  # lazy: see package docstring
    from llmtrade.market.calendar import TradingCalendar, new_york_date
    from llmtrade.workflows.crontab import missed_checkpoints

    calendar, start = TradingCalendar(), new_york_date(now)
    missed = missed_checkpoints(config.schedule, calendar, every, start)
    if not missed:
        return
    # A divisor of 60 keeps the wake-ups evenly spaced across the hour (*/7 wakes at :56 and again at :00).
    works = next(
        n
        for n in (30, 20, 15, 12, 10, 6, 5, 4, 3, 2, 1)
        if n <= every and not missed_checkpoints(config.schedule, calendar, n, start)
    )
    said = "; ".join(f"none from {at} until {end}, so the {at} checkpoint would never run" for at, end in missed)
    wakes = [str(m) for m in range(0, 60, every)]
    raise UsageError(
        f"--every {written or every}: cron would wake at minute{'s' if len(wakes) > 1 else ''} {', '.join(wakes)} of "
        f"each hour, {said}; use --every {works}"
    )


def _lost_in_cron(config: Config) -> list[str]:
    """The settings and key variables this shell has and cron would not: set in the environment, not in the `.env`
    the line reads (LLMTRADE_HOME and the config folder are written into the lines; LLMTRADE_NOW is a drill's)."""
    import os  # lazy: see package docstring

    from dotenv import dotenv_values

    from llmtrade.app.housekeeping import key_variables
    from llmtrade.settings import Settings

    written = {"LLMTRADE_HOME", "LLMTRADE_CONFIG_DIR", "LLMTRADE_NOW"}
    names = {f.alias for f in Settings.model_fields.values() if f.alias} - written | key_variables(config)
    kept = dotenv_values(".env") if Path(".env").is_file() else {}
    return sorted(n for n in names if (os.environ.get(n) or "").strip() and not (kept.get(n) or "").strip())


def run_due(ctx: typer.Context, offline: Offline = False, as_json: Json = False) -> None:
    """Run whatever is due and not yet done (postmortem, weekly run, checkpoint), and nothing else."""
    from llmtrade.app import due_run  # lazy: see package docstring
    from llmtrade.app.clock_guard import ClockRefused

    try:
        with job(ctx, offline=offline, silence=True) as app:  # run-due also notices a cron that stopped succeeding
            wake = due_run.run_due(app)
    except ClockRefused as refused:
        # A clock behind the books, or away from the database server's, refuses every 5-minute wake-up: under --quiet
        # it is said once per latest record or skew (its ClockBehindRefused or ClockSkewRefused is on record then),
        # still exit 75, so cron mails it once, not every wake-up.
        if quiet() and refused.said_before:
            raise typer.Exit(TEMPORARY) from None
        raise
    # What ran is said first; then a piece left waiting makes the wake-up's exit 75, with its one line, unless under
    # --quiet an earlier wake-up said every wait already (app/due_waits.py): cron mails once per problem.
    _said(wake.results, as_json, waiting=bool(wake.waits.waiting or wake.waits.failed))
    if quiet() and wake.waits.said_before():
        raise typer.Exit(TEMPORARY)
    for error in wake.waits.unraised():  # the exit is the first failure's; each other problem is said too
        failure = classify(error)
        if failure is None:
            print_error(f"{type(error).__name__}: {error}")
        else:
            print_error(one_line(failure.message), prefix="waiting: " if failure.waiting else "error: ")
    wake.waits.raise_all()


def _said(results: RunDueResult, as_json: bool, *, waiting: bool = False) -> None:
    """What ran; `waiting`: a piece waits or failed (its line follows), so an empty wake-up is not "nothing is due"
    (a run-due losing a race said `due: weekly`, then that, then the lock's error)."""
    from llmtrade.app.results import CheckpointResult, PostmortemResult
    from llmtrade.commands.render.week import degraded

    if as_json:
        echo_json(results)
        return
    out = Output()
    if not results.root and not waiting:
        out.line("nothing is due")
    for result in results.root:
        why = result.trigger
        out.line(
            f"ran {result.job}"
            + (
                f" ({why.symbol} {why.move:+.2%}: {why.reference_price:.2f} at {market_time(why.reference_at)}"
                f" -> {why.price:.2f} at {market_time(why.price_at)})"
                if why
                else ""
            )
        )
        # A postmortem warns of each reflection it stores as missing itself (`postmortem` alone prints no DEGRADED):
        # said again here, each came twice (review S).
        notes = [] if isinstance(result.report, PostmortemResult) else degraded(result.report)
        for note in notes:
            out.warning(f"{result.job} DEGRADED: {note}")
        # The week's trade judged, or its reflection written, by the model that made it, models.yaml naming another now:
        # said as `checkpoint` and `postmortem` say it, where a run-due mail had only "ran ...".
        kept = result.report.models_kept if isinstance(result.report, (CheckpointResult, PostmortemResult)) else []
        for note in kept:
            out.line(f"{result.job} MODEL KEPT: {note}")


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")
    app.command("run-due")(run_due)
