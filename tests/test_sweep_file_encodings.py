"""A sweep file is read as the config files are: UTF-16 with its byte-order mark (Windows' "Unicode") is read, and one
in another encoding is named at the byte's line with what to do.

Found by a new user's trial: a sweep file saved by Notepad as "Unicode" was refused with "cannot read it ('utf-8'
codec can't decode byte 0xff in position 0: invalid start byte)", and one in Latin-1 with Python's codec words at a
byte position, where the config files say the line and how to save the file as UTF-8 (config/files.py)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app as cli

runner = CliRunner()
# No server is reached: a refused file exits before the sweep's database is made.
NOWHERE = {"DATABASE_URL": "postgresql://x@127.0.0.1:1/n"}
TEXT = "name: démo\nranges:\n  - {from: 2026-01-07, to: 2026-01-21}\n"


def _sweep(path: Path) -> str:
    result = runner.invoke(cli, ["backtest", "sweep", str(path)], env=NOWHERE)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "codec" not in result.output
    return result.output


def test_a_sweep_file_in_utf16_with_its_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_bytes(TEXT.encode("utf-16"))
    said = _sweep(path)
    # Read: refused for what it says (the name's é), not for its encoding.
    assert f"sweep file {path}: key name: must be" in said, said


def test_a_sweep_file_in_latin1_is_named_at_the_line_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_bytes(TEXT.encode("latin-1"))
    said = _sweep(path)
    assert f"sweep file {path}: line 1, column 8: byte 0xE9 is not UTF-8; save the file as UTF-8" in said, said
