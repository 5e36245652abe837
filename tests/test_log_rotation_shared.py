"""Two commands writing the log at once (cron's run-due beside one typed) rotate it once when it is full, and lose no
line (observe/logs.py `_LazyFile._rotate`). Each counts only the bytes it wrote: both rotated, the second moving the
first's new, near-empty file out, so an old file was dropped early, while its own lines went on into the file already
rotated."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from llmtrade.observe import logs
from llmtrade.observe.logs import LOG_FILE, JsonFormatter

MAX = 4_000


def _handler(home: Path) -> logging.Handler:
    handler = logs._LazyFile(lambda: home / "logs")  # each as a process of its own would make it
    handler.setFormatter(JsonFormatter())
    return handler


def _record(text: str) -> logging.LogRecord:
    return logging.LogRecord("llmtrade", logging.INFO, __file__, 1, text, None, None)


def test_two_writers_rotate_a_full_log_once_and_lose_no_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_MAX_BYTES", MAX)
    first, second = _handler(tmp_path), _handler(tmp_path)
    written = []
    try:
        for n in range(90):  # about 3 full files' worth, under the 5 old files kept
            for name, handler in (("a", first), ("b", second)):
                text = f"{name}-{n:03d}"
                handler.emit(_record(text))
                written.append(text)
            first.flush()
            second.flush()
    finally:
        first.close()
        second.close()
    folder = tmp_path / "logs"
    files = sorted(folder.glob(f"{LOG_FILE}*"))
    found = [line for path in files for line in path.read_text().splitlines()]
    joined = "\n".join(found)
    assert len(found) == len(written) and all(f'"{text}"' in joined for text in written)  # no line lost
    rotated = [path for path in files if path.name != LOG_FILE]
    assert rotated, files
    line = max(len(x) + 1 for x in found)
    for path in rotated:  # each rotated once full, never as the other's fresh, near-empty file
        assert path.stat().st_size > MAX - line, (path.name, path.stat().st_size)
