"""An LLMTRADE_HOME that cannot hold the embedded database (a file, or under one) is a configuration error, exit 2,
naming it and what to do. It was "could not start the embedded PostgreSQL in HOME/pgdata: [Errno 17] File exists",
exit 1, pointing at a server log inside a folder that cannot exist (found by a new user)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


@pytest.mark.parametrize(("where", "said"), [("", "is not a folder"), ("sub", "cannot be made (Not a directory)")])
def test_a_home_that_is_a_file_or_under_one_is_exit_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, said: str
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    home = blocked / where if where else blocked
    monkeypatch.setenv("LLMTRADE_HOME", str(home))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"error: LLMTRADE_HOME {home} {said}: the embedded database lives in it; set LLMTRADE_HOME to a folder you "
        "can write (or DATABASE_URL to use another server)"
    )
