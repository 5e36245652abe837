"""The `llmtrade` console script: SIGTERM and Ctrl-C answered from the process's first moment to its last.

Importing the command line (typer, rich, the command modules) takes 0.2 to 0.8 s, and the handler that turns SIGTERM
into a stop (stops.py `sigterm_as_interrupt`) is installed only when a command starts: a SIGTERM before then (cron's
`timeout` on a slow machine, a `docker stop` right after the start) ended the process with Python's default action,
exit 143 and not a word; a Ctrl-C then printed a KeyboardInterrupt's traceback (during the imports) or ended in a
silent 130 (typer's own exit, while it parsed the arguments). This module imports nothing but `atexit`,
`contextlib`, `os`, `signal` and `sys` before it installs a handler of its own for each in that window, and for the
moment after the command, when the command's own handlers have been put back to these (a command runs under Python's
Ctrl-C handler: stops.py `ctrl_c_as_interrupt`). Nothing is written in either window (the command's stores begin and
end inside its own handler), so there is nothing to go on with.

After the command the process ends here, not by the interpreter's own exit: that puts every signal back to the
system's default action before it tears the modules down (50-150 ms after a backtest, its heap collected), and a
signal landing there killed the process with no line and -2 or -15 (a trial's `timeout -s INT`, its result already
printed). Once the exit functions have run (every thread joined, logs flushed), `_end` flushes what was printed and
ends the process with the command's code; a signal before that, its result said, ends it at once with that code too
(a success says the stop in a warning line): the command's work is done, and a 143 read as a failure of it.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from contextlib import suppress

# The exits table (exits.py) has the lines of a stopped command; these are said when no command is running.
OUTSIDE_A_COMMAND = (
    "error: terminated (SIGTERM) while llmtrade was starting or ending, no command running: nothing was cut short"
)
INTERRUPTED_OUTSIDE_A_COMMAND = (
    "error: interrupted (Ctrl-C) while llmtrade was starting or ending, no command running: nothing was cut short"
)
_LINES = {signal.SIGTERM: OUTSIDE_A_COMMAND, signal.SIGINT: INTERRUPTED_OUTSIDE_A_COMMAND}
# Said when a stop lands as the process ends after a command that succeeded: its exit code stays 0.
ENDING_AFTER_A_COMMAND = (
    "warning: terminated (SIGTERM) as llmtrade was ending, after the command: nothing was cut short; exit code 0"
)
INTERRUPTED_ENDING_AFTER_A_COMMAND = (
    "warning: interrupted (Ctrl-C) as llmtrade was ending, after the command: nothing was cut short; exit code 0"
)
_AFTER_A_COMMAND = {signal.SIGTERM: ENDING_AFTER_A_COMMAND, signal.SIGINT: INTERRUPTED_ENDING_AFTER_A_COMMAND}

# The command's exit code once the command line has returned (None until then).
_ended: int | None = None


def _stopped(signum: int, frame: object) -> None:
    global _ended
    if _ended is None:  # starting, or the command line still unwinding: SystemExit ends it as any exit does
        done = _command_ended()
        if done is None:  # starting, or ended before its command began (a usage error typer said)
            print(_LINES[signal.Signals(signum)], file=sys.stderr)
            _ended = 128 + signum  # the code `_end` gives should it land before main() has taken it
            raise SystemExit(_ended)
        # Its command ended, typer and click unwinding to here: its code stands, as after main() returned. Taken for
        # llmtrade's start, a command whose result was printed exited 143 and said no command was running.
        if done == 0:
            print(_AFTER_A_COMMAND[signal.Signals(signum)], file=sys.stderr)
        _ended = done
        raise SystemExit(done)
    # Ended: raised here, in the exit functions, SystemExit would only be printed as ignored. The command keeps its
    # code, its result said: one that succeeded ended as the stop, 143, and cron or systemd reported a failure for
    # work done. A success says the stop in one line, a failure has said its own.
    _flush()
    if _ended == 0:
        os.write(2, f"{_AFTER_A_COMMAND[signal.Signals(signum)]}\n".encode())
    os._exit(_ended)


def _command_ended() -> int | None:
    """The exit code of the command the command line ran, once it has ended (stops.py `ended`); None before. Looked up
    where it is, not imported: nothing is loaded for it before the command line."""
    stops = sys.modules.get("llmtrade.stops")
    return None if stops is None else stops.ended()


def _flush() -> None:
    """What the command printed, written out before os._exit (which flushes nothing)."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):  # a reader gone, a flush already under way where the signal landed: nothing to do
            stream.flush()


def _end() -> None:
    """The last exit function (registered first): the command's output flushed and the process ended with its code,
    before the interpreter gives the signals back to their default action."""
    if _ended is not None:
        _flush()
        os._exit(_ended)


def _code(status: object) -> int:
    """The exit code SystemExit(`status`) gives (Python has printed a message given as the status already)."""
    if status is None:
        return 0
    return status if isinstance(status, int) else 1


def main() -> None:
    global _ended
    signal.signal(signal.SIGTERM, _stopped)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # ignored (a script's `&` job): stays so
        signal.signal(signal.SIGINT, _stopped)
    atexit.register(_end)
    try:
        from llmtrade.readers import tolerate_gone_readers

        tolerate_gone_readers()  # a `| head` that stops reading must not stop the command (readers.py)
        from llmtrade.cli import main as command_line  # the slow part, now under the handler

        command_line()
    except SystemExit as done:
        _ended = _code(done.code)
        raise
    except BaseException as failed:
        _ended = 130 if isinstance(failed, KeyboardInterrupt) else 1  # Python prints its traceback first
        raise
    _ended = 0
