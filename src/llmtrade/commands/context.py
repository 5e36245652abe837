"""What the root options chose, and the application container a command runs in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand

from llmtrade.console import json_shown, print_error, quiet

if TYPE_CHECKING:
    from contextvars import Token

    from llmtrade.app.container import Container
    from llmtrade.clock import Clock
    from llmtrade.config.loader import LoadedConfig
    from llmtrade.observe.logs import Logging
    from llmtrade.settings import Settings
    from llmtrade.storage.bootstrap import Storage


class State:
    """The root options, shared with subcommands through click's context object."""

    def __init__(self, config_dir: Path | None):
        self.config_dir_option = config_dir
        self._settings: Settings | None = None
        # How many databases this process had opened before the command: the metrics are written after a
        # command that opened one (commands/metrics.py), and only then.
        self.opened_before = 0
        self.logging: Logging | None = None  # the command's log handlers (observe/logs.py), closed after it
        self.runs_before = 0  # how many runs this process had to export before the command (OTel exports the rest)
        self.quiet: Token[bool] | None = None  # --quiet's setting (console.py), put back after the command
        self.writes = True  # False while a command declared `Reads` runs: a stop then says nothing was changed
        # The job command that writes (not a dry run) this is, once `job` began it: its database failure no run
        # recorded is left for the next job command to record (commands/unrecorded.py).
        self.job: str | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from llmtrade.domain.tracing import log_warning
            from llmtrade.settings import load_settings, unknown_variables  # lazy: pydantic-settings costs ~0.1 s

            self._settings = load_settings()
            for line in unknown_variables():  # a misspelt variable would otherwise leave its default in force unsaid
                warn(line)
                # Kept in the log file as every warning is (README): these are said while the log file may still be
                # finding LLMTRADE_HOME from these settings, which observe/logs.py _LazyFile allows for.
                log_warning(line)
        return self._settings

    def log_home(self) -> Path:
        """LLMTRADE_HOME, for the log file: with a setting refused, the other settings' (a job records the refusal with
        them, app/alerting.py `settings_unusable`, and logs it), unless it is the home itself or places the books."""
        from llmtrade.settings import SettingsRejected, settings_besides

        try:
            return self.settings.home
        except SettingsRejected as exc:
            besides = settings_besides(exc)
            if isinstance(besides, str):
                raise
            return besides.home

    @property
    def config_dir(self) -> Path | None:
        return self.config_dir_option or self.settings.config_dir

    def config(self, *, csv_given: bool = False) -> LoadedConfig:
        """The configuration, checked against this command's environment. `csv_given`: the command was given its
        CSV folder (--csv), so assets.yaml's csv_dir is not read, nor checked."""
        from llmtrade.config.loader import load_config  # lazy: yaml + pydantic models
        from llmtrade.config.rules import Environment

        elsewhere = csv_given or self.settings.market_csv_dir is not None  # LLMTRADE_MARKET_CSV_DIR wins over it
        return load_config(self.config_dir, environment=Environment(csv_dir_elsewhere=elsewhere))

    def clock(self) -> Clock:
        from llmtrade.clock import make_clock

        return make_clock(self.settings.now)

    def storage(self) -> Storage:
        from llmtrade.storage.bootstrap import open_storage  # lazy: psycopg and the embedded server

        return open_storage(self.settings, self.clock())


class Reads(TyperCommand):
    """A command that only reads (the books, the configuration): where it is registered, `cls=Reads`. Stopped by
    Ctrl-C or SIGTERM it says it stopped and changed nothing (cli.py), not that what finished is stored and the same
    command goes on, which is for a job that writes."""

    def invoke(self, ctx: typer.Context) -> Any:
        root = ctx.find_root().obj
        if isinstance(root, State):
            root.writes = False
        return super().invoke(ctx)


def state(ctx: typer.Context) -> State:
    found = ctx.find_root().obj
    assert isinstance(found, State)
    return found


def say(text: str) -> None:
    """Messages for a person (mode banner, progress) go to stderr: stdout keeps only the result. --quiet drops them."""
    if not quiet():
        print_error(text, prefix="")


def warn(text: str) -> None:
    """What needs a look (a degraded run, a failure the command went on without): stderr, --quiet or not."""
    print_error(text, prefix="")


def container(
    ctx: typer.Context, *, offline: bool = False, replay: bool = False, by_hand: bool | None = None
) -> Container:
    """The invocation's application container: its mode is decided from these flags, once. `by_hand`: a command a
    person waits for, whose reads wait out rate limits a bound in all (Container.by_hand); unset, a command that only
    reads (`Reads`) is one."""
    from llmtrade.app.container import Container  # lazy: see package docstring

    root = state(ctx)
    return Container(
        root.settings,
        root.config(),
        root.clock(),
        root.config_dir,
        say,
        offline=offline,
        replay=replay,
        warn=warn,
        invoked_as=ctx.info_name,
        by_hand=not root.writes if by_hand is None else by_hand,
    )


