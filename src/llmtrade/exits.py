"""The one table from a failure to the CLI's exit code and its one-line message.

Our own errors carry their code (errors.py, config_errors.py: OperationalError 1, UsageError and ConfigError 2,
TemporaryError 75). Failures of the environment arrive as other libraries' exceptions (psycopg when
the database stops, is terminated or fills its disk; OSError when a local disk is full) and may be
chained behind the errors raised while a dying run tried to record its end ("the connection is
closed"), so `classify` walks the chain from the outermost exception inwards: one of our errors met
first decides; otherwise the innermost environment failure does, as it says why. Every command goes
through `cli.py`, which is the only caller: no command maps an error on its own.

Rows name classes by dotted path and are looked up in `sys.modules` only, so this module imports
nothing heavy: an exception of a library that was never imported cannot have been raised.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from llmtrade.errors import LlmtradeError, OperationalError, StageError, TemporaryError, UsageError, Waiting
from llmtrade.stops import Terminated, sigterm_received

TEMPORARY = 75


@dataclass(frozen=True)
class Row:
    """One kind of failure: the class (dotted path), the exit code, and what happened (what was lost), for the message.

    `code` None means "the code the exception's class declares" (our own errors). `errnos`, when set,
    narrows an OSError row to those error numbers."""

    kind: str
    code: int | None
    what: str = ""
    errnos: frozenset[int] = frozenset()
    todo: str = "run the command again when it is back (what was recorded is kept, completed stages are not repeated)"


# Most specific first: the first row whose class the exception is an instance of decides.
TABLE: tuple[Row, ...] = (
    Row("llmtrade.errors.LlmtradeError", None),
    # psycopg maps SQLSTATE classes 08 (connection), 53 (resources) and 57 (operator intervention) to
    # OperationalError subclasses; all of them are the server or the link, never the command.
    Row("psycopg.errors.DiskFull", TEMPORARY, "the database server's disk is full"),
    Row("psycopg.errors.OutOfMemory", TEMPORARY, "the database server ran out of memory"),
    Row("psycopg.errors.TooManyConnections", TEMPORARY, "the database server refused the connection: too many clients"),
    Row("psycopg.errors.InsufficientResources", TEMPORARY, "the database server ran out of resources"),
    Row("psycopg.errors.AdminShutdown", TEMPORARY, "the database server was shut down or ended this session"),
    Row("psycopg.errors.CrashShutdown", TEMPORARY, "the database server crashed"),
    Row("psycopg.errors.CannotConnectNow", TEMPORARY, "the database server is starting or stopping"),
    Row("psycopg.errors.SerializationFailure", TEMPORARY, "a concurrent transaction on the database got in the way"),
    Row(
        "psycopg.errors.DeadlockDetected",
        TEMPORARY,
        "a concurrent transaction deadlocked with this one",
    ),
    Row("psycopg.errors.QueryCanceled", TEMPORARY, "a database statement was cancelled (a timeout or an operator)"),
    Row("psycopg.errors.LockNotAvailable", TEMPORARY, "a database lock was not available"),
    Row("psycopg.OperationalError", TEMPORARY, "the connection to the database was lost"),
    # A replica (hot standby) or a role/database with default_transaction_read_only on: a setting, so no retry would
    # write (it was a traceback, exit 1). Read-only commands work there; the first write is refused.
    Row(
        "psycopg.errors.ReadOnlySqlTransaction",
        2,
        "DATABASE_URL's server refused a write: it is read-only for llmtrade",
        todo=(
            "point DATABASE_URL at the primary, as a role that may write (a hot standby refuses every write; a role or "
            "database with default_transaction_read_only on: ALTER ROLE ... RESET default_transaction_read_only). "
            "What was recorded before is kept"
        ),
    ),
    Row("builtins.OSError", TEMPORARY, "the disk is full", frozenset({errno.ENOSPC, errno.EDQUOT})),
    # A path named with a name longer than the file system holds (`report -o`, `--csv`, `--config`, a sweep file):
    # `Path.is_dir` raises for it where it answers False for a missing path, so it reached no caller's check and was a
    # traceback (exit 1). Always a path someone named (an option, a setting, LLMTRADE_HOME), never the machine's state.
    Row(
        "builtins.OSError",
        2,
        "a path is too long for the file system",
        frozenset({errno.ENAMETOOLONG}),
        todo="give a shorter one (a name in it holds at most 255 bytes)",
    ),
)


# What is wrong with a path a user named (an output file, a prices folder), not with the machine: the user fixes the
# path (exit 2). A full disk is the machine's, and passes (TABLE's row: 75); any other (EIO) someone must look at (1).
PATH_ERRNOS = frozenset(
    {
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENAMETOOLONG,
        errno.ELOOP,
    }
)


def path_error(message: str, exc: OSError, *, fix: str = "") -> LlmtradeError:
    """`message` (what could not be done, naming the path: "cannot write the report to X") with the system's reason,
    as the error its errno calls for: TemporaryError (75) for a full disk or quota, as `classify` gives an OSError
    that reached it; UsageError (2) for a problem of the path itself (PATH_ERRNOS); OperationalError (1) otherwise.
    A caller that knows the path raises this `from exc`, rather than one code for every OSError (a full disk read as
    a usage error, exit 2, and a scheduler never retried it). `fix`: what the user can do about the path."""
    text = f"{message}: {exc.strerror or exc}"
    row = _row_for(exc)
    if row is not None and row.code == TEMPORARY:
        return TemporaryError(f"{text} ({row.what}: run the command again when there is room)")
    if fix:
        text += f"; {fix}"
    if exc.errno in PATH_ERRNOS:
        return UsageError(text)
    return OperationalError(text)


@dataclass(frozen=True)
class Failure:
    """What the CLI prints (one line for environment failures) and the code it exits with."""

    code: int
    message: str
    # A job's wait (errors.Waiting, exit 75): said as one ("waiting: ..."), not as an error.
    waiting: bool = False


# Ctrl-C (SIGINT): the shell's 128 + 2, said in one line. Every job stores each step as it ends and a rerun
# skips what is stored (a backtest resumes after its last finished week), so nothing finished is lost.
INTERRUPTED = Failure(
    130, "interrupted (Ctrl-C); what finished before it is stored: run the same command again to go on"
)


# SIGTERM (cron's `timeout`, systemd and `docker stop` send it, then SIGKILL after a grace period): 128 + 15, said
# in one line, and the command stopped as Ctrl-C stops it. Python's default action ended the process on the spot: no
# line, no `finally` (a backtest's week held in memory unwritten, the answers it bought not given back) and a spawned
# helper left running with the command's stderr open, so whoever waited on the pipe (cron) waited for good.
TERMINATED = Failure(
    143, "terminated (SIGTERM); what finished before it is stored: run the same command again to go on"
)


# The same stops of a command that only reads (commands/context.py `Reads`): there is nothing to go on with.
INTERRUPTED_READING = Failure(130, "interrupted (Ctrl-C); this command only reads: it stopped and changed nothing")
TERMINATED_READING = Failure(143, "terminated (SIGTERM); this command only reads: it stopped and changed nothing")


def signalled(error_type: str, exit_code: int | None) -> bool:
    """A run's recorded failure (RunFailed's error_type and exit_code) was a stop by SIGTERM or Ctrl-C (exit 143 or
    130, whatever its way out raised), not an error of its own. A failure recorded before RunFailed had its exit code
    is told by its type (Terminated is a KeyboardInterrupt)."""
    if exit_code is None:
        return error_type in {Terminated.__name__, KeyboardInterrupt.__name__}
    return exit_code in (TERMINATED.code, INTERRUPTED.code)


def stopped_by_signal(exc: BaseException, *, writes: bool = True) -> Failure | None:
    """TERMINATED or INTERRUPTED when `exc` ends a command that SIGTERM or Ctrl-C stopped, else None; their
    `_READING` forms for a command that does not write.

    The signal raises where the command is, and its way out may raise again: a KeyboardInterrupt inside a psycopg
    pipeline leaves the connection busy, and the cleanup's "cannot exit pipeline mode while busy" reached the user as
    a lost database (exit 75) instead of the stop they asked for (found by the SIGTERM test in CI). So a SIGTERM
    received during the command, or a KeyboardInterrupt anywhere in `exc`'s chain, is the command's end."""
    chain = causes(exc)
    if sigterm_received() or any(isinstance(link, Terminated) for link in chain):
        return TERMINATED if writes else TERMINATED_READING
    if any(isinstance(link, KeyboardInterrupt) for link in chain):
        return interrupted(writes=writes)
    return None


def interrupted(*, writes: bool = True) -> Failure:
    """The stop of a command ended by a KeyboardInterrupt that `stopped_by_signal` did not place."""
    return INTERRUPTED if writes else INTERRUPTED_READING


def cut_short_after_command(stop: BaseException) -> str:
    """What a stop (SIGTERM, Ctrl-C) landing in the steps after a command (its metrics and traces) says, as a warning:
    the command's end stands, its exit code too. It made a run-due that had finished its week and recorded it exit 143,
    "run the same command again to go on": cron and systemd reported a failure, and there was nothing to go on with."""
    said = (stopped_by_signal(stop) or interrupted()).message.split(";")[0]
    return (
        f"{said} after the command had ended: the metrics and traces written after it were cut short (the next command "
        "writes them); the exit code is the command's own"
    )


def ending_after_command(stop: BaseException) -> str:
    """What a stop landing after a command that succeeded, its end decided (its handlers put back, typer unwinding),
    says: the words entry.py says of one at the process's end, for its exit code stays 0 as there."""
    said = (stopped_by_signal(stop) or interrupted()).message.split(";")[0]
    return f"warning: {said} as llmtrade was ending, after the command: nothing was cut short; exit code 0"


