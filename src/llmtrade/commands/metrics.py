"""`llmtrade metrics`: the Prometheus text; and the file (and push) written after every command."""

from __future__ import annotations

import errno
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmtrade.commands.context import Reads, state
from llmtrade.console import print_error, quiet
from llmtrade.observe.repeats import first_said, succeeded

if TYPE_CHECKING:
    import psycopg

    from llmtrade.commands.context import State
    from llmtrade.observe.exposition import Family
    from llmtrade.settings import Settings

_log = logging.getLogger("llmtrade.metrics")
# The steps after a command whose failures --quiet says once per outage (observe/repeats.py).
_FILE, _PUSH, _TRACES = "metrics file", "metrics push", "traces"


def metrics(ctx: typer.Context) -> None:
    """Print the Prometheus metrics (the text written to LLMTRADE_HOME/metrics/llmtrade.prom), from the events."""
    from llmtrade.observe.metrics import text  # lazy: only this command and the step after a command need it

    with state(ctx).storage() as storage:
        typer.echo(text(storage.conn), nl=False)


def before_command() -> None:
    """The command's last live database connection is kept for the metrics step (storage/handover.py)."""
    from llmtrade.storage import handover  # no imports of its own: costs nothing before the command

    handover.enable()


def publish_after_command(root: State, error: BaseException | None) -> None:
    """Write the metrics file (and push, when LLMTRADE_PUSHGATEWAY_URL is set) after a command that used the
    database, whether it succeeded or failed. Never raises: a metrics problem does not change the command's
    outcome or exit code; it is logged and named in one line on stderr."""
    from llmtrade.storage import handover

    try:
        if database_failed(error) or not _opened_one(root):
            return
        _publish(root)
    finally:
        handover.finish()


def _publish(root: State) -> None:
    started = time.perf_counter()
    from llmtrade.errors import UsageError

    try:
        settings = root.settings
    except UsageError:  # a bad environment setting, the command's own error (recorded in the books with the others)
        return
    folder = settings.metrics_dir or settings.home / "metrics"
    home = settings.home
    try:
        found = _read(settings)
    except Exception as exc:
        _not_done("metrics not written", exc, step=(home, _FILE))
        return
    if found is None:
        return  # the command used only a database of its own (a backtest's): the live books hold nothing yet
    try:
        from llmtrade.observe.metrics import write

        path = write(found, folder)
        _log.debug("metrics written to %s in %.1f ms", path, (time.perf_counter() - started) * 1000)
        succeeded(home, _FILE)
    except OSError as exc:
        _not_done("metrics not written", exc, said=unwritable(folder, exc), step=(home, _FILE))
    except Exception as exc:
        _not_done("metrics not written", exc, step=(home, _FILE))
    # Pushed whether or not the file was written: the push needs none (an unwritable folder skipped it unsaid).
    if settings.pushgateway_url:
        from llmtrade.observe.metrics import push

        try:
            push(found, settings.pushgateway_url)
            succeeded(home, _PUSH)
        except Exception as exc:
            _not_done(f"metrics not pushed to {settings.pushgateway_url}", exc, step=(home, _PUSH))


def _read(settings: Settings) -> list[Family] | None:
    """The metrics from the command's own live connection when it left one, else from a new one (None: the
    database has no events table)."""
    import psycopg

    from llmtrade.storage import handover
    from llmtrade.storage.connection import connect
    from llmtrade.storage.database import locate

    handed = handover.take()
    if handed is not None:
        try:
            with handed:
                return _snapshot(handed)
        except psycopg.OperationalError:
            pass  # the server dropped it since the command closed it (a restart, a terminated backend)
    with connect(locate(settings).url) as conn:
        return _snapshot(conn)


def _snapshot(conn: psycopg.Connection) -> list[Family] | None:
    from psycopg.errors import UndefinedTable

    from llmtrade.observe.metrics import snapshot

    try:
        return snapshot(conn)
    except UndefinedTable:
        return None