def recorder(ctx: typer.Context, command: str, *, offline: bool = False, replay: bool = False) -> Container:
    """The container of a command that records the books outside a job (`discover`, a `watchlist` edit, `memory
    rebuild`), refused as a job is on a wrong clock (behind the books, or away from the database server's:
    app/clock_guard.py), alerted: each writes records dated by the clock. Not the kill switch (`trading disable`):
    stopping every order stays possible whatever the clock says."""
    from llmtrade.app.clock_guard import refuse_wrong_clock  # lazy: see package docstring

    app = container(ctx, offline=offline, replay=replay)
    refuse_wrong_clock(app, command)
    return app


@contextmanager
def job(
    ctx: typer.Context,
    *,
    offline: bool = False,
    replay: bool = False,
    alerts: bool = True,
    silence: bool = False,
    writes: bool = True,
) -> Iterator[Container]:
    """A job command's container, its alerts checked once the block ends however it ends (app/alerting.py; `alerts`
    False: a dry run, which records nothing; `silence`: run-due's check for a cron that stopped succeeding). A config
    that cannot be used is recorded (ConfigRejected) and alerted, before its error (exit 2) leaves: no run records
    it, and no other alert would; so is a bad environment setting, where the books can be reached without it. One
    found once the job began (a broken prompt override, read when a job first asks a model) is recorded too, and
    alerted as any failure of a run is (`alerting`). A job that `writes` (not a dry run)
    refuses on a wrong clock (behind the books, or away from the database server's) before anything, alerted there:
    `alerting` is not begun, its incidents keyed by a day the clock has wrong (app/clock_guard.py)."""
    from llmtrade.app.alerting import alerting, settings_unusable, unloadable  # lazy: see package docstring
    from llmtrade.app.clock_guard import refuse_wrong_clock
    from llmtrade.app.config_books import refuse_against_books
    from llmtrade.app.refusals_ended import refusals_ended
    from llmtrade.app.unrecorded_commands import record_left_failures
    from llmtrade.config_errors import ConfigError
    from llmtrade.settings import SettingsRejected

    root = state(ctx)
    if writes:
        root.job = ctx.info_name or "llmtrade"
    try:
        app = container(ctx, offline=offline, replay=replay)
    except ConfigError as exc:
        if alerts:
            unloadable(root.settings, root.clock(), ctx.info_name or "llmtrade", exc, warn)
        raise
    except SettingsRejected as exc:  # a bad environment setting: recorded and alerted as a bad YAML file is
        if alerts:
            settings_unusable(ctx.info_name or "llmtrade", exc, warn)
        raise
    unended = refuse_wrong_clock(app, ctx.info_name or "llmtrade", alert=alerts) if writes else None
    try:
        with alerting(app, silence=silence, enabled=alerts):
            if writes:  # an earlier job command's failure no run recorded (its database lost): on record now
                record_left_failures(app)
            refuse_against_books(app)  # e.g. a starting_cash changed under an account's books would rewrite them
            if unended is not None:  # accepted: a refusal on record before it is over (app/refusals_ended.py)
                refusals_ended(app, ctx.info_name or "llmtrade")
            with _refusals(app, ctx, writes):
                yield app
    except ConfigError as exc:
        if alerts:
            unloadable(root.settings, root.clock(), ctx.info_name or "llmtrade", exc, warn, alert=False)
        raise


# The job commands a person types (run-due, cron's, says its refusals as each job's own).
_TYPED_JOBS = frozenset({"run-weekly", "checkpoint", "postmortem"})


def _refusals(app: Container, ctx: typer.Context, writes: bool) -> AbstractContextManager[None]:
    """A typed job's refusal of its input (exit 2: `checkpoint 25:00`, a --week that is no date or before the calendar,
    a week with no weekly run to review) on record as a CommandRefused, as `positions settle`'s are: a new user's
    trial found such a refusal said on the terminal only, nothing in the books saying the checkpoint was asked for.
    Not for a dry run, which records nothing."""
    from llmtrade.app.command_refusals import refusals_recorded  # lazy: see package docstring

    name = ctx.info_name or "llmtrade"
    if not writes or name not in _TYPED_JOBS:
        return nullcontext()
    return refusals_recorded(app, name, {k: v for k, v in ctx.params.items() if v is not None and v is not False})


@contextmanager
def read_books(ctx: typer.Context, backtest: str | None) -> Iterator[Storage]:
    """The live books' storage, or with `backtest` a read-only view of that backtest's own database: the ids a
    backtest's report links to are its events, not the live books' events of the same number."""
    if backtest is None:
        with state(ctx).storage() as storage:
            yield storage
        return
    from llmtrade.app.leaderboard import books  # lazy: see package docstring

    reader, _ = books(container(ctx), backtest, figures=False)  # events only: any config reads them
    with reader.storage(persist=False) as storage:
        yield storage


def echo_json(result: object) -> None:
    """A typed result's JSON document (a pydantic model or root model)."""
    typer.echo(json_shown(result.model_dump_json(indent=2)))  # type: ignore[attr-defined]
