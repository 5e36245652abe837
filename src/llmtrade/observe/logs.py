"""Where the `llmtrade` logger's lines go during one command.

- Always: JSON lines to a rotating file, LLMTRADE_HOME/logs/llmtrade.jsonl (10 MB x 5), opened on the
  first line (a command that logs nothing creates no file).
- `--log-json`: the same JSON lines on stderr too (for a log shipper reading the cron job's output).
- `--verbose`: human-readable lines on stderr (time, level, what happened, the run, stage and account).

Today's console output is unchanged without a flag. A run's failure (RunFailed) is never echoed in the
human format: the command prints that error already; JSON on stderr carries it, since it was asked for.

Every line carries the fields bound in `domain.tracing` (run_id, trace_id, week, account, stage where
known) and, for an event's line, the event's own ids, which take precedence.

Why the standard library and not structlog: structlog is healthy (regular releases, issues answered),
but the lines are emitted in storage, pipeline and workflows, and through `logging` those layers need
no dependency and cost one level check when nothing is configured (library use, tests); contextvars,
a filter and two formatters give the same result in ~100 lines.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmtrade.domain.tracing import EVENTS_LOGGER, LOGGER, WARNED, WARNINGS_LOGGER, log_context

if TYPE_CHECKING:
    from logging.handlers import RotatingFileHandler

LOG_FILE = "llmtrade.jsonl"
_MAX_BYTES = 10 * 1024 * 1024
_BACKUPS = 5
_HUMAN_ORDER = ("run_id", "stage", "account", "week")
# Failures a person sees on stderr already (the command's error, a warning) are logged but not echoed by --verbose.
_SHOWN_ALREADY = frozenset({"RunFailed", "ConfigRejected", "ClockBehindRefused", "ClockSkewRefused", WARNED})
# Libraries whose own warnings go where llmtrade's lines go, not to the terminal through logging's last-resort
# handler: psycopg's "error ignored terminating <psycopg.Pipeline [BAD] at 0x...>: the connection is lost" came
# before the one line saying the database was lost (the line the user needs; the file keeps psycopg's for a look).
_LIBRARIES = ("psycopg",)


# Built once: json.dumps with options builds an encoder for every line.
_ENCODE = json.JSONEncoder(default=str, ensure_ascii=False).encode
_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error"}
_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text (replaced whole: thread-safe)


def _utc_stamp(created: float) -> str:
    """`created` as ISO 8601 UTC to the millisecond, e.g. 2026-01-07T13:00:00.123+00:00 (truncated, as
    datetime.isoformat(timespec="milliseconds") does); the date and time are formatted once a second."""
    global _second
    whole = int(created)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((created - whole) * 1000):03d}+00:00"


def line_fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record as the JSON line's object: ts (UTC, ISO 8601), level, logger, msg, then the ids."""
    fields: dict[str, Any] = {
        "ts": _utc_stamp(record.created),
        "level": _LEVELS.get(record.levelno) or record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    context = record.__dict__.get("context")
    if context:
        fields.update(context)
    extra = record.__dict__.get("fields")
    if extra:
        fields.update(extra)
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # The file and --log-json's stderr both format the record: the line is made once.
        line = record.__dict__.get("_json_line")
        if line is None:
            line = record._json_line = _ENCODE(line_fields(record))
        return line  # type: ignore[no-any-return]


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = line_fields(record)
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        head = f"{when} {record.levelname:<7} {fields['msg']}"
        ids = " ".join(f"{k}={fields[k]}" for k in _HUMAN_ORDER if k in fields)
        rest = " ".join(
            f"{k}={v}"
            for k, v in fields.items()
            if k not in {"ts", "level", "logger", "msg", "trace_id", "event_id", "stream", *_HUMAN_ORDER}
        )
        return " ".join(part for part in (head, ids, rest) if part)


class _Context(logging.Filter):
    """Stamps the log context onto the record in the thread and task that logged it (unless the record
    brought its own, as the event store's lines do: domain.tracing reads it once a batch). The mapping is
    never changed once bound, so the record keeps a reference, not a copy."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "context" not in record.__dict__:
            record.context = log_context()
        return True


class _NotShownAlready(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in _SHOWN_ALREADY


class _NeedsALook(logging.Filter):
    """The events a cron user must hear of even under --quiet and without alert URLs: a circuit breaker's halt
    (a trial: three accounts halted at a `-q run-due` and nothing was said; the account trades only what reduces
    risk until reset by hand)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == EVENTS_LOGGER and record.getMessage() == "AccountHalted"


class NeedsALookFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = line_fields(record)
        account = fields.get("account", "an account")
        return (
            f"warning: {account} halted by its circuit breaker ({fields.get('reason', 'no reason recorded')}): it "
            f"trades only what reduces risk until `llmtrade breaker reset {account}`"
        )


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when the line is written (a test runner swaps it per command)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


# The log file among the steps whose failure --quiet says once per outage (observe/repeats.py).
_STEP = "log file"


class _LazyFile(logging.Handler):
    """A rotating JSON-lines file, opened on the first line: its folder comes from the settings, which a
    command reads only when it needs them.

    Rotates as RotatingFileHandler does, but counts the bytes it wrote instead of formatting each record a
    second time to measure it (the standard handler's shouldRollover does): a run writes a line per event.

    Lines are buffered, not flushed one by one (a write system call per line was a third of a line's cost):
    the buffer goes to the file at the end of each batch the event store appended (records marked `more`
    wait for their batch's last), on any line that is not from such a batch, on every WARNING and above, at
    `close` (after every command, whatever its outcome) and at interpreter exit (logging's own atexit hook
    flushes every handler), so an exception, sys.exit or Ctrl-C loses no line. A process killed outright
    (SIGKILL, or SIGTERM without a handler) loses at most the batch being written.

    A file that cannot be opened or written (LLMTRADE_HOME/logs a file, not a folder; the disk full) is said once,
    in one line on stderr, and the command's later lines are not written to it: logging's own handleError printed
    a traceback for every line (7,000 lines of stderr for one weekly run) and the command still exited 0. The
    command's outcome and exit code stay its own, as a metrics file's failure leaves them: its events are the
    record; the log file is a copy for a log shipper. Under cron's --quiet (`said_once`) it is said once per outage, as
    the metrics file's failure is (observe/repeats.py): a cron trial's unwritable log file was said at every wake-up,
    a mail from cron every five minutes."""

    terminator = "\n"

    def __init__(self, folder: Callable[[], Path], said_once: Callable[[], bool] = lambda: False):
        super().__init__()
        self._folder = folder
        self._said_once = said_once
        self._file: RotatingFileHandler | None = None
        self._size = 0
        self._broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._broken:
            return
        try:
            line = self.format(record) + self.terminator
            size = len(line) if line.isascii() else len(line.encode())
            if self._file is None:
                # Imported with the first line: logging.handlers brings socket, pickle and queue, which a
                # command that logs nothing (or only --help) need not load.
                from logging.handlers import RotatingFileHandler

                try:
                    folder = self._folder()
                except OSError:
                    raise
                except Exception:  # the settings themselves refused: their own error is the command's, no home known
                    self._broken = True
                    return
                # Reading the settings the first time says their warnings, which are logged (commands/context.py):
                # that line came back here and opened the file already; a second handler on it would lose lines.
                if self._file is None:
                    folder.mkdir(parents=True, exist_ok=True)
                    self._file = RotatingFileHandler(
                        folder / LOG_FILE, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
                    )
                    self._size = (folder / LOG_FILE).stat().st_size
            if self._size and self._size + size > _MAX_BYTES:
                self._rotate(self._file, size)
            stream = self._file.stream
            stream.write(line)
            self._size += size
            if record.levelno >= logging.WARNING or not record.__dict__.get("more"):
                stream.flush()
        except OSError as exc:
            self._break(exc)
        except Exception:
            self.handleError(record)

    def _rotate(self, file: RotatingFileHandler, size: int) -> None:
        """Rotate the full file as RotatingFileHandler does, holding an exclusive lock on its folder. Two commands
        at once (cron's run-due beside one typed) each count only their own bytes: both rotated, the second moving the
        first's new, near-empty file out (an old file lost early) while its own lines went on into the file already
        rotated. A file another process rotated since it was opened here is reopened instead, and rotated only if the
        new one is full too (with two writers a file may pass its size by the other's lines)."""
        import fcntl
        import os

        # The folder itself is the lock (flock on its descriptor): no lock file beside the logs for a shipper to read.
        folder = os.open(Path(file.baseFilename).parent, os.O_RDONLY)
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)  # released as the descriptor is closed
            try:
                current = os.stat(file.baseFilename)
            except FileNotFoundError:
                current = None
            if current is None or not os.path.samestat(current, os.fstat(file.stream.fileno())):
                file.stream.close()
                file.stream = file._open()
                self._size = os.fstat(file.stream.fileno()).st_size
                if self._size + size <= _MAX_BYTES:
                    return
            file.doRollover()
            self._size = 0
        finally:
            os.close(folder)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._file is not None and not self._broken:
                try:
                    self._file.flush()
                except OSError as exc:
                    self._break(exc)

    def _break(self, exc: OSError) -> None:
        self._broken = True
        try:
            where = self._folder() / LOG_FILE
        except Exception:  # the settings themselves failed: their own error is the command's
            where = Path("LLMTRADE_HOME") / "logs" / LOG_FILE
        else:
            from llmtrade.observe.repeats import first_said

            if not first_said(where.parent.parent, _STEP, type(exc).__name__) and self._said_once():
                return  # said by an earlier command of this outage: cron mailed it then
        sys.stderr.write(
            f"warning: the log file {where} cannot be written ({type(exc).__name__}: {exc}); this command's log lines "
            "are left out of it (its events are recorded as ever)\n"
        )

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._file is not None:
                try:
                    self._file.close()
                except OSError as exc:  # its last lines could not be flushed
                    if not self._broken:
                        self._break(exc)
                if not self._broken:  # written: the file's next failure is a new outage, said again
                    from llmtrade.observe.repeats import succeeded

                    succeeded(self._folder().parent, _STEP)
        super().close()