def export_traces_after_command(root: State, error: BaseException | None) -> None:
    """Export the runs this command started, and those of processes gone whose end it recorded (a killed run's),
    as OpenTelemetry traces, only when an OTLP endpoint is configured (observe/otel.py). Never raises; a failure is
    logged and named in one line on stderr."""
    from llmtrade.domain.tracing import runs_to_export
    from llmtrade.observe.otel import configured

    started = list(dict.fromkeys(runs_to_export()[root.runs_before :]))
    if not started or not configured() or database_failed(error):
        return
    try:
        from llmtrade.observe.otel import export_runs

        with root.storage() as storage:
            sent = export_runs(storage.events, started)
        _log.debug("exported %d span(s) of %d run(s)", sent, len(started))
        succeeded(root.settings.home, _TRACES)
    except ImportError as exc:
        # The endpoint set, the optional extra not installed: said as what to do, where a cron trial read only
        # "ModuleNotFoundError: No module named 'opentelemetry'" at every wake-up.
        from llmtrade.observe.otel import ENDPOINT_VARIABLES

        variable = next((name for name in ENDPOINT_VARIABLES if os.environ.get(name, "").strip()), "")
        said = (
            f"traces not exported: {variable} is set but OpenTelemetry is not installed ({exc.name or exc}): "
            'pip install "llmtrade[otel]" in llmtrade\'s environment, or unset the variable'
        )
        _not_done("traces not exported", exc, said=said, step=(root.settings.home, _TRACES))
    except Exception as exc:
        _not_done("traces not exported", exc, step=(root.settings.home, _TRACES))


def _not_done(what: str, exc: Exception, *, step: tuple[Path, str], said: str = "") -> None:
    """Log the step's failure, and say it on stderr: under --quiet once per outage (observe/repeats.py)."""
    _log.warning(what, extra={"fields": {"error_type": type(exc).__name__, "error": str(exc)}})
    home, name = step
    if not first_said(home, name, f"{what}: {type(exc).__name__}") and quiet():
        return  # said by an earlier command of this outage: cron mailed it then
    # A warning, not an error: the command's exit code stays its own (an operator read "error:" beside exit 0).
    print_error(said or f"{what}: {type(exc).__name__}: {exc}", prefix="warning: ")


# What an OSError writing the metrics folder means, in words: a trial read "metrics not written: FileExistsError:
# [Errno 17] File exists: '/tmp/x'" for a file where the folder should be.
_PLAIN = {
    errno.EEXIST: "it is a file, not a folder",
    errno.ENOTDIR: "a folder above it is a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "its file system is read-only",
    errno.ENOSPC: "no space left on its disk",
    errno.EDQUOT: "the disk quota is used up",
}


def unwritable(folder: Path, exc: OSError) -> str:
    """The warning for a metrics `folder` that could not be written: its path and why, plainly."""
    why = _PLAIN.get(exc.errno or 0) or exc.strerror or f"{type(exc).__name__}: {exc}"
    return f"metrics not written to {folder}: {why}"


def _opened_one(root: State) -> bool:
    # A command that never opened a database (config show, schema) must not start the embedded server for this.
    bootstrap = sys.modules.get("llmtrade.storage.bootstrap")
    return bootstrap is not None and bootstrap.opened_count() > root.opened_before


def database_failed(error: BaseException | None) -> bool:
    """The command lost or never reached the database (anywhere in the error's chain: a dying run's own
    error often wraps it): asking again would wait out the same timeout and print a second message."""
    from llmtrade.errors import DatabaseError, DatabaseUnavailable

    seen: set[int] = set()
    link = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, DatabaseError | DatabaseUnavailable) or type(link).__module__.startswith("psycopg"):
            return True
        link = link.__cause__ or link.__context__
    return False


def register(app: typer.Typer) -> None:
    app.command(cls=Reads)(metrics)
