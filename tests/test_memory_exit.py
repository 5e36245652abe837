"""`llmtrade memory search --week` and `memory stats` in a process of their own: exit 0 every time.

They made the packaged embedder, whose loading thread (tokenizers, safetensors: native code) was still running when
the command ended; Python 3.11 unwinds such a daemon thread at exit, and glibc aborted the process with
`FATAL: exception not rethrown` (exit 134), about one run in three.

A run's exit code shows that only by chance (12 runs missed it one time in 120, and cost a minute of a loaded
machine): each run here also reports, from inside the process, every thread it started and the daemon threads still
alive when the interpreter finalizes, the cause itself, found at every run. The long loop of runs is
benchmarks/memory_exit_soak.py."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.test_memory_cli import WEEKS, remembered  # noqa: F401 - the fixture

RUNS = 4

# Runs `python -m llmtrade ARGS`, then says on stderr's last line the threads it started (name, daemon) and the
# daemon threads alive as it ends (entry.py ends the process with os._exit, after the exit functions, once the
# interpreter has joined its non-daemon threads; an interpreter that finalized would unwind those daemon threads).
PROBE = """
import json, os, runpy, sys, threading
started = []
_start, _exit = threading.Thread.start, os._exit
def start(self):
    started.append([self.name, self.daemon])
    _start(self)
def ended(code):
    alive = [t.name for t in threading.enumerate() if t.daemon and t.is_alive()]
    os.write(2, ("\\nTHREADS " + json.dumps({"started": started, "daemon_alive": alive}) + "\\n").encode())
    _exit(code)
threading.Thread.start, os._exit = start, ended
sys.argv = ["llmtrade", *sys.argv[1:]]
runpy.run_module("llmtrade", run_name="__main__", alter_sys=True)
"""


def _exit(env: dict[str, str], *args: str) -> tuple[int, str, dict[str, Any]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=60)
    threads = [line for line in done.stderr.splitlines() if line.startswith("THREADS ")]
    return done.returncode, done.stderr, json.loads(threads[-1].removeprefix("THREADS ")) if threads else {}


def test_memory_search_by_week_and_stats_always_exit_0(remembered: None, cli_env: dict[str, str]) -> None:  # noqa: F811
    commands = [("memory", "search", "--week", str(WEEKS[5])), ("memory", "stats")] * (RUNS // 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        ends = list(pool.map(lambda command: _exit(cli_env, *command), commands))
    failed = [(code, err) for code, err, _ in ends if code != 0]
    assert not failed, failed
    for command, (_, err, threads) in zip(commands, ends, strict=True):
        assert threads, (command, err)  # the probe ran to the end
        # The cause, at every run: no thread still running when the interpreter finalizes (where a daemon one in
        # native code was unwound), and the embedder, which these commands never use, not even loaded.
        assert threads["daemon_alive"] == [], (command, threads)
        assert not any(name == "embedder-warm-up" for name, _ in threads["started"]), (command, threads)
