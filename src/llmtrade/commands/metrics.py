"""`llmtrade metrics`: the Prometheus text; and the file (and push) written after every command."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import typer

from llmtrade.commands.context import state
from llmtrade.console import print_error

if TYPE_CHECKING:
    from llmtrade.commands.context import State

_log = logging.getLogger("llmtrade.metrics")


def metrics(ctx: typer.Context) -> None:
    """Print the Prometheus metrics (the text written to LLMTRADE_HOME/metrics/llmtrade.prom), from the events."""
    from llmtrade.observe.metrics import text  # lazy: prometheus_client

    with state(ctx).storage() as storage:
        typer.echo(text(storage.conn), nl=False)


def publish_after_command(root: State, error: BaseException | None) -> None:
    """Write the metrics file (and push, when LLMTRADE_PUSHGATEWAY_URL is set) after a command that used the
    database, whether it succeeded or failed. Never raises: a metrics problem does not change the command's
    outcome or exit code; it is logged and named in one line on stderr."""
    if not root.used_database or _database_failed(error):
        return
    try:
        from llmtrade.observe.metrics import publish
        from llmtrade.storage.database import connect, locate

        settings = root.settings
        folder = settings.metrics_dir or settings.home / "metrics"
        conn = connect(locate(settings).url)
        try:
            published = publish(conn, folder, settings.pushgateway_url)
        finally:
            conn.close()
        _log.debug("metrics written to %s", published.path)
    except Exception as exc:
        _log.warning("metrics not written", extra={"fields": {"error_type": type(exc).__name__, "error": str(exc)}})
        print_error(f"metrics not written: {type(exc).__name__}: {exc}")


def _database_failed(error: BaseException | None) -> bool:
    # The command could not reach the database: asking again would wait out the same timeout for nothing.
    from llmtrade.errors import DatabaseError, DatabaseUnavailable

    return isinstance(error, DatabaseError | DatabaseUnavailable) or type(error).__module__.startswith("psycopg")


def register(app: typer.Typer) -> None:
    app.command()(metrics)