def error_text(exc: BaseException) -> str:
    """What a record of `exc` (a RunFailed) says went wrong: its message, or for a stop by a signal, which carries
    none, the stop itself, so `trace`, alerts and `events` read `interrupted (Ctrl-C)` rather than an empty
    `KeyboardInterrupt: `."""
    text = str(exc)
    if text or not isinstance(exc, KeyboardInterrupt):
        return text
    stop = stopped_by_signal(exc)
    return stop.message.split(";")[0] if stop else type(exc).__name__


def causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it was raised from or during, outermost first (a StageError's cause included)."""
    seen: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and all(link is not s for s in seen):
        seen.append(link)
        cause = link.cause if isinstance(link, StageError) else None  # also when built without `from`
        link = link.__cause__ or cause or link.__context__
    return seen


def classify(exc: BaseException) -> Failure | None:
    """The exit code and message for `exc`, or None for a failure the table does not know (a bug).

    A StageError is looked through to its cause, so a database lost inside a stage reads the same as
    one lost between stages; its stage's name is kept in the message. Notes a caller added to `exc` on its way
    out (`add_note`: where it happened, what to do there, e.g. a backtest's week) follow the message, innermost first:
    a note added inside a stage (what a stopped stage kept for the rerun, pipeline/retry.py) is said too."""
    found = _classified(exc)
    return None if found is None else with_notes(found, exc)


def with_notes(failure: Failure, exc: BaseException) -> Failure:
    """`failure` with the notes callers added to `exc` and what it was raised from (`add_note`: where it happened,
    what to do there, e.g. a backtest's week), innermost first, after its message."""
    notes = [one_line(str(note)) for link in reversed(causes(exc)) for note in getattr(link, "__notes__", ())]
    if not notes:
        return failure
    # Every part but the last ended as a sentence: a note ending in ")" ran into the next ("... first) backtest 'x'").
    parts = [failure.message.rstrip(), *notes]
    joined = " ".join([*(_ended(part) for part in parts[:-1]), parts[-1]])
    return Failure(failure.code, joined, failure.waiting)


def _ended(sentence: str) -> str:
    return sentence if sentence.endswith((".", "!", "?")) else f"{sentence}."


def _classified(exc: BaseException) -> Failure | None:
    outer: StageError | None = None
    stage = ""
    lost: tuple[Row, BaseException] | None = None
    for link in causes(exc):
        if isinstance(link, StageError):
            outer = outer or link
            stage = outer.stage
            continue
        row = _row_for(link)
        if row is None:
            continue
        if row.code is None and lost is None:
            assert isinstance(link, LlmtradeError)
            if isinstance(link, Waiting):  # no stage's failure: its text says what it waits for
                return Failure(link.exit_code, str(link), waiting=True)
            return Failure(link.exit_code, str(link) if not stage else f"stage {stage!r} failed: {link}")
        if row.code is not None:
            # Keep going: the innermost one says why ("terminating connection due to administrator
            # command"), the outer ones only that later statements found the connection closed.
            lost = (row, link)
    if lost is not None:
        row, link = lost
        assert row.code is not None
        where = f" (in stage {stage!r})" if stage else ""
        detail = one_line(str(link)) or type(link).__name__
        return Failure(row.code, f"{row.what}{where}: {detail}; {row.todo}")
    # A stage that failed on something unexpected is still that stage's failure, not a traceback.
    return Failure(outer.exit_code, str(outer)) if outer is not None else None


def exit_code_of(exc: BaseException) -> int:
    """The exit code `exc` would give; 1 for a failure the table does not know."""
    found = classify(exc)
    return found.code if found else 1


def temporary(exc: BaseException) -> bool:
    """`exc` is a temporary failure (exit 75): the next wake-up retries what it stopped. Not when SIGTERM or Ctrl-C
    stopped the command: the database error its way out raised (a psycopg pipeline left busy) reads as a lost
    database, and a caller that goes on past a temporary failure (run-due's next piece) would trade after the stop."""
    return stopped_by_signal(exc) is None and exit_code_of(exc) == TEMPORARY


def all_failed(message: str, errors: Sequence[BaseException]) -> LlmtradeError:
    """One error for a step none of whose calls succeeded (every council member, every research
    provider): temporary (75) when each failure was, so the same outage exits the same way in every
    command and a scheduler retries it; otherwise operational (1), as someone has to look."""
    if errors and all(temporary(e) for e in errors):
        return TemporaryError(message)
    return OperationalError(message)


def one_line(text: str) -> str:
    """Driver messages span lines ("...failed\\n\\tIs the server running...?"); a cron mail wants one."""
    return " ".join(text.split())


def _row_for(exc: BaseException) -> Row | None:
    for row in TABLE:
        module, _, name = row.kind.rpartition(".")
        cls = getattr(sys.modules.get(module), name, None)
        if cls is None or not isinstance(exc, cls):
            continue
        if row.errnos and getattr(exc, "errno", None) not in row.errnos:
            continue
        return row
    return None
