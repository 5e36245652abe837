"""The `llmtrade` console script: SIGTERM and Ctrl-C answered from the process's first moment.

Importing the command line (typer, rich, the command modules) takes 0.2 to 0.8 s, and the handler that turns SIGTERM
into a stop (exits.py `sigterm_as_interrupt`) is installed only when a command starts: a SIGTERM before then (cron's
`timeout` on a slow machine, a `docker stop` right after the start) ended the process with Python's default action,
exit 143 and not a word; a Ctrl-C then printed a KeyboardInterrupt's traceback (during the imports) or ended in a
silent 130 (typer's own exit, while it parsed the arguments). This module imports nothing but `signal` and `sys` before
it installs a handler of its own for each in that window, and for the moment after the command, when the command's
own handlers have been put back to these (a command runs under Python's Ctrl-C handler: exits.py
`ctrl_c_as_interrupt`). Nothing is written in either window (the command's stores begin and end inside its own
handler), so there is nothing to go on with; SystemExit unwinds as any exit does, flushing what the command printed.
"""

from __future__ import annotations

import signal
import sys

# The exits table (exits.py) has the lines of a stopped command; these are said when no command is running.
OUTSIDE_A_COMMAND = (
    "error: terminated (SIGTERM) while llmtrade was starting or ending, no command running: nothing was cut short"
)
INTERRUPTED_OUTSIDE_A_COMMAND = (
    "error: interrupted (Ctrl-C) while llmtrade was starting or ending, no command running: nothing was cut short"
)
_LINES = {signal.SIGTERM: OUTSIDE_A_COMMAND, signal.SIGINT: INTERRUPTED_OUTSIDE_A_COMMAND}


def _stopped(signum: int, frame: object) -> None:
    print(_LINES[signal.Signals(signum)], file=sys.stderr)
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _stopped)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # ignored (a script's `&` job): stays so
        signal.signal(signal.SIGINT, _stopped)
    from llmtrade.readers import tolerate_gone_readers

    tolerate_gone_readers()  # a `| head` that stops reading must not stop the command (readers.py)
    from llmtrade.cli import main as command_line  # the slow part, now under the handler

    command_line()