class Logging:
    """The handlers one command installed; `close` removes them (the next command in this process, e.g.
    a test's, installs its own)."""

    def __init__(self, handlers: list[logging.Handler], level: int):
        self._handlers = handlers
        self._level = level

    def close(self) -> None:
        logger = logging.getLogger(LOGGER)
        for handler in self._handlers:
            logger.removeHandler(handler)
            for library in _LIBRARIES:
                logging.getLogger(library).removeHandler(handler)
            handler.close()
        logger.setLevel(self._level)


def configure(
    home: Callable[[], Path],
    *,
    json_stderr: bool = False,
    verbose: bool = False,
    needs_a_look: bool = False,
    said_once: Callable[[], bool] = lambda: False,
) -> Logging:
    """Install this command's handlers on the `llmtrade` logger (INFO and up); `home()` is LLMTRADE_HOME.
    `needs_a_look`: a job's command (cron runs them), whose halts are said on stderr whatever else is asked.
    `said_once()`: whether a failure an earlier command said is left unsaid (--quiet, cron's: observe/repeats.py)."""
    logger = logging.getLogger(LOGGER)
    context = _Context()
    file = _LazyFile(lambda: home() / "logs", said_once)
    file.setFormatter(JsonFormatter())
    handlers: list[logging.Handler] = [file]
    if json_stderr:
        err = _Stderr()
        err.setFormatter(JsonFormatter())
        handlers.append(err)
    elif verbose:
        err = _Stderr()
        err.setFormatter(HumanFormatter())
        err.addFilter(_NotShownAlready())
        handlers.append(err)
    elif needs_a_look:
        err = _Stderr()
        err.setFormatter(NeedsALookFormatter())
        err.addFilter(_NeedsALook())
        handlers.append(err)
    for handler in handlers:
        handler.addFilter(context)
        logger.addHandler(handler)
        for library in _LIBRARIES:
            logging.getLogger(library).addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    return Logging(handlers, previous)


