"""SIGTERM before a command starts (while the command line is still importing) is one line and exit 143, as a
stopped command's is (llmtrade/entry.py). Found by the new-user trial: `timeout` hitting a slow start ended the
process with Python's default action, 143 and not a word."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from llmtrade.entry import OUTSIDE_A_COMMAND

# Runs the console script's entry point with SIGTERM sent to itself as `module` starts to import: a real signal, at
# a moment the test chooses rather than a race against a timer.
_STOP_AT_IMPORT = """
import os, signal, sys

AT = sys.argv[1]

class StopAt:
    def find_spec(self, name, path=None, target=None):
        if name == AT:
            os.kill(os.getpid(), signal.SIGTERM)
        return None

sys.meta_path.insert(0, StopAt())
sys.argv = ["llmtrade", *sys.argv[2:]]
from llmtrade.entry import main
main()
"""


@pytest.mark.parametrize("module", ["click", "typer", "llmtrade.commands", "llmtrade.exits"])
def test_a_sigterm_while_the_command_line_imports_is_one_line_and_exit_143(module: str, tmp_path: Path) -> None:
    env = {**os.environ, "LLMTRADE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", _STOP_AT_IMPORT, module, "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert (done.returncode, done.stderr.splitlines(), done.stdout) == (143, [OUTSIDE_A_COMMAND], "")
    assert not (tmp_path / "home" / "pgdata").exists()  # no command ran: not even the database was started


def test_the_console_script_and_python_m_start_through_the_entry_point() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["llmtrade"] == "llmtrade.entry:main"
    main = (Path(__file__).parents[1] / "src" / "llmtrade" / "__main__.py").read_text()
    assert "from llmtrade.entry import main" in main
