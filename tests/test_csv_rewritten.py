"""A CSV file rewritten after its bars were cached is read again, not served from the cache for good.

A download script that wrote the session's bar while Yahoo still changed it (its live bar of the day, 16:00-16:20)
writes the final one at its next run, and a vendor corrects a row. The bar cache outlives the run that filled it, so
every later read of that range (the weekly run reading Tuesday's close the postmortem cached at 16:30) got the first
version, whatever the file held since; only a later range (the next session's) brought the file's rows back.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.storage.bootstrap import Storage
from tests.market_series import END, START, market, rows, write

runner = CliRunner()
DAY = date(2026, 1, 7)


def _rewrite(path: Path, day: date, close: float) -> float:
    """The row of `day` in `path` with its close set to `close` (kept inside its low-high: a plausible final print), as
    a download script's next run writes it; the close it had."""
    lines = path.read_text().splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith(str(day)))
    fields = lines[at].split(",")
    before = float(fields[5])
    fields[5] = repr(max(float(fields[4]), min(float(fields[3]), close)))
    lines[at] = ",".join(fields)
    stat = path.stat()
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later write, as a later run makes
    return before


def test_a_rewritten_row_is_read_again_and_then_cached_anew(storage: Storage, tmp_path: Path) -> None:
    path = write(tmp_path / "csv", "SPY", rows())
    first = market(storage, CsvFolderProvider(tmp_path / "csv")).bars(["SPY"], START, END)
    assert not first.from_cache
    low = float(next(line for line in rows() if line.startswith(str(DAY))).split(",")[4])
    before = _rewrite(path, DAY, low)
    assert low != before
    # A later process (no read kept in memory): the range is cached, the file holds another close now.
    again = market(storage, CsvFolderProvider(tmp_path / "csv")).bars(["SPY"], START, END)
    assert not again.from_cache
    assert next(b.close for b in again.bars["SPY"] if b.day == DAY) == low
    settled = market(storage, CsvFolderProvider(tmp_path / "csv")).bars(["SPY"], START, END)
    assert settled.from_cache and settled.bars == again.bars  # the new rows cached, served as such


def test_market_bars_shows_the_files_final_close_not_the_one_cached_before_it(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "csv"
    path = write(folder, "SPY", rows())
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T08:00:00-05:00")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))

    def shown_close() -> str:
        result = runner.invoke(app, ["market", "bars", "SPY", "--offline"])
        assert result.exit_code == 0, result.output
        [line] = [line for line in result.stdout.splitlines() if line.startswith(str(DAY))]
        return line.split("\t")[4]

    partial = shown_close()
    low = float(next(line for line in rows() if line.startswith(str(DAY))).split(",")[4])
    _rewrite(path, DAY, low)
    assert shown_close() == f"{low:.2f}" != partial
