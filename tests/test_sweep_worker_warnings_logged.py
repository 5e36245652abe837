"""A warning said in a sweep's pool worker (a prompt override that leaves something out, said by each run's
container) was followed on the terminal by a bare line "Warned": the worker sets no logging up, so log_warning's record
went to logging's last-resort handler (stderr, its message alone), and the log file never had it. Seen in a trial:
`backtest sweep --executor local` with LLMTRADE_PROMPTS_DIR set printed the warning, then "Warned" twice.

The pool worker's start now sends the warnings' lines (and only them) to LLMTRADE_HOME/logs/llmtrade.jsonl."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_WORKER = """
from llmtrade.sweep.pool_worker import warnings_to_log_file
from llmtrade.domain.tracing import log_warning

warnings_to_log_file()
log_warning("prompt override X leaves out what the packaged one shows the model")
"""


def test_a_pool_workers_warning_goes_to_the_log_file_not_to_the_terminal_as_warned(
    tmp_path: Path, clean_environment: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WORKER],
        env={"LLMTRADE_HOME": str(clean_environment), "PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Warned" not in done.stderr, done.stderr
    [line] = [json.loads(x) for x in (clean_environment / "logs" / "llmtrade.jsonl").read_text().splitlines()]
    assert line["msg"] == "Warned" and line["level"] == "warning"
    assert line["text"] == "prompt override X leaves out what the packaged one shows the model"


def test_a_process_that_sets_no_logging_up_prints_no_bare_warned() -> None:
    """A Ray worker, or a program using llmtrade as a library, sets no logging up: a warning's line must not reach
    logging's last-resort handler (a bare "Warned" on stderr after the warning the caller said itself)."""
    done = subprocess.run(
        [sys.executable, "-c", "from llmtrade.domain.tracing import log_warning; log_warning('a warning')"],
        env={"PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
