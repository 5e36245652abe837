"""Output to a stream whose encoding cannot hold every character (a cron or ssh session under a legacy locale,
LANG=en_US.ISO-8859-1, or PYTHONIOENCODING=ascii) is written with the others escaped, never a traceback.

Found in a trial under cron: `events` printed its table up to the first clipped payload ("…") and ended in a
UnicodeEncodeError traceback, exit 1; `council` with a question in Japanese did the same half-way through its answers.
(Under LANG=C alone Python writes UTF-8: its UTF-8 mode is on for the C and POSIX locales.)"""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from llmtrade.readers import ReaderTolerant, tolerate_gone_readers


def test_a_council_question_in_japanese_prints_escaped_on_a_latin_1_stream(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "PYTHONIOENCODING": "latin-1"}
    command = [sys.executable, "-m", "llmtrade", "council", "Is the dollar strong? ドル", "--offline"]
    done = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert "Traceback" not in done.stderr.decode("latin-1"), done.stderr.decode("latin-1")
    assert done.returncode == 0
    assert rb"\u30c9\u30eb" in done.stdout  # what the stream cannot hold, escaped: not lost, not a crash


def test_the_streams_escape_what_their_encoding_cannot_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii", errors="strict"))
    tolerate_gone_readers()
    assert isinstance(sys.stdout, ReaderTolerant)
    print("clipped…", file=sys.stdout)
    sys.stdout.flush()
    assert raw.getvalue() == b"clipped\\u2026\n"