def warnings_only(home: Callable[[], Path]) -> None:
    """For a process that sets no logging up (a sweep's pool worker, whose runs' containers warn): the warnings' lines
    (msg Warned, domain/tracing.py `log_warning`) to the log file, and nothing else. With no handler, each went to
    logging's last-resort handler, a bare "Warned" on the terminal after the warning itself, and never to the file.
    Appended, not rotated: the command's own handler rotates the file, and a worker's rare line may land in the
    rotated one. `home()` is asked at each line: a Ray worker outlives a sweep, and the next may have another home."""
    from logging import FileHandler

    class _Appended(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self._file: FileHandler | None = None

        def emit(self, record: logging.LogRecord) -> None:
            try:
                folder = home() / "logs"
                if self._file is None or Path(self._file.baseFilename) != (folder / LOG_FILE).absolute():
                    if self._file is not None:
                        self._file.close()
                    folder.mkdir(parents=True, exist_ok=True)
                    self._file = FileHandler(folder / LOG_FILE, encoding="utf-8")
                    self._file.setFormatter(self.formatter)
                self._file.emit(record)
            except Exception:  # the file is a copy for a log shipper: its failure is no worker's error
                return

    handler = _Appended()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_Context())
    logging.getLogger(WARNINGS_LOGGER).addHandler(handler)
