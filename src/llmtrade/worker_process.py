"""A command's helper processes (analytics/draws.py, market/paths_ahead.py): what one runs first (it leaves Ctrl-C and
SIGTERM to its parent and ends with it), and how the command stops one at once, never waiting on it for good
(`stop_helper`: the paths worker's). Each is spawned with Ctrl-C and SIGTERM held back (`spawning`): a stop
landing between the spawn and the start-up data the parent then writes to it left the child reading an empty pipe,
and it printed "EOFError: Ran out of input" and its traceback after the stop's one line (found by a new user's
trial), never known to the parent, so never stopped by it."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.resource_tracker
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from llmtrade.stops import signals_held

# Held while a paths worker is started, so that each tells its own process from the children there before it
# (backtests on threads). analytics/draws.py holds a lock of its own.
STARTING = threading.Lock()


_STOPS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def spawning() -> Iterator[Callable[[], list[multiprocessing.process.BaseProcess]]]:
    """For a block that spawns helper processes: yields what gives the processes spawned in it so far (the command's
    other children, there before, left out). Ctrl-C and SIGTERM are held for the parent until the block ends
    (stops.signals_held: a stop landing between a spawn and the start-up data the parent then writes left the child
    reading an empty pipe), and blocked for this thread meanwhile, so each child starts with them blocked (the mask
    is inherited across fork and exec; multiprocessing's resource tracker is started first, whose start unblocked
    them) until its initializer ignores or answers them (`started_as_helper`, `stops_unblocked`). A Ctrl-C at a
    terminal reaches the whole group: a helper still importing printed its "KeyboardInterrupt" traceback after the
    command's one line (new users' trials: a sweep stopped as a run's paths worker started; `report` and `leaderboard`
    as their draws worker did): Python answers SIGINT from its first moments, long before a helper's initializer
    can."""
    with signals_held():
        before = set(multiprocessing.active_children())

        def spawned() -> list[multiprocessing.process.BaseProcess]:
            return [child for child in multiprocessing.active_children() if child not in before]

        if not hasattr(signal, "pthread_sigmask"):  # not POSIX: nothing to inherit
            yield spawned
            return
        # multiprocessing starts its resource tracker at a process's first spawn, and unblocks SIGINT and SIGTERM once
        # it has (its own guard of that spawn): started inside the block, it undid the block for every child after it.
        _tracker_quiet()
        multiprocessing.resource_tracker.ensure_running()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        try:
            yield spawned
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


# The resource tracker's warning of the semaphores it unlinks when the process that made them died without doing so:
# after a backtest killed outright (SIGKILL, the OOM killer) it printed "resource_tracker.py:254: UserWarning:
# resource_tracker: There appear to be 5 leaked semaphore objects to clean up at shutdown" and its source line on the
# terminal, after the shell's prompt (a new user's trial). It cleans them up all the same; a kill loses nothing of the
# books (the next start resumes), so there is nothing to say. The tracker is started with the interpreter's -W options
# (multiprocessing.util._args_from_interpreter_flags reads sys.warnoptions), so this one ignores that warning alone.
_TRACKER_QUIET = "ignore::UserWarning:multiprocessing.resource_tracker"


def _tracker_quiet() -> None:
    if _TRACKER_QUIET not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_QUIET)


def stopped_while_starting() -> bool:
    """Whether a Ctrl-C or SIGTERM came while this process started with them blocked (`spawning`): its parent is
    being stopped, as the group is."""
    return hasattr(signal, "sigpending") and bool(signal.sigpending() & _STOPS)


def stops_unblocked() -> None:
    """Ctrl-C and SIGTERM no longer blocked (`spawning`): answered from here by the handlers set."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


