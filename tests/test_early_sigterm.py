"""SIGTERM or Ctrl-C before a command starts (while the command line is still importing) is one line and exit 143 or
130, as a stopped command's is (llmtrade/entry.py). Found by the new-user trials: `timeout` hitting a slow start ended
the process with Python's default action, 143 and not a word; Ctrl-C there printed a KeyboardInterrupt's traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from llmtrade.entry import INTERRUPTED_OUTSIDE_A_COMMAND, OUTSIDE_A_COMMAND

# Runs the console script's entry point with a signal (its name the first argument) sent to itself as `module` starts
# to import: a real signal, at
# a moment the test chooses rather than a race against a timer.
_STOP_AT_IMPORT = """
import os, signal, sys

SIGNAL, AT = getattr(signal, sys.argv[1]), sys.argv[2]

class StopAt:
    def find_spec(self, name, path=None, target=None):
        if name == AT:
            os.kill(os.getpid(), SIGNAL)
        return None

sys.meta_path.insert(0, StopAt())
sys.argv = ["llmtrade", *sys.argv[3:]]
from llmtrade.entry import main
main()
"""


@pytest.mark.parametrize("module", ["typer", "llmtrade.commands", "llmtrade.exits"])
@pytest.mark.parametrize(
    ("signal_name", "code", "line"),
    [("SIGTERM", 143, OUTSIDE_A_COMMAND), ("SIGINT", 130, INTERRUPTED_OUTSIDE_A_COMMAND)],
)
def test_a_signal_while_the_command_line_imports_is_one_line_and_its_exit_code(
    module: str, signal_name: str, code: int, line: str, tmp_path: Path
) -> None:
    env = {**os.environ, "LLMTRADE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", _STOP_AT_IMPORT, signal_name, module, "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert (done.returncode, done.stderr.splitlines(), done.stdout) == (code, [line], "")
    assert not (tmp_path / "home" / "pgdata").exists()  # no command ran: not even the database was started


def test_the_console_script_and_python_m_start_through_the_entry_point() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["llmtrade"] == "llmtrade.entry:main"
    main = (Path(__file__).parents[1] / "src" / "llmtrade" / "__main__.py").read_text()
    assert "from llmtrade.entry import main" in main
