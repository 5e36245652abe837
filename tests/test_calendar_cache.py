"""The NYSE schedule cached on disk: the same answers as exchange_calendars, rebuilt when unusable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from llmtrade.market import calendar


def test_the_cached_schedule_is_the_built_one(tmp_path: Path) -> None:
    built = calendar._build()
    calendar._write_cache(tmp_path / "xnys.json", built)
    assert calendar._read_cache(tmp_path / "xnys.json") == built


def test_a_corrupt_or_short_cache_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "xnys.json"
    path.write_text("{not json")
    assert calendar._read_cache(path) is None
    built = calendar._build()
    calendar._write_cache(path, replace(built, last_day=date(2020, 1, 1)))  # horizon long past
    assert calendar._read_cache(path) is None
    data = json.loads(path.read_text())
    assert data["first_day"] == "2000-01-01"


def test_commands_write_the_cache_under_llmtrade_home(clean_environment: Path) -> None:
    cache = clean_environment / "cache"
    assert calendar._cache_file().parent == cache
    assert not cache.exists()
    # A real command in a fresh process (this process's schedule is memoised): it must leave the
    # schedule on disk under LLMTRADE_HOME, readable and equal to what exchange_calendars builds.
    shown = subprocess.run(
        [sys.executable, "-m", "llmtrade", "schedule", "show", "--count", "1"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    written = calendar._read_cache(calendar._cache_file())
    assert written is not None
    assert written.days == calendar._build().days
