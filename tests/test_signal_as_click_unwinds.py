"""SIGTERM or Ctrl-C landing after the command has ended, while typer and click unwind to the console script (click
turning the command's end into its SystemExit): the command's own exit code, a success saying the stop in one warning
line, as a stop landing in the metrics or at the interpreter's exit does (README, exit codes). The console script's
handler is answering then, and took the moment for llmtrade's start: 143 (130) and "no command running", for a command
whose result was printed and whose work was on record, so cron and systemd reported a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmtrade.entry import ENDING_AFTER_A_COMMAND, INTERRUPTED_ENDING_AFTER_A_COMMAND

# The console script's entry point on the command line given after the signal's name, with that signal sent to the
# process itself as the command line's top command has ended, its handlers put back: a real signal, handled where click
# unwinds, at a moment the test chooses rather than a race against a timer.
_STOP_AS_CLICK_UNWINDS = """
import os, signal, sys

SIGNAL = getattr(signal, sys.argv[1])
sys.argv = ["llmtrade", *sys.argv[2:]]
from llmtrade import cli

invoke = cli._Group.invoke


def invoke_then_stop(self, ctx):
    try:
        return invoke(self, ctx)
    finally:
        os.kill(os.getpid(), SIGNAL)  # answered here, by the console script's handler: click has yet to unwind


cli._Group.invoke = invoke_then_stop
from llmtrade.entry import main
main()
"""


def _run(tmp_path: Path, signal_name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMTRADE_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable, "-c", _STOP_AS_CLICK_UNWINDS, signal_name, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("signal_name", "line"),
    [("SIGTERM", ENDING_AFTER_A_COMMAND), ("SIGINT", INTERRUPTED_ENDING_AFTER_A_COMMAND)],
)
def test_a_stop_as_click_unwinds_after_a_success_keeps_exit_0_with_one_warning_line(
    signal_name: str, line: str, tmp_path: Path
) -> None:
    done = _run(tmp_path, signal_name, "schema", "status")
    # Before: "error: terminated (SIGTERM) while llmtrade was starting or ending, no command running", and 143 (130).
    assert (done.returncode, done.stderr.splitlines()) == (0, [line])
    assert json.loads(done.stdout)["$schema"]  # the result, whole


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_stop_as_click_unwinds_after_a_failure_keeps_the_failures_code_and_line(
    signal_name: str, tmp_path: Path
) -> None:
    done = _run(tmp_path, signal_name, "schema", "no-such-schema")
    # Before: the usage error's line, then the stop's "no command running" line, and 143 (130) for a usage error.
    assert done.returncode == 2, done.stderr
    [said] = done.stderr.splitlines()
    assert said.startswith("error: ") and "no-such-schema" in said
