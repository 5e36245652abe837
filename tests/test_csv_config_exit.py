"""A CSV folder that cannot give a configured symbol's prices is a configuration to mend: exit 2, as bad config.

Found by a new user's trial: with assets.yaml's market_data.csv_dir naming a folder without one universe symbol's
file, `run-weekly --offline` exited 1 (an operational failure) under a message that said to edit assets.yaml, and the
message named neither the file looked for nor which assets.yaml. Every way the folder can be unusable for a
configured symbol (no file, an empty one, a header alone, a wrong header, a row that cannot be read) exits 2 naming
the file (and line); a file only out of reach for now is no configuration error.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import write_defaults
from llmtrade.domain.market import Bar
from tests.test_backtest_bad_start import _write
from tests.test_backtest_bad_start import bars as bars

runner = CliRunner()


@pytest.fixture
def configured(
    bars: dict[str, list[Bar]], cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A config folder whose assets.yaml names a folder holding every universe symbol's file: (config, folder)."""
    folder, config = tmp_path / "prices", tmp_path / "config"
    _write(folder, bars)
    write_defaults(config)
    assets = yaml.safe_load((config / "assets.yaml").read_text())
    assets["market_data"]["csv_dir"] = str(folder)
    (config / "assets.yaml").write_text(yaml.safe_dump(assets))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    return config, folder


def _said(config: Path, *command: str, code: int) -> str:
    result = runner.invoke(cli, ["--config", str(config), *command, "--offline"])
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return " ".join(result.stderr.split())


def test_a_configured_symbol_without_a_file_exits_2_naming_the_file_the_symbol_and_the_config_file(
    configured: tuple[Path, Path],
) -> None:
    config, folder = configured
    (folder / "IWM.csv").unlink()
    said = _said(config, "run-weekly", code=2)
    assert (
        f"csv folder {folder} (assets.yaml market_data.csv_dir) has no file for IWM ({folder / 'IWM.csv'} does not "
        f"exist): add it, or leave it out of the universe in {config / 'assets.yaml'}"
    ) in said, said
    assert "llmtrade init" not in said  # the config is an editable copy already
    assert f"has no file for IWM ({folder / 'IWM.csv'} does not" in _said(config, "market", "snapshot", code=2)


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("", 1, "the file is empty: no header row (Date,Open,High,Low,Close,Volume) and no rows"),
        ("Date,Open,High,Low,Close,Volume\n", 1, "the file holds its header and no rows"),
        ("Day,Open,High,Low,Close,Volume\n2026-01-05,1,2,0.5,1,10\n", 1, "missing column(s) Date (has Day, Open"),
        (None, 3, "Close 'n/a' is not a number"),
    ],
    ids=["empty", "header alone", "wrong header", "unparsable row"],
)
def test_a_configured_symbols_unusable_file_exits_2_naming_the_file_and_line(
    configured: tuple[Path, Path], text: str | None, line: int, why: str
) -> None:
    config, folder = configured
    path = folder / "TLT.csv"
    if text is None:  # the second row's close
        lines = path.read_text().splitlines()
        fields = lines[line - 1].split(",")
        lines[line - 1] = ",".join([*fields[:4], "n/a", *fields[5:]])
        text = "\n".join(lines) + "\n"
    path.write_text(text)
    said = _said(config, "market", "snapshot", code=2)
    assert f"{path}, line {line}: TLT: " in said and why in said, said


def test_a_file_out_of_reach_for_now_is_no_configuration_error(
    configured: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network share's stale handle is temporary (75); an I/O error someone must look at (1); no permission is the
    folder's to mend (2, as exits.path_error says of any path)."""
    config, folder = configured
    read = Path.read_bytes

    def failing(code: int) -> Callable[[Path], bytes]:
        def read_bytes(self: Path) -> bytes:
            if self.name == "TLT.csv":
                raise OSError(code, errno.errorcode[code], str(self))
            return read(self)

        return read_bytes

    for code, exit_code in ((errno.ESTALE, 75), (errno.EIO, 1), (errno.EACCES, 2)):
        monkeypatch.setattr(Path, "read_bytes", failing(code))
        said = _said(config, "market", "snapshot", code=exit_code)
        assert f"{folder / 'TLT.csv'} cannot be read" in said, said
