"""SIGTERM or Ctrl-C in the moments after a command has printed its result: the one line and the documented code, or
the command's own end, never the process killed by the signal (a trial's `timeout -s INT` landing 50-150 ms after a
backtest's result ended it with -2 and no line). llmtrade/entry.py ends the process itself once the exit functions
have run, before the interpreter gives the signals back to their default action; cli.py says a stop that lands while
the command's handlers are put back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade import cli, stops
from llmtrade.entry import ENDING_AFTER_A_COMMAND, INTERRUPTED_ENDING_AFTER_A_COMMAND

# Runs the console script's entry point on `llmtrade schema status` (no database), with a signal (its name the first
# argument) sent to itself at a moment of the process's end (the second): a real signal, at a point the test
# chooses rather than a race against a timer.
_STOP_AT_EXIT = """
import atexit, os, signal, sys

SIGNAL, AT = getattr(signal, sys.argv[1]), sys.argv[2]


def stop():
    os.kill(os.getpid(), SIGNAL)


class StopWhenCollected:
    def __del__(self, kill=os.kill, pid=os.getpid(), signum=SIGNAL):  # the module's names may be gone by then
        kill(pid, signum)


if AT == "teardown":
    held = StopWhenCollected()  # a global of __main__: collected as the interpreter tears its modules down


class RegisterAtImport:  # as a module the command imports registers its exit function (logging's, multiprocessing's)
    def find_spec(self, name, path=None, target=None):
        if name == "llmtrade.cli" and AT == "exit functions":
            atexit.register(stop)
        return None


sys.meta_path.insert(0, RegisterAtImport())
sys.argv = ["llmtrade", "schema", "status"]
from llmtrade.entry import main
main()
"""


def _run(signal_name: str, at: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMTRADE_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable, "-c", _STOP_AT_EXIT, signal_name, at],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_signal_as_the_interpreter_tears_down_does_not_kill_a_finished_command(
    signal_name: str, tmp_path: Path
) -> None:
    done = _run(signal_name, "teardown", tmp_path)
    # Before: the interpreter had put the default action back, and the signal killed the process (-15, -2).
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["$schema"]  # the result, whole


@pytest.mark.parametrize(
    ("signal_name", "line"),
    [("SIGTERM", ENDING_AFTER_A_COMMAND), ("SIGINT", INTERRUPTED_ENDING_AFTER_A_COMMAND)],
)
def test_a_signal_in_the_exit_functions_after_a_success_is_one_line_and_keeps_exit_0(
    signal_name: str, line: str, tmp_path: Path
) -> None:
    done = _run(signal_name, "exit functions", tmp_path)
    # Before: "Exception ignored in atexit callback" and SystemExit's traceback, and exit 0; then the stop's one line
    # and 143 (130), a failure for cron or systemd of a command whose work was done and its result printed.
    assert (done.returncode, done.stderr.splitlines()) == (0, [line])
    assert json.loads(done.stdout)["$schema"]  # printed before it: kept


def test_a_ctrl_c_as_the_commands_handlers_are_put_back_after_a_success_is_one_warning_line_and_exit_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @contextmanager
    def put_back_under_a_ctrl_c() -> Iterator[None]:
        yield
        raise KeyboardInterrupt  # as a Ctrl-C landing in the handler's restore, the command's end decided

    monkeypatch.setattr(cli, "ctrl_c_as_interrupt", put_back_under_a_ctrl_c)
    result = CliRunner().invoke(cli.app, ["schema", "status"])
    # At first typer's own exit 130, without a word; then the stop's line and 130 for a command whose work was done, as
    # it still is for a stop that lands as the command begins (below). Its code stands, as after its metrics.
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [INTERRUPTED_ENDING_AFTER_A_COMMAND]
    assert json.loads(result.stdout)["$schema"]


def test_a_ctrl_c_as_the_commands_handlers_are_put_in_place_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @contextmanager
    def ctrl_c_at_once() -> Iterator[None]:
        raise KeyboardInterrupt  # as a Ctrl-C landing as the handler is put in place, before the command began
        yield

    monkeypatch.setattr(cli, "ctrl_c_as_interrupt", ctrl_c_at_once)
    result = CliRunner().invoke(cli.app, ["schema", "status"])
    assert result.exit_code == 130 and result.stdout == ""
    [said] = result.stderr.splitlines()
    assert said.startswith("error: interrupted (Ctrl-C);")


def _in_a_weakref_callback(stop: Callable[[], None]) -> None:
    """`stop` called in a weakref callback, as a signal's handler runs when the signal lands in one (importlib's module
    locks have one): Python can only drop what it raises there."""

    class Referent:
        pass

    referent = Referent()
    held = weakref.ref(referent, lambda _ref: stop())
    del referent
    assert held() is None


def _ctrl_c() -> None:
    raise KeyboardInterrupt


def test_a_sigterm_dropped_in_a_weakref_callback_prints_nothing_and_still_stops(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with stops.sigterm_as_interrupt():
        _in_a_weakref_callback(lambda: stops._terminated(signal.SIGTERM, None))
        # Before: "Exception ignored in: <function ...>" and Terminated's traceback, above the stop's one line.
        assert capfd.readouterr().err == ""
        with pytest.raises(stops.Terminated):
            stops.stop_if_terminated()
    stops._TERM_RECEIVED.clear()  # no later test of this process is taken for a stopped command


def test_a_ctrl_c_dropped_in_a_weakref_callback_prints_nothing_and_stops_the_loop(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with stops.sigterm_as_interrupt():
        _in_a_weakref_callback(_ctrl_c)
        assert capfd.readouterr().err == ""
        # Before: lost, the backtest ran on to its end.
        with pytest.raises(KeyboardInterrupt):
            stops.stop_if_terminated()
        stops.stop_if_terminated()  # said once
