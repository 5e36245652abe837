"""The session's own set-up (tests/session_launch.py), each run in a process of its own started as a launcher would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.session_launch import BYTECODE_PREFIX

ROOT = Path(__file__).resolve().parent.parent

# What a grandchild Python says of Ctrl-C: "raises" when its handler is Python's own (KeyboardInterrupt).
_ASK_GRANDCHILD = (
    "import signal, subprocess, sys; "
    "print(subprocess.run([sys.executable, '-c', 'import signal; "
    'print("raises" if signal.getsignal(signal.SIGINT) is signal.default_int_handler else "ignores")\'], '
    "capture_output=True, text=True, check=True).stdout.strip())"
)


def _started_with_ctrl_c_ignored(script: str) -> str:
    """`script`'s output, run by a Python started as a background job of a script is (SIGINT ignored)."""
    started = ["bash", "-c", 'trap "" INT; exec "$0" -c "$1"', sys.executable, script]
    return subprocess.run(started, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def test_a_session_started_with_ctrl_c_ignored_still_has_its_processes_answer_it() -> None:
    assert _started_with_ctrl_c_ignored(_ASK_GRANDCHILD) == "ignores"  # what the session's processes met before
    answered = "from tests.session_launch import ctrl_c_answered; ctrl_c_answered(); " + _ASK_GRANDCHILD
    assert _started_with_ctrl_c_ignored(answered) == "raises"


def test_the_sessions_processes_keep_the_bytecode_they_compile_in_the_sessions_folder(tmp_path: Path) -> None:
    """This session's own environment, as every process a test starts inherits it: a module imported there leaves its
    bytecode in the session's folder, not beside its source."""
    folder = Path(os.environ["PYTHONPYCACHEPREFIX"])
    assert folder.name.startswith(BYTECODE_PREFIX) and "PYTHONDONTWRITEBYTECODE" not in os.environ
    module = tmp_path / "kept_here.py"
    module.write_text("VALUE = 1\n")
    subprocess.run([sys.executable, "-c", "import kept_here"], cwd=tmp_path, check=True)
    assert list(folder.glob(f"**/{tmp_path.name}/kept_here.*.pyc"))
    assert not (tmp_path / "__pycache__").exists()
