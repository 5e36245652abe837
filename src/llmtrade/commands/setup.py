"""Setting up and looking inside: init, config, db (`events` is commands/events.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmtrade.commands.context import Reads, container, echo_json, state, warn
from llmtrade.commands.options import Json, given_path
from llmtrade.config_errors import ConfigError
from llmtrade.console import Output
from llmtrade.domain.wording import MARKET_ZONE
from llmtrade.errors import UsageError

if TYPE_CHECKING:
    from llmtrade.config.models import AssetsConfig
    from llmtrade.settings import Settings

config_app = typer.Typer(help="Show and check the YAML configuration.", no_args_is_help=True)
db_app = typer.Typer(
    help="The PostgreSQL database: where it is, migrations, the embedded server.", no_args_is_help=True
)


def init(
    directory: Annotated[
        Path, typer.Argument(help="Folder to write the YAML files into.", parser=given_path, metavar="DIRECTORY")
    ] = Path("llmtrade-config"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that already exist.")] = False,
) -> None:
    """Write editable copies of the default configuration."""
    from llmtrade.config.loader import write_defaults  # lazy: see package docstring

    written = write_defaults(directory, overwrite=force)
    out = Output()
    for path in written:
        out.line(f"wrote {path}")
    out.line(f"use it with: export LLMTRADE_CONFIG_DIR={directory.resolve()}  (or --config {directory})")


@config_app.command("validate", cls=Reads)
def config_validate(ctx: typer.Context) -> None:
    """Check the configuration and any prompt overrides; exits 2 and names every problem when invalid."""
    from llmtrade.alerts.send import unusable, urls_from
    from llmtrade.app.session import prompts_dir  # lazy: see package docstring
    from llmtrade.llm.providers import unset_keys
    from llmtrade.market.providers import providers_refused
    from llmtrade.prompts.renderer import PromptRenderer

    root = state(ctx)
    errors: list[ConfigError] = []
    notes: list[str] = []
    try:
        loaded = root.config()
    except ConfigError as exc:
        errors.append(exc)
    overrides = prompts_dir(root.settings, root.config_dir)
    drift: tuple[str, ...] = ()  # what an override leaves out of its packaged template's prompt: said, not refused
    try:
        drift = PromptRenderer(overrides).drift  # reads and parses every override template
    except ConfigError as exc:
        errors.append(exc)
    if not errors and (market := providers_refused(container(ctx))) is not None:
        errors.append(market)  # what every job that prices refuses (exit 2)
    if not errors and (prices := _price_files(loaded.config.assets, root.settings)) is not None:
        errors.append(prices)  # what the next run would stop on, "a configuration to mend" (exit 2): said now
    if root.settings.alert_urls and (bad := unusable(urls_from(root.settings.alert_urls))):
        # An alert URL that can never send was found at the first incident: when it was needed.
        message = f"{', '.join(bad)}: no URL apprise can send to (apprise's list of services gives each one's form)"
        errors.append(ConfigError("the environment (LLMTRADE_ALERT_URLS)", message=message))
    if not errors:
        # The files hold: now what every job checks them against in the books (a starting_cash changed under an
        # account's books), or an OK here is one the next job takes back (exit 2).
        books, notes = _against_books(ctx)
        errors += books
        notes += _session_prices(ctx) + _unfinished_rows(loaded.config.assets, root.settings)
    if errors:
        raise ConfigError.combine(errors)
    out = Output()
    out.line(f"configuration OK ({loaded.source})" + (f"; prompt overrides from {overrides}" if overrides else ""))
    for note in [*drift, *notes]:
        warn(note)
    until = loaded.config.schedule.retry_until
    out.line(
        "temporary model failures are retried "
        + (f"for {until} minutes after a job's time" if not isinstance(until, str) else "until the next scheduled job")
        + " (schedule.yaml retry_until), then the job goes on without them"
    )
    event = loaded.config.schedule.event_checkpoint
    if event.threshold:
        move = f"{event.threshold:.2%}".replace(".00%", "%")
        out.line(
            f"run-due adds an event checkpoint when an instrument moves more than {move} since its last "
            f"checkpoint, at most once per account every {event.min_interval_minutes} minutes "
            "(schedule.yaml event_checkpoint)"
        )
    else:
        out.line("event checkpoints are off (schedule.yaml event_checkpoint.threshold is 0 or null)")
    # Not a config error (the first run works offline without keys), but a misspelt api_key_env is found here, not
    # by a week run offline (a new user's trial).
    for unset in unset_keys(loaded.config.models, root.settings):
        out.line(f"models.yaml api_key_env {unset} is not set: runs are offline (rules provider) until it is")
    # Valid (a backtest's clock may be years before it), but a year mistyped was taken as given (a trial's 2034).
    today = root.clock().now().astimezone(MARKET_ZONE).date()
    for where, ref in loaded.config.models.model_refs():
        if ref.knowledge_cutoff is not None and ref.knowledge_cutoff > today:
            warn(
                f"models.yaml {where}.knowledge_cutoff {ref.knowledge_cutoff} is after today ({today}): the leaderboard"
                " counts every week up to it as one the model may have read about; is the year mistyped?"
            )


def _price_files(assets: AssetsConfig, settings: Settings) -> ConfigError | None:
    """The CSV folder's files a run reads (the universe's and the benchmark's) that every read of them refuses
    (market/csv_checks.py), as one error naming each file and line; None when there is no folder or they read."""
    from llmtrade.config.models import BENCHMARK
    from llmtrade.market.csv_checks import folder_problems
    from llmtrade.market.providers import csv_dir, csv_dir_from

    folder = csv_dir(assets, settings)
    if folder is None or not folder.is_dir():  # none set, or gone: the files' checks above said so
        return None
    said = folder_problems(folder, sorted({*assets.symbols, BENCHMARK}), csv_dir_from(settings))
    if not said:
        return None
    message = "its files are refused by every run that reads them:\n" + "\n".join(said)
    return ConfigError(f"csv folder {folder} ({csv_dir_from(settings)})", message=message)


def _unfinished_rows(assets: AssetsConfig, settings: Settings) -> list[str]:
    """What the CSV folder's files say of rows written before their session closed (market/csv_checks.py)."""
    from llmtrade.config.models import BENCHMARK
    from llmtrade.market.csv_checks import unfinished_note
    from llmtrade.market.providers import csv_dir

    folder = csv_dir(assets, settings)
    if folder is None or not folder.is_dir():
        return []
    return list(filter(None, [unfinished_note(folder, sorted({*assets.symbols, BENCHMARK}))]))


