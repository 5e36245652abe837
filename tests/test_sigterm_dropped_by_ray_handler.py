"""ray.init has its own SIGTERM handler in while it starts (sys.exit(15)). A SIGTERM landing where Python can only drop
what a handler raises (an at-fork hook: logging's `_releaseLock`) printed "Exception ignored ... SystemExit: 15" and
the sweep went on starting ("not stopped", test_sweep_ray_stops in a full run). Such a SystemExit is the command's
SIGTERM: kept, so `stop_if_terminated` raises it once the command's handler is back (sweep/ray_executor.py)."""

from __future__ import annotations

import signal
import sys
from types import SimpleNamespace

import pytest

from llmtrade.stops import Terminated, sigterm_as_interrupt, stop_if_terminated


def _dropped(exc: BaseException) -> None:
    """What Python does with an exception raised where it cannot be raised on: hand it to sys.unraisablehook."""
    args = SimpleNamespace(exc_type=type(exc), exc_value=exc, exc_traceback=None, err_msg=None, object=None)
    sys.unraisablehook(args)


def test_a_sigterm_exit_dropped_while_the_command_answers_sigterm_is_its_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    printed: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", printed.append)  # Python's own hook prints "Exception ignored ..."
    with sigterm_as_interrupt():
        _dropped(SystemExit(signal.SIGTERM))
        with pytest.raises(Terminated):
            stop_if_terminated()
    assert printed == []


def test_another_exit_dropped_is_handed_on_as_python_does_and_stops_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    printed: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", printed.append)
    with sigterm_as_interrupt():
        _dropped(SystemExit(2))
        stop_if_terminated()  # raises nothing
    assert len(printed) == 1
