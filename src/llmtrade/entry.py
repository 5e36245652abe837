"""The `llmtrade` console script: SIGTERM answered from the process's first moment.

Importing the command line (typer, rich, the command modules) takes 0.2 to 0.8 s, and the handler that turns SIGTERM
into a stop (exits.py `sigterm_as_interrupt`) is installed only when a command starts: a SIGTERM before then (cron's
`timeout` on a slow machine, a `docker stop` right after the start) ended the process with Python's default action,
exit 143 and not a word. This module imports nothing but `signal` and `sys` before it installs a handler for that
window, and for the moment after the command, when the command's own handler has been put back to this one. Nothing
is written in either window (the command's stores begin and end inside its own handler), so there is nothing to go
on with; SystemExit unwinds as any exit does, flushing what the command printed.
"""

from __future__ import annotations

import signal
import sys

# The exits table (exits.py) has the lines of a stopped command; this one is said when no command is running.
OUTSIDE_A_COMMAND = (
    "error: terminated (SIGTERM) while llmtrade was starting or ending, no command running: nothing was cut short"
)


def _terminated(signum: int, frame: object) -> None:
    print(OUTSIDE_A_COMMAND, file=sys.stderr)
    raise SystemExit(128 + signal.SIGTERM)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    from llmtrade.cli import main as command_line  # the slow part, now under the handler

    command_line()
