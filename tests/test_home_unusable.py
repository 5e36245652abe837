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


def test_a_home_on_a_read_only_file_system_says_so_not_that_the_user_may_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cron trial: LLMTRADE_HOME's disk mounted read-only (as ext4's errors=remount-ro leaves it) was said to be "not
    # writable by this user", sending the operator to chown and chmod a folder whose permissions were fine.
    import os

    import llmtrade.storage.database as database

    home = tmp_path / "home"
    home.mkdir()
    real_statvfs = os.statvfs

    class ReadOnly:
        def __init__(self, path: str) -> None:
            self.f_flag = real_statvfs(path).f_flag | os.ST_RDONLY

    monkeypatch.setattr(database.os, "access", lambda path, mode: False)
    monkeypatch.setattr(database.os, "statvfs", ReadOnly)
    monkeypatch.setenv("LLMTRADE_HOME", str(home))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"error: LLMTRADE_HOME {home} is on a read-only file system: the embedded database lives in it; set "
        "LLMTRADE_HOME to a folder you can write (or DATABASE_URL to use another server)"
    )