def started_as_helper() -> None:
    """A ProcessPoolExecutor's initializer for a helper process.

    Ctrl-C reaches the whole process group: the command handles it and shuts the helper down; the helper itself must
    not die printing a traceback of its own. So does a SIGTERM sent to the group (`timeout`, systemd's control group, a
    CI runner), which the command answers as it does Ctrl-C: a helper ended by it on the spot could be midway through
    writing an answer to its pipe, and the pool's reader in the command then waits for the rest for good (the pool
    keeps the pipe's writing end open too), and the command's way out with it. A parent killed outright (SIGKILL, the
    OOM killer) shuts nothing down, and the helper holds both ends of its call queue, so it would wait for work for
    good, holding the command's stderr: it goes when the parent does. Both were blocked from the helper's first
    instruction (`spawning`): a stop that came while it started is dropped here, ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stops_unblocked()
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="llmtrade-helper-parent", daemon=True).start()


def without_library_warnings() -> None:
    """For a worker process that runs the command's work but sets no logging up (a sweep's): the libraries' own
    warnings reach no terminal through logging's last-resort handler, as the command's go to its log file
    (observe/logs.py). A Ctrl-C stopping a sweep worker's query printed psycopg's "error ignored in rollback of
    <psycopg.Transaction ...>: sending query failed: another command is already in progress" before the sweep's one
    line (a new user's trial); the run's own end is recorded in its books and the sweep's."""
    logging.getLogger("psycopg").addHandler(logging.NullHandler())


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent's sentinel fires: it has ended, however
    os._exit(0)


def stop_helper(pool: ProcessPoolExecutor, process: multiprocessing.process.BaseProcess | None) -> None:
    """Stop a helper at once: its process killed, whatever it is doing (still starting: seconds on a loaded machine, a
    stopped command's way out waited for them; an orderly exit of one that imported numpy or pandas takes 0.3-0.7 s),
    then its pool shut down.

    A helper killed midway through writing an answer to its pipe leaves the pool's reader waiting for the rest, and the
    pool keeps the pipe's writing end open itself, so the pipe never ends and the shutdown waited for good (it hung a
    test of the paths worker). Once the process is gone that end is closed: the reader meets the pipe's end, the pool
    is broken, and the shutdown returns. Only a process still alive is killed: a reaped child's pid may have been
    given to another."""
    if process is not None:
        if process.is_alive():
            process.kill()
        if multiprocessing.connection.wait([process.sentinel], timeout=30):  # gone: nothing more of it is written
            writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)  # CPython's ProcessPoolExecutor
            if writer is not None:
                writer.close()
    pool.shutdown(wait=True, cancel_futures=True)


# How long a pool process asked to end (`terminate`) has before it is killed: a busy sweep worker stops its run as on
# SIGTERM within the driver's own grace (sweep/executors.py `_GRACE`, 3 s), its stop recorded in the run's books.
TERMINATE_GRACE = 5.0


class _EndedInTime(multiprocessing.context.SpawnProcess):
    """A spawned pool process whose `terminate` ends it, even one that ignores SIGTERM while it waits for work.

    A ProcessPoolExecutor that finds one of its processes dead (killed, out of memory) ends the others with
    `terminate` (SIGTERM) and, from Python 3.12 on, joins them under the executor's lock without sending them the
    end-of-work marker it sends on a shutdown (CPython's `_terminate_broken`): a sweep worker waiting for work
    ignores SIGTERM (sweep/pool_worker.py `_idle`: a stop sent to the group is the driver's to answer), so the join
    never returned, and the next `submit` (the lost run's retry on a fresh pool) waited for the lock for good. Found
    running the suite on Python 3.12 (tests/test_sweep_kill.py hung); 3.11 sends the marker, so the worker ended.
    SIGTERM is still sent first, so a busy worker stops its run as it does on a stop; one still there after
    TERMINATE_GRACE is killed."""

    def terminate(self) -> None:
        super().terminate()
        timer = threading.Timer(TERMINATE_GRACE, self._kill_if_running)
        timer.daemon = True
        timer.start()

    def _kill_if_running(self) -> None:
        # The return code is read, not polled: a poll here would reap the process under the pool's own join. Set once
        # the join has reaped it, so a pid the system gave to another process since is never signalled.
        popen = getattr(self, "_popen", None)
        if popen is not None and popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGKILL)


class _SpawnEndedInTime(multiprocessing.context.SpawnContext):
    Process = _EndedInTime


def spawn_context() -> multiprocessing.context.SpawnContext:
    """The spawn start method for a process pool, its processes ended within TERMINATE_GRACE when the pool ends them
    as broken (`_EndedInTime`). The resource tracker is told to keep quiet first (`_tracker_quiet`): a pool starts it
    as it is made (its queues' semaphores), before any `spawning` block, so a sweep driver killed outright still had
    it print "leaked semaphore objects" on the terminal."""
    _tracker_quiet()
    return _SpawnEndedInTime()
