"""The LLM picker is shown similar past market conditions from the memory when it is on (cited by memory id,
point-in-time, within the token budget), and nothing when it is off."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmtrade.app.memory_build import build_memory
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config, packaged_defaults
from llmtrade.domain.memory import ConditionRemembered, MarketCondition
from llmtrade.llm.gateway import LLMMode
from llmtrade.memory.conditions import FEATURES
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage

runner = CliRunner()
NOW = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)  # Wednesday 08:00 New York
PAST = [date(2025, 12, 10), date(2025, 12, 17), date(2025, 12, 24), date(2025, 12, 31)]
LATER = date(2026, 1, 14)  # remembered, but known only after NOW


def _condition(week: date, rng: random.Random) -> MarketCondition:
    return MarketCondition(
        memory_id=f"condition:{week}",
        week_id=week,
        known_at=datetime.combine(week, datetime.min.time(), UTC) + timedelta(hours=13),
        session=week - timedelta(days=1),
        names=FEATURES,
        values=tuple(rng.gauss(0, 1) for _ in FEATURES),
    )


@pytest.fixture
def remembered(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Four past weeks' conditions and one from after NOW, in the memory of this test's database."""
    settings = Settings(DATABASE_URL=cli_env["DATABASE_URL"])
    rng = random.Random(5)
    with open_storage(settings, FixedClock(NOW)) as storage:
        memory = build_memory(load_config(None).config.models, storage, settings, LLMMode.OFFLINE)
        assert memory is not None
        for week in [*PAST, LATER]:
            memory.remember([ConditionRemembered(condition=_condition(week, rng))], week_id=week, run_id=None)
    monkeypatch.setenv("LLMTRADE_NOW", NOW.isoformat())


def _config(tmp_path: Path, **memory: object) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(Path(str(packaged_defaults())), folder)
    models = yaml.safe_load((folder / "models.yaml").read_text())
    models["memory"].update(memory)
    (folder / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    return folder


def _discover(config: Path) -> tuple[str, list[dict]]:
    """The picker's prompt and the picker's MemoryRecalled events after one offline `discover`."""
    result = runner.invoke(app, ["--config", str(config), "discover", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    settings = Settings()
    with open_storage(settings, FixedClock(NOW)) as storage:
        calls = [e.payload for e in storage.events.read(type="LLMCallCompleted") if e.run_id == run_id]
        recalled = [e.payload for e in storage.events.read(stream=f"recall:{run_id}")]
    (picker,) = [c for c in calls if c["role"] == "picker"]
    return "\n".join(m["content"] for m in picker["messages"]), recalled


def test_with_memory_on_the_picker_sees_the_nearest_past_conditions_cited_by_id(
    remembered: None, tmp_path: Path
) -> None:
    prompt, recalled = _discover(_config(tmp_path))
    assert "Similar past conditions:" in prompt
    shown = [line for line in prompt.splitlines() if line.startswith("- [condition:")]
    ((event),) = recalled
    assert event["role"] == "picker" and len(event["memory_ids"]) == 2
    assert [line.split("]")[0][3:] for line in shown] == event["memory_ids"]  # each line cites its memory id
    assert set(event["memory_ids"]) <= {f"condition:{w}" for w in PAST}  # never one known only later
    assert f"condition:{LATER}" not in prompt


def test_the_pickers_memory_stays_within_the_token_budget(remembered: None, tmp_path: Path) -> None:
    # 30 tokens are ~120 characters: room for one condition's line, not two.
    prompt, recalled = _discover(_config(tmp_path, token_budget=30))
    assert len([line for line in prompt.splitlines() if line.startswith("- [condition:")]) == 1
    assert len(recalled[0]["memory_ids"]) == 1


def test_with_memory_off_the_picker_is_shown_no_past_condition(remembered: None, tmp_path: Path) -> None:
    prompt, recalled = _discover(_config(tmp_path, enabled=False))
    assert "Similar past conditions" not in prompt and "[condition:" not in prompt
    assert recalled == []
