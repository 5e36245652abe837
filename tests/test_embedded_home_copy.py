"""A home copied while its embedded server runs (storage/database.py): its copied postmaster.pid names the
original's live server, which must never serve the copy's commands, nor be stopped by the copy's `db stop`."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.errors import UsageError
from llmtrade.storage.connection import connect
from llmtrade.storage.database import start_embedded, stop_embedded

runner = CliRunner()


def _data_directory_and_marks(url: str) -> tuple[str, list[str]]:
    with connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS copy_mark (home text)")
        row = conn.execute("SHOW data_directory").fetchone()
        marks = [home for (home,) in conn.execute("SELECT home FROM copy_mark ORDER BY home").fetchall()]
    assert row is not None
    return row[0], marks


def _mark(url: str, home: str) -> None:
    with connect(url) as conn:
        conn.execute("INSERT INTO copy_mark VALUES (%s)", (home,))


def test_a_home_copied_while_its_server_runs_never_uses_that_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, copy = tmp_path / "original", tmp_path / "copy"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            url = start_embedded(original / "pgdata").url
            _data_directory_and_marks(url)
            _mark(url, "original")
            # As a user would copy it (-a keeps the owner, which pgserver's own user needs when tests run as root).
            subprocess.run(["cp", "-a", str(original), str(copy)], check=True)

            # The copy's commands are refused with exit 2, naming both directories; nothing reaches the original.
            monkeypatch.setenv("LLMTRADE_HOME", str(copy))
            for command in (["trading", "disable"], ["db", "status"], ["db", "stop"]):
                refused = runner.invoke(app, command)
                said = " ".join(refused.output.split())
                assert refused.exit_code == 2, (command, refused.output)
                assert f"{copy / 'pgdata'} holds a copy of another server's postmaster.pid" in said
                assert f"runs on {original / 'pgdata'}" in said
            with pytest.raises(UsageError):
                start_embedded(copy / "pgdata")
            # `db stop` in the copy did not stop the original's server, and the copy wrote nothing into it.
            assert _data_directory_and_marks(url) == (str(original / "pgdata"), ["original"])

            # With the original's server stopped, the copy starts a server of its own, on its own data.
            assert stop_embedded(original / "pgdata")
            copy_url = start_embedded(copy / "pgdata").url
            assert _data_directory_and_marks(copy_url) == (str(copy / "pgdata"), ["original"])
            _mark(copy_url, "copy")
            # Both run side by side from now on, each on its own books.
            url = start_embedded(original / "pgdata").url
            assert _data_directory_and_marks(url) == (str(original / "pgdata"), ["original"])
            assert _data_directory_and_marks(copy_url) == (str(copy / "pgdata"), ["copy", "original"])
        finally:
            stop_embedded(original / "pgdata")
            stop_embedded(copy / "pgdata")
