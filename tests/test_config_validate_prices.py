"""`config validate` reads the CSV folder's files of the symbols a run reads (the universe's and SPY's, daily and
intraday) as every run does, and refuses what every read of them refuses whatever its range (exit 2, the file and
line): a row that cannot be read, a date twice or out of order, a blank line among the rows, an intraday row on a
closed day. It said "configuration OK" over such a folder, and the next run, reading the same file, stopped on it as
"a configuration to mend" (exit 2). What a read refuses only for the range it asks (a session missing, a row on a
closed day in a daily file, one dated after today) is that read's to say."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.test_backtest_bad_start import bars as bars
from tests.test_csv_config_exit import configured as configured

runner = CliRunner()


def _validate(config: Path) -> tuple[int, str]:
    result = runner.invoke(cli, ["--config", str(config), "config", "validate"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join((result.stdout + result.stderr).split())


def test_a_folder_whose_files_read_passes(configured: tuple[Path, Path]) -> None:
    code, said = _validate(configured[0])
    assert code == 0 and "configuration OK" in said, said


def test_a_daily_file_every_read_refuses_is_refused_by_validate_naming_its_line(configured: tuple[Path, Path]) -> None:
    config, folder = configured
    path = folder / "GLD.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:4], "", *lines[4:]]) + "\n")
    code, said = _validate(config)
    assert code == 2, said
    assert f"{path}, line 5: GLD: blank line among the rows" in said and "configuration OK" not in said, said


def test_an_intraday_file_every_quote_refuses_is_refused_by_validate(configured: tuple[Path, Path]) -> None:
    config, folder = configured
    (folder / "intraday").mkdir()
    path = folder / "intraday" / "SPY.csv"
    path.write_text("Timestamp,Price\n2026-01-05T10:00:00-05:00,600\n2026-01-10T10:00:00-05:00,601\n")
    code, said = _validate(config)
    assert code == 2, said
    assert f"{path}, line 3: " in said and "not an NYSE session" in said, said
