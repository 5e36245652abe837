"""A reader that stops reading never stops a command: `llmtrade run-weekly 2>&1 | head -2`, or a log shipper that dies.

Python ignores SIGPIPE and raises BrokenPipeError from the write instead. Uncaught, that ended a weekly run in its
first stage with exit 1 and not a word (its progress lines go to stderr: the run was gone at "market_snapshot:
started"), and a finished command whose table met a closed pipe (`llmtrade status | head -1`) exited 1, the code that
asks for a look, from click's own EPIPE handler. Here, once a stream's reader is gone, what is written to it goes
nowhere (its file descriptor is pointed at os.devnull, so a flush at exit cannot raise again either), and the command
runs on to its own end and exit code. Nothing is lost: the command records what it did in events, not in its output.
Coreutils die by the signal instead (exit 141), which suits a filter; a command that trades must not stop half-way.
See https://docs.python.org/3/library/signal.html#note-on-sigpipe for the descriptor's redirection.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO


class ReaderTolerant:
    """`stream` (a text stream with a file descriptor: sys.stdout, sys.stderr), whose writes and flushes succeed
    silently once its reader has gone (BrokenPipeError: Python's OSError for EPIPE); `gone` says whether it has. Every
    other attribute is `stream`'s (encoding, isatty, fileno...), so click, rich and print treat it as the stream."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._went()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.gone:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._went()

    def _went(self) -> None:
        self.gone = True
        # What the stream still buffers is flushed again at exit (and by its own close): into os.devnull, it cannot
        # fail. Children started from now on (the embedded server, a worker) inherit os.devnull too.
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, self._stream.fileno())
            finally:
                os.close(null)
        except (OSError, ValueError):  # no descriptor (a test's stream): writes are dropped here all the same
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def reader_left(stream: TextIO) -> None:
    """Say that `stream`'s reader has gone, found by a write that went past it (`report -o -` writes its page to
    stdout's binary buffer): it is then `gone`, and a flush at exit cannot raise."""
    if isinstance(stream, ReaderTolerant):
        stream._went()


def reader_gone(stream: TextIO) -> bool:
    """Whether a write to `stream` found its reader gone (`| head -c 100` read what it wanted)."""
    return isinstance(stream, ReaderTolerant) and stream.gone


def tolerate_gone_readers() -> None:
    """Wrap sys.stdout and sys.stderr (each once; a missing one, as under pythonw, is left) in `ReaderTolerant`."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, ReaderTolerant):
            _escape_what_it_cannot_hold(stream)
            setattr(sys, name, ReaderTolerant(stream))


def _escape_what_it_cannot_hold(stream: TextIO) -> None:
    """A stream whose encoding cannot hold every character (a legacy locale's latin-1, PYTHONIOENCODING=ascii) writes
    those it cannot as escapes (`\\u2026`), as Python's own stderr does: strict, the first clipped payload's "…" or a
    question in Japanese ended a command half-way in a UnicodeEncodeError traceback, exit 1. A UTF-8 stream (the C
    and POSIX locales' too, in Python's UTF-8 mode) is left as it is."""
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    if encoding in ("utf8", "utf8sig") or getattr(stream, "errors", None) != "strict":
        return
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
