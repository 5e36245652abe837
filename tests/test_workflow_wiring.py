"""Every workflow's stages declare what they read and write, and each workflow is wired so that
every read is provided; a pipeline missing an input stops before any model is called."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest

from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.council.general import GeneralCouncil
from llmtrade.errors import PipelineWiringError
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.pipeline import Pipeline, check_wiring
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows import council_stages, research_stages
from llmtrade.workflows.checkpoint import checkpoint_pipeline
from llmtrade.workflows.postmortem import postmortem_pipeline
from llmtrade.workflows.weekly import weekly_pipeline
from llmtrade.workflows.workbench import Workbench

WEEK = date(2026, 1, 7)
NOW = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)
CONFIG = load_config(None).config


class Recorder:
    """Stands in for the gateway, prompts and market: records any use, so a test can assert none."""

    def __init__(self) -> None:
        self.used: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.used.append(name)
        raise AssertionError(f"{name} was used before the wiring was checked")


def _bench(storage: Storage, recorder: Recorder) -> Workbench:
    return Workbench(CONFIG, storage.events, recorder, recorder, recorder, [], WEEK, NOW, "run-w")  # type: ignore[arg-type]


def test_the_weekly_pipeline_without_its_as_of_time_stops_before_any_model_call(storage: Storage) -> None:
    recorder = Recorder()
    pipeline = weekly_pipeline(_bench(storage, recorder), FixedClock(NOW), dry_run=False)
    with pytest.raises(PipelineWiringError) as caught:
        asyncio.run(pipeline.run(PipelineContext(run_id="run-w", week_id=WEEK)))  # no ASOF
    assert (caught.value.stage, caught.value.key) == ("market_snapshot", "asof")
    assert recorder.used == []  # no model, prompt or market was touched
    assert storage.events.read(run_id="run-w") == []  # no StageStarted: nothing ran


def test_a_weekly_pipeline_missing_a_stage_is_refused_when_built(storage: Storage) -> None:
    recorder = Recorder()
    stages = weekly_pipeline(_bench(storage, recorder), FixedClock(NOW), dry_run=False).stages
    without_research = [s for s in stages if s.name != "research"]
    with pytest.raises(PipelineWiringError, match="stage 'recall' reads 'research_packs'"):
        Pipeline(without_research, storage.events, inputs=(research_stages.ASOF,))
    assert recorder.used == []


def test_every_workflow_is_wired_and_every_stage_declares_its_keys(storage: Storage) -> None:
    recorder = Recorder()
    bench = _bench(storage, recorder)
    council = GeneralCouncil(recorder, recorder, CONFIG.models.pms, CONFIG.models.chairman, "run-w")  # type: ignore[arg-type]
    workflows = {
        "weekly": (weekly_pipeline(bench, FixedClock(NOW), dry_run=False).stages, {"asof"}),
        "checkpoint": (checkpoint_pipeline(bench, day=WEEK, time="12:00", dry_run=False).stages, set()),
        "postmortem": (postmortem_pipeline(bench).stages, set()),
        "council": (council_stages.council_stages(council, storage.events), {"query"}),
    }
    for name, (stages, inputs) in workflows.items():
        check_wiring(stages, inputs, name)
        for stage in stages:
            assert isinstance(stage.reads, tuple) and isinstance(stage.writes, tuple), (name, stage.name)
    assert [s.name for s in workflows["checkpoint"][0]] == ["prepare", "ask", "decide", "execute", "complete"]
    postmortem = ["gather", "reflect", "record", "remember_outcomes", "complete"]
    assert [s.name for s in workflows["postmortem"][0]] == postmortem
    assert recorder.used == []
