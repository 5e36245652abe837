"""Sweep names that differ only in case or in - and _ share one record (llmtrade_sw_<name>, lower-cased, - as _):
a second sweep so named is refused, as `llmtrade backtest --name` refuses another spelling of an existing backtest."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from llmtrade.app.sweep_member import sweep_database
from llmtrade.clock import SystemClock
from llmtrade.config.loader import load_config
from llmtrade.domain import streams
from llmtrade.domain.sweeps import SweepStarted
from llmtrade.errors import UsageError
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.database import locate, sibling
from llmtrade.sweep import work
from llmtrade.sweep.driver import SweepOptions, run_sweep


@pytest.fixture
def settings(empty_database_url: str, tmp_path: Path) -> Settings:
    return Settings(DATABASE_URL=empty_database_url, LLMTRADE_HOME=str(tmp_path / "home"))


class _Stop(BaseException):
    """Stands for the first sweep being stopped once it has recorded its start: no run is needed here."""


def test_a_sweep_named_as_another_sweeps_other_spelling_is_refused_before_it_records_anything(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`name: Mom-a` beside an earlier `name: mom_a` (another file, other axes) ran into mom_a's record: mom_a's runs
    were counted as 'runs an earlier version of its file finished' in its trials (45 where 5 were its own), and
    `report --sweep mom_a` then showed the new sweep's runs as mom_a's."""
    stem = f"m{uuid.uuid4().hex[:6]}"
    first, second = f"{stem}_a", f"{stem.upper()}-a"
    assert sweep_database(first) == sweep_database(second)

    def stopped(plan: Any, shared: Any) -> Any:
        raise _Stop

    monkeypatch.setattr(work, "_backtest", stopped)
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: {first}\nretries: 0\nranges: [{{from: 2026-01-07, to: 2026-01-14}}]\n")
    with pytest.raises(_Stop):
        run_sweep(settings, load_config(None), None, path, SweepOptions())
    other = tmp_path / "other.yaml"
    other.write_text(f"name: {second}\nretries: 0\nranges: [{{from: 2026-01-07, to: 2026-01-21}}]\n")
    with pytest.raises(UsageError) as refused:
        run_sweep(settings, load_config(None), None, other, SweepOptions())
    said = str(refused.value)
    assert said.startswith(f"sweep file {other}: key name: {second} ")
    assert f"sweep {first}" in said and sweep_database(first) in said
    location = sibling(locate(settings), sweep_database(first))
    with open_storage(settings, SystemClock(), location=location) as storage:
        starts = [e for e in storage.events.read_stream(streams.SWEEP) if e.type == SweepStarted.event_type()]
    assert [e.payload["name"] for e in starts] == [first]  # nothing recorded by the refused one


def test_report_sweep_under_another_spelling_names_the_sweep_as_recorded(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report --sweep MOM-A` of sweep mom_a titled its page 'Sweep MOM-A', a sweep that never ran."""
    import re

    from typer.testing import CliRunner

    from llmtrade.cli import app as cli

    recorded = f"m{uuid.uuid4().hex[:6]}_a"
    asked = recorded.upper().replace("_", "-")

    def stopped(plan: Any, shared: Any) -> Any:
        raise _Stop

    monkeypatch.setattr(work, "_backtest", stopped)
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: {recorded}\nretries: 0\nranges: [{{from: 2026-01-07, to: 2026-01-14}}]\n")
    with pytest.raises(_Stop):
        run_sweep(settings, load_config(None), None, path, SweepOptions())
    page = tmp_path / "sweep.html"
    env = {"DATABASE_URL": settings.database_url or ""}
    written = CliRunner().invoke(cli, ["report", "--sweep", asked, "-o", str(page)], env=env)
    assert written.exit_code == 0, written.output
    text = " ".join(re.sub(r"<[^>]+>", " ", page.read_text()).split())
    assert f"Sweep {recorded}" in text
    assert asked not in text


def test_report_of_a_sweep_name_none_can_have_or_none_has_says_so_in_a_sentence(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A tester's `report --sweep "bad name"` said "no sweep named 'bad name' (no database llmtrade_sw_bad name)": a
    database name no sweep can have, run into the words around it."""
    from typer.testing import CliRunner

    from llmtrade.cli import app as cli

    runner = CliRunner()
    page = str(tmp_path / "r.html")
    bad = runner.invoke(cli, ["report", "--sweep", "bad name", "-o", page])
    assert bad.exit_code == 2, bad.output
    said = " ".join(bad.stderr.split())
    assert said == (
        "error: sweep name 'bad name': a sweep's name (its file's name:) is 1-24 letters, digits, _ or -, starting "
        "with a letter or digit, so no sweep has this one"
    ), said
    name = f"n{uuid.uuid4().hex[:8]}"
    absent = runner.invoke(cli, ["report", "--sweep", name, "-o", page])
    assert absent.exit_code == 2, absent.output
    said = " ".join(absent.stderr.split())
    # Then the sweeps held (or that none has run), app/books_named.py, and what to do.
    assert f"no sweep named {name!r}: its record's database, llmtrade_sw_{name}, does not exist; " in said, said
    assert "run `llmtrade backtest sweep SWEEP.yaml`" in said, said
