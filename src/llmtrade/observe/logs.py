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
from collections.abc import Callable
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from llmtrade.domain.tracing import LOGGER, log_context

LOG_FILE = "llmtrade.jsonl"
_MAX_BYTES = 10 * 1024 * 1024
_BACKUPS = 5
_HUMAN_ORDER = ("run_id", "stage", "account", "week")
_SHOWN_ALREADY = frozenset({"RunFailed"})


def line_fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record as the JSON line's object: ts (UTC, ISO 8601), level, logger, msg, then the ids."""
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    fields.update(getattr(record, "context", None) or {})
    fields.update(getattr(record, "fields", None) or {})
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(line_fields(record), default=str, ensure_ascii=False)


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
    """Stamps the log context onto the record in the thread and task that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.context = dict(log_context())
        return True


class _NotShownAlready(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in _SHOWN_ALREADY


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


class _LazyFile(logging.Handler):
    """A rotating JSON-lines file, opened on the first line: its folder comes from the settings, which a
    command reads only when it needs them.

    Rotates as RotatingFileHandler does, but counts the bytes it wrote instead of formatting each record a
    second time to measure it (the standard handler's shouldRollover does): a run writes a line per event."""

    terminator = "\n"

    def __init__(self, folder: Callable[[], Path]):
        super().__init__()
        self._folder = folder
        self._file: RotatingFileHandler | None = None
        self._size = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = (self.format(record) + self.terminator).encode()
            if self._file is None:
                folder = self._folder()
                folder.mkdir(parents=True, exist_ok=True)
                self._file = RotatingFileHandler(
                    folder / LOG_FILE, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
                )
                self._size = (folder / LOG_FILE).stat().st_size
            if self._size and self._size + len(line) > _MAX_BYTES:
                self._file.doRollover()
                self._size = 0
            stream = self._file.stream
            stream.write(line.decode())
            stream.flush()  # a line is on disk before the next step runs: a crash loses none
            self._size += len(line)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
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
            handler.close()
        logger.setLevel(self._level)


def configure(home: Callable[[], Path], *, json_stderr: bool = False, verbose: bool = False) -> Logging:
    """Install this command's handlers on the `llmtrade` logger (INFO and up); `home()` is LLMTRADE_HOME."""
    logger = logging.getLogger(LOGGER)
    context = _Context()
    file = _LazyFile(lambda: home() / "logs")
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
    for handler in handlers:
        handler.addFilter(context)
        logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    return Logging(handlers, previous)
