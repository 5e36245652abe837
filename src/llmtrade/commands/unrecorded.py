"""A job command ended on a database failure no run of it recorded: its CommandFailed left in the home for the next
job command to record (app/unrecorded_commands.py). Called by the CLI as the command's failure is said."""

from __future__ import annotations

from llmtrade.commands.context import State


def leave_if_unrecorded(root: object, error: BaseException) -> None:
    """Leave `error` as a CommandFailed when `root` ran a job command that writes, the error is a database failure
    (anywhere in its chain) and no run recorded it. Never raises: the command's own failure is what it says."""
    if not isinstance(root, State) or root.job is None:
        return
    try:
        from llmtrade.app.unrecorded_commands import ended_a_run, leave
        from llmtrade.commands.metrics import database_failed
        from llmtrade.domain.runs import CommandFailed
        from llmtrade.exits import causes, error_text, exit_code_of

        if not database_failed(error) or ended_a_run(causes(error)):
            return
        failed = CommandFailed(
            command=root.job,
            error_type=type(error).__name__,
            error=error_text(error),
            exit_code=exit_code_of(error),
            failed_at=root.clock().now(),
        )
        leave(root.settings.home, failed)
    except Exception:  # settings that do not load, a clock refused: nothing to leave, nowhere to leave it
        return
