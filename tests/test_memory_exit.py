"""`llmtrade memory search --week` and `memory stats` in a process of their own: exit 0 every time.

They made the packaged embedder, whose loading thread (tokenizers, safetensors: native code) was still running when
the command ended; Python 3.11 unwinds such a daemon thread at exit, and glibc aborted the process with
`FATAL: exception not rethrown` (exit 134), about one run in three."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from tests.test_memory_cli import WEEKS, remembered  # noqa: F401 - the fixture

RUNS = 12


def _exit(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "llmtrade", *args], env=env, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stderr


def test_memory_search_by_week_and_stats_always_exit_0(remembered: None, cli_env: dict[str, str]) -> None:  # noqa: F811
    commands = [("memory", "search", "--week", str(WEEKS[5])), ("memory", "stats")] * (RUNS // 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        ends = list(pool.map(lambda command: _exit(cli_env, *command), commands))
    failed = [(code, err) for code, err in ends if code != 0]
    assert not failed, failed
