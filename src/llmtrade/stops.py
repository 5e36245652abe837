"""How a command answers Ctrl-C and SIGTERM: each raised where the command is (KeyboardInterrupt, `Terminated`), held
while a step that must not be cut short runs (`signals_held`), and answered so for a worker's whole life
(`stops_answered_for_good`). exits.py maps the stop to its exit code and its one line."""

from __future__ import annotations

import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

# Before a command starts and after it ends, SIGTERM is answered by the console script's own handler (entry.py):
# importing the command line takes long enough for cron's `timeout` to land there.


# Set by the SIGTERM handler: the command was told to stop, whatever error its way out then raised.
_TERM_RECEIVED = threading.Event()
# Set when a Ctrl-C's KeyboardInterrupt was raised where Python could only drop it (`_unraisable`).
_CTRL_C_LOST = threading.Event()
# The exit code of the command the command line ran, once it has ended (empty before, and while it runs): `ended`.
_ENDED: list[int] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, as KeyboardInterrupt is for Ctrl-C: every path that stops cleanly on
    Ctrl-C (a run recorded failed, a backtest's held week written, tasks cancelled) stops the same way."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises Terminated in the main thread (signals reach only it); the handler that was
    there before is put back after."""
    _TERM_RECEIVED.clear()
    _CTRL_C_LOST.clear()
    previous, sys.unraisablehook = sys.unraisablehook, partial(_unraisable, sys.unraisablehook)
    try:
        with handling(signal.SIGTERM, _terminated):
            yield
    finally:
        sys.unraisablehook = previous


def _unraisable(previous: Callable[[Any], object], unraisable: Any) -> None:
    """A stop raised in a weakref callback or a finaliser (importlib's module locks have one), where Python can only
    drop it: printed as "Exception ignored in ..." with its traceback before the stop's one line (a trial's SIGTERM
    at a backtest's start). Not printed: a SIGTERM is the command's end all the same (`_TERM_RECEIVED`), and a Ctrl-C
    is kept for `stop_if_terminated`; anything else is printed as Python does. A SystemExit(15) dropped so is a SIGTERM
    too: Ray's handler's, in place while ray.init starts (sys.exit(15)); landing in logging's at-fork hook, it was
    printed and the sweep went on starting (sweep/ray_executor.py puts the command's handler back, then asks)."""
    exc = unraisable.exc_value
    if isinstance(exc, SystemExit) and exc.code == signal.SIGTERM:
        _TERM_RECEIVED.set()
        return
    if not isinstance(exc, KeyboardInterrupt):
        previous(unraisable)
    elif not isinstance(exc, Terminated):
        _CTRL_C_LOST.set()


@contextmanager
def ctrl_c_as_interrupt() -> Iterator[None]:
    """Within the block Ctrl-C raises KeyboardInterrupt, as Python's own handler does: the console script answers it
    itself before and after a command (entry.py), and asyncio.run and a backtest (app/backtest_process.py) look for
    Python's handler to put theirs in its place. An ignored Ctrl-C stays ignored."""
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.default_int_handler):
        yield
        return
    with handling(signal.SIGINT, signal.default_int_handler):
        yield


@contextmanager
def signals_held() -> Iterator[None]:
    """Within the block Ctrl-C and SIGTERM wait: each that came is answered when the block ends, by the handler that
    was there before (raised again), for a step that must not be cut short midway. Off the main thread (signals reach
    only it) nothing is changed.

    A block that fails after one came ends in the stop, raised from the failure: a terminal's Ctrl-C reaches the
    whole process group, so a child the block waits for is stopped too, and its failure is the stop's doing (a first
    command's initdb, killed so, was "could not start the embedded PostgreSQL", exit 1, with initdb's whole output).
    A handler before that raises nothing (SIG_IGN) leaves the failure as it was."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []

    def hold(signum: int, frame: object) -> None:
        came.append(signum)

    failure: BaseException | None = None
    with handling(signal.SIGINT, hold), handling(signal.SIGTERM, hold):
        try:
            yield
        except BaseException as exc:
            if not came:
                raise
            failure = exc
    try:
        for signum in dict.fromkeys(came):
            signal.raise_signal(signum)
    except BaseException as stop:
        if failure is None:
            raise
        raise stop from failure
    if failure is not None:
        raise failure


@contextmanager
def handling(signum: signal.Signals, handler: Callable[[int, object], None]) -> Iterator[None]:
    """Within the block `handler` answers `signum`, and the handler before it is put back after; off the main
    thread (signals reach only it, and only it may set a handler) nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def _terminated(signum: int, frame: object) -> None:
    _TERM_RECEIVED.set()
    _never_awaited_unsaid()
    raise Terminated


def stops_answered_for_good() -> None:
    """For a worker process's whole life (a sweep's): SIGTERM raises Terminated in its main thread, as it does in a
    command (`sigterm_as_interrupt`), so the worker's run stops as on Ctrl-C, its stop recorded in its books; Ctrl-C
    raises KeyboardInterrupt, and neither leaves a "coroutine ... was never awaited" warning behind (`_terminated`).
    Killed outright by a SIGTERM sent to the group (`timeout`, systemd), the workers left the pool's queues half-used,
    and multiprocessing's resource tracker printed "There appear to be 10 leaked semaphore objects" after the
    sweep's one line; a Ctrl-C printed a worker's "RuntimeWarning: coroutine 'Committee.reviews.<locals>.one' was
    never awaited", and a SIGTERM landing in a weakref callback "Exception ignored in ..." and Terminated's traceback
    (`_unraisable`: the run stops at its next job, `stop_if_terminated`) (a new user's trials)."""
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGINT, _interrupted)
    sys.unraisablehook = partial(_unraisable, sys.unraisablehook)


def _interrupted(signum: int, frame: object) -> None:
    _never_awaited_unsaid()
    signal.default_int_handler(signum, frame)  # type: ignore[arg-type]


def _never_awaited_unsaid() -> None:
    # The stop lands anywhere: between making a job's coroutine and awaiting it, it leaves one never started, and its
    # collection printed "RuntimeWarning: coroutine ... was never awaited" (and tracemalloc's hint) after the stop's one
    # line (seen once in CI's SIGTERM test under load). Nothing of it ran, so nothing is lost: it is not said.
    warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited", category=RuntimeWarning)


def stop_if_terminated() -> None:
    """Raise Terminated when SIGTERM came and its raise was lost: a signal landing in a weakref callback or a
    finaliser is dropped (`_unraisable`) and the command ran on (a 10-week backtest finished and exited 0, found by
    the SIGTERM test in a full run); KeyboardInterrupt for a Ctrl-C dropped so. For long loops, between their steps;
    only within a command that answers SIGTERM so (`sigterm_as_interrupt`): the flag outlives the command."""
    if _TERM_RECEIVED.is_set() and signal.getsignal(signal.SIGTERM) is _terminated:
        raise Terminated
    if _CTRL_C_LOST.is_set():  # a Ctrl-C dropped where it landed (`_unraisable`): said here
        _CTRL_C_LOST.clear()
        raise KeyboardInterrupt


def command_ended(code: int | None) -> None:
    """The command the command line ran ended with exit `code` (None: one is starting, none has ended)."""
    _ENDED[:] = [] if code is None else [code]


def ended() -> int | None:
    """The exit code of the command that has ended, while typer and click unwind to the console script (entry.py): a
    stop landing then keeps it. None while none has ended."""
    return _ENDED[0] if _ENDED else None


def sigterm_received() -> bool:
    """Whether SIGTERM came during the command (`sigterm_as_interrupt`), whatever error its way out then raised."""
    return _TERM_RECEIVED.is_set()
