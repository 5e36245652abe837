"""The `llmtrade` command line: the root options and the command groups, registered here.

The commands live in `llmtrade.commands`, one module per family; this module only assembles
them. Start-up speed matters (cron, shell completion, `--help`), so nothing here or in the command
modules imports more than typer and the standard library at the top.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption
from typer.exceptions import TyperException

from llmtrade import __version__
from llmtrade.commands import (
    ask,
    asking,
    backtest,
    controls,
    discover,
    events,
    leaderboard,
    memory,
    metrics,
    positions,
    report,
    schedule,
    schema,
    setup,
    trace,
    week,
)
from llmtrade.commands.context import State
from llmtrade.commands.help_text import readable
from llmtrade.commands.options import LogJson, Quiet, Verbose, given_path
from llmtrade.commands.root_args import MissingValue, hoisted
from llmtrade.commands.unrecorded import leave_if_unrecorded
from llmtrade.console import one_line, print_error, quiet, quiet_on_success, speak_again
from llmtrade.console import quiet as quiet_now  # the callback below has a parameter of that name
from llmtrade.exits import (
    classify,
    cut_short_after_command,
    ending_after_command,
    interrupted,
    stopped_by_signal,
    with_notes,
)
from llmtrade.stops import command_ended, ctrl_c_as_interrupt, ended, sigterm_as_interrupt
from llmtrade.storage import servers_used

# The commands cron runs (commands/context.py `job`): a halt during one is said on stderr even under --quiet.
_JOBS = frozenset({"run-due", "run-weekly", "checkpoint", "postmortem"})


class _Group(TyperGroup):
    """Turns every failure the table in exits.py knows (ours, the database's, a full disk) raised by any
    subcommand into a message and its exit code, Ctrl-C and SIGTERM included; anything else is a bug and keeps its
    traceback."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        # Before any --help is formatted: each docstring's paragraph on one line, for rich to wrap (help_text.py).
        readable(self)
        try:
            # The root options are taken after the command too (`llmtrade run-due -q`): commands/root_args.py.
            return super().make_context(info_name, hoisted(args, self.valued_options()), parent=parent, **extra)
        except MissingValue as exc:
            print_error(f"{exc} (`{info_name or 'llmtrade'} --help` says what it takes)")
            raise typer.Exit(2) from None
        except Exception as exc:
            if not _usage_error(exc):
                raise
            _say_usage(exc, info_name or "llmtrade")  # a root option typer did not know: `llmtrade --bogus status`
            raise typer.Exit(2) from None

    def valued_options(self) -> frozenset[str]:
        """Every command's option names that take a value (`--name`, `--type`, ...): commands/root_args.py."""
        found: set[str] = set()
        commands: list[Any] = list(getattr(self, "commands", {}).values())
        while commands:
            command = commands.pop()
            commands += list(getattr(command, "commands", {}).values())
            for param in command.params:
                if getattr(param, "param_type_name", "") == "option" and not (param.is_flag or param.count):
                    found.update(param.opts)
        return frozenset(found)

    def invoke(self, ctx: typer.Context) -> Any:
        # SIGTERM stops the command as Ctrl-C does, from its start to the end of its metrics and traces (stops.py).
        command_ended(None)
        try:
            with sigterm_as_interrupt(), ctrl_c_as_interrupt():
                return self._ended(ctx)
        except KeyboardInterrupt as stop:
            # Landed as the command's handlers were put back, its end decided: typer exited 130 without a word. The
            # command's own end (an exit said, a bug's traceback) stands, and its code: one that succeeded says the
            # stop in a warning line and exits 0, as one landing in its metrics or at the process's end does (a 130
            # or 143 read as a failure of work done and on record).
            if stop.__context__ is not None:
                raise stop.__context__ from None
            if ended() is None:  # not reached by a command's end: the stop ends it
                stopped = stopped_by_signal(stop, writes=_writes(ctx)) or interrupted(writes=_writes(ctx))
                print_error(stopped.message)
                ctx.exit(stopped.code)
            print_error(ending_after_command(stop), prefix="")
            return None

    def _ended(self, ctx: typer.Context) -> Any:
        """The command, its exit code kept as it ends (stops.py `ended`): a stop landing after it, as its handlers are
        put back or as typer and click unwind to the console script (entry.py), keeps that code."""
        try:
            result = self._invoke(ctx)
        except BaseException as end:
            # click's Exit (ctx.exit) and ClickException carry their code; SystemExit its status; the rest is a bug, 1.
            code = end.code if isinstance(end, SystemExit) else getattr(end, "exit_code", 1)
            command_ended(code if isinstance(code, int) else 0 if code is None else 1)
            raise
        command_ended(0)
        return result

    def _invoke(self, ctx: typer.Context) -> Any:
        error: BaseException | None = None
        try:
            try:
                return super().invoke(ctx)
            except Exception as exc:
                if not _usage_error(exc):
                    raise
                error = exc
                _say_usage(exc, exc.ctx.command_path if exc.ctx is not None else ctx.command_path)  # type: ignore[attr-defined]
                ctx.exit(2)
        except (TyperException, typer.Exit, typer.Abort):
            raise  # typer's own flow: --help, ctx.exit
        except KeyboardInterrupt as exc:  # typer would exit 130 (143) without a word
            error = exc
            stopped = with_notes(stopped_by_signal(exc, writes=_writes(ctx)) or interrupted(writes=_writes(ctx)), exc)
            print_error(stopped.message)
            ctx.exit(stopped.code)
        except Exception as exc:
            error = exc
            # An error on a stopped command's way out: the stop.
            stop = stopped_by_signal(exc, writes=_writes(ctx))
            failure = with_notes(stop, exc) if stop is not None else classify(exc)
            if failure is None:
                raise
            if stop is None:  # a database lost outside any run: on record at the next job command
                leave_if_unrecorded(ctx.obj, exc)
            said = one_line(failure.message) if quiet() else failure.message
            print_error(said, prefix="waiting: " if failure.waiting else "error: ")
            ctx.exit(failure.code)
        finally:
            try:
                _after_command(ctx, error)
            except KeyboardInterrupt as stop:
                # Landing in the metrics or traces written after the command: the command's end stands (its result
                # returned, or its exit on its way out), and so does its code. The stop asked for an end, so the steps
                # left are given up, said in one line. A command that had succeeded ended as the stop, 143: cron and
                # systemd reported a failure for work done and on record (typer's own exit was a silent 130).
                print_error(cut_short_after_command(stop), prefix="warning: ")


def _usage_error(exc: BaseException) -> bool:
    """Click's UsageError (a bad option or value, no such command), however typer ships click: typer 0.29 vendors it
    (typer._click, its exceptions TyperExceptions), earlier typer uses click's own."""
    # NoArgsIsHelpError (`llmtrade config`, no subcommand) is one too, and shows the help: left to typer.
    names = {k.__name__ for k in type(exc).__mro__}
    return "UsageError" in names and "NoArgsIsHelpError" not in names and hasattr(exc, "format_message")


def _say_usage(exc: Exception, where: str) -> None:
    """A command's bad option or value, or no such command, in one line (exit 2 by the caller), as the README promises
    every error is: typer drew a box of several lines, and cron mailed it as such."""
    print_error(f"{exc.format_message()} (`{where} --help` says what it takes)")  # type: ignore[attr-defined]


def _writes(ctx: typer.Context) -> bool:
    """Whether the command may have written (commands/context.py `Reads` says it does not): what its stop says."""
    return not isinstance(ctx.obj, State) or ctx.obj.writes


def _flags_take_no_value() -> None:
    """typer 0.29's rich help gives every option a type, flags too (`--json <bool>`, even `--help <bool>`), as if a flag
    took a value; its plain help leaves a flag's out (`TyperOption.get_help_record`), and so does this, for the rich
    help: a flag or a count shows no type. Older typer has no `display_type_rich` and never showed one."""
    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "flags_take_no_value", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag or self.count else shown(self, ctx)

    display_type_rich.flags_take_no_value = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()

app = typer.Typer(
    cls=_Group,
    name="llmtrade",
    help="Run a committee of LLM portfolio managers on paper accounts, with every step recorded.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmtrade {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            parser=given_path,
            metavar="<path>",
            help="Config folder, before or after the command (default: $LLMTRADE_CONFIG_DIR, else packaged defaults).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    log_json: LogJson = False,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    from llmtrade.domain.tracing import runs_to_export
    from llmtrade.observe.logs import configure

    root = State(config)
    root.quiet = quiet_on_success(quiet)
    root.runs_before = len(runs_to_export())
    bootstrap = sys.modules.get("llmtrade.storage.bootstrap")  # not imported yet: nothing opened yet
    root.opened_before = bootstrap.opened_count() if bootstrap is not None else 0
    servers_used.begin()
    root.logging = configure(
        root.log_home,
        json_stderr=log_json,
        verbose=verbose,
        needs_a_look=ctx.invoked_subcommand in _JOBS,
        said_once=quiet_now,
    )
    metrics.before_command()
    ctx.obj = root


def _after_command(ctx: typer.Context, error: BaseException | None) -> None:
    """After every command, success or failure: the metrics and the runs' traces (commands/metrics.py), then the
    log's handlers off."""
    root = ctx.obj
    if not isinstance(root, State):
        return  # --help, --version: no command ran
    try:
        metrics.publish_after_command(root, error)
        metrics.export_traces_after_command(root, error)
    finally:  # a stop landing in them still leaves the log closed and --quiet put back for the next command
        servers_used.end()
        if root.logging is not None:
            root.logging.close()
        if root.quiet is not None:
            speak_again(root.quiet)


for group in (
    setup,
    events,  # registered after setup's init, config and db, where it was listed before
    asking,
    ask,
    week,
    controls,
    positions,
    schedule,
    schema,
    backtest,
    leaderboard,
    report,
    discover,
    memory,
    trace,
    metrics,
):
    group.register(app)


def main() -> None:
    app()