def _against_books(ctx: typer.Context) -> tuple[list[ConfigError], list[str]]:
    """The books' refusals of the configuration (app/config_books.py: what each job checks before it runs) and what
    else they say of it; with no books to read, what was not checked and why, as a note: never a silent OK."""
    from llmtrade.app.config_books import CHECKED, books_errors, books_notes, keys_errors  # lazy: see package docstring
    from llmtrade.errors import LlmtradeError

    settings = state(ctx).settings
    app = container(ctx)
    if settings.database_url is None and not settings.pgdata.exists():
        # A new home's first `config validate` (README's quick start) would make and start a server for no books; its
        # first job trades as this invocation would.
        note = f"no books yet in {settings.home}: {CHECKED} is checked by the first job that has them"
        return keys_errors(app, live=app.live), [note]
    try:
        with app.storage(persist=False) as storage:
            return books_errors(app, storage.events), books_notes(app, storage.events)
    except LlmtradeError as exc:  # the database gone (exit 75) or refused (exit 2): the files were still checked
        reason = " ".join(str(exc).split())
        return [], [f"not checked against the books ({CHECKED}): {reason}; every job checks it before it runs"]


def _session_prices(ctx: typer.Context) -> list[str]:
    """What the prices set say of the in-session checkpoints (app/session_prices.py), books or none."""
    from llmtrade.app.session_prices import session_prices_note  # lazy: see package docstring

    return list(filter(None, [session_prices_note(container(ctx))]))


@config_app.command("show", cls=Reads)
def config_show(ctx: typer.Context, as_json: Json = False) -> None:
    """Print the resolved configuration and which secrets are set (values masked)."""
    from llmtrade.app.housekeeping import config_view  # lazy: see package docstring

    view = config_view(container(ctx))
    if as_json:
        echo_json(view)
        return
    import yaml  # lazy: only this command prints YAML

    out = Output()
    out.heading(f"configuration from {view.source}")
    for section, values in view.config.items():
        out.line(f"# {section}.yaml")
        out.line(yaml.safe_dump(values, sort_keys=False, width=110).rstrip())
    out.table("environment", ["variable", "value"], sorted(view.environment.items()))


@db_app.command("status", cls=Reads)
def db_status(ctx: typer.Context, as_json: Json = False) -> None:
    """Where the database is, which migrations ran, how many events it holds."""
    from llmtrade.app.housekeeping import database_status  # lazy: see package docstring

    found = database_status(container(ctx))
    if as_json:
        echo_json(found)
        return
    out = Output()
    if not found.running:
        out.pairs([("database", found.database), ("server", "stopped")])
        out.line("the next command that reads or writes the books starts it (this status does not)")
        return
    out.pairs(
        [
            ("database", found.database),
            ("connect with", found.connect),
            ("migrations applied now", ", ".join(f"{n:04d}" for n in found.applied_now) or "none"),
            ("events", found.events),
        ]
    )
    for setting in found.awaiting_restart:
        # Never applied by restarting a server behind the user's back: say how.
        how = "`llmtrade db stop`; the next command starts it" if found.embedded else "restart the server"
        out.line(f"{setting.name} is {setting.running} now, {setting.next_start} once the server restarts ({how})")
    out.table(
        "migrations",
        ["number", "name", "applied at"],
        [(f"{m.number:04d}", m.name, m.applied_at) for m in found.migrations or []],
    )


@db_app.command("migrate")
def db_migrate(ctx: typer.Context) -> None:
    """Apply any migrations not yet applied (every command also does this on start)."""
    with state(ctx).storage() as storage:
        applied = storage.migrated_now
        Output().line(
            "applied " + ", ".join(f"{m.number:04d}_{m.name}" for m in applied) if applied else "already up to date"
        )


@db_app.command("stop")
def db_stop(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Stop it even while other sessions (a running command) use it.")
    ] = False,
) -> None:
    """Stop the embedded PostgreSQL server (the next command starts it again); one in use is left running."""
    from llmtrade.storage.database import stop_embedded  # lazy: see package docstring

    settings = state(ctx).settings
    if settings.database_url:
        raise UsageError("DATABASE_URL is set: llmtrade does not manage that server")
    stopped = stop_embedded(settings.pgdata, force=force)
    Output().line(
        f"stopped the embedded server in {settings.pgdata}" if stopped else "the embedded server is not running"
    )


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.add_typer(config_app, name="config")
    app.add_typer(db_app, name="db")
