"""The committee's memory in a real offline week (real PostgreSQL, the real PgMemory and packaged embedder):
what the PMs and the chairman are shown, the validator's flags, switching memory off, reruns."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from llmtrade.agents import checkpointer
from llmtrade.app.memory_notes import unsearched_note
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config, write_defaults
from llmtrade.domain.memory import Outcome, OutcomeRemembered, Setup, SetupRemembered
from llmtrade.llm.gateway import LLMMode
from llmtrade.memory.embedder import PackagedEmbedder
from llmtrade.memory.store import PgMemory
from llmtrade.prompts import renderer as renderer_module
from llmtrade.prompts.renderer import PromptRenderer
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.workflows import committee_stages
from tests.support import FIXED_NOW, stored_events

runner = CliRunner()
NY = ZoneInfo("America/New_York")
PAST_WEEKS = (date(2025, 12, 8), date(2025, 12, 15), date(2025, 12, 22))
LATE_WEEK = date(2025, 12, 29)  # its outcome becomes known the day after this week's run
LATE_KNOWN = datetime(2026, 1, 8, 9, tzinfo=NY)
MEMORY_ROLES = ("pm_pitch", "checkpoint", "chairman_decision")
CITED = re.compile(r"\[((?:setup|condition|symbol|lesson):[^\]]+)\]")


def _setup(week: date, instrument: str, direction: str) -> Setup:
    return Setup(
        memory_id=f"setup:{week}:pitch:planted_{instrument}_{direction}",
        week_id=week,
        known_at=datetime.combine(week + timedelta(days=2), datetime.min.time(), NY).replace(hour=8),
        source="pitch",
        author=f"planted_{instrument}_{direction}",
        account_id="acct_1",
        instrument=instrument,
        direction=direction,
        conviction=1 if direction == "LONG" else -1,
        thesis=f"[offline rules] {instrument} trend follows through this week.\nMomentum of 1.5 sigma over four weeks.",
        indicators=("price_vs_sma_20 > 0", "rsi_14 < 75"),
        invalidation="price_vs_sma_20 < -0.02",
    )


def _outcome(setup: Setup, known_at: datetime) -> Outcome:
    return Outcome(
        setup_id=setup.memory_id,
        week_id=setup.week_id,
        known_at=known_at,
        account_id=setup.account_id,
        week_return=-0.015,
        week_pnl=-1500.0,
        instrument_return=-0.02,
        thesis_right=False,
        broken=("price_vs_sma_20 > 0",),
    )


def plant_losers(url: str) -> tuple[set[str], set[str]]:
    """Losing setups on every instrument, both sides, in three past weeks (outcomes known the Friday after),
    and one more week whose outcomes become known only after the run: (visible ids, late ids)."""
    symbols = load_config(None).config.assets.symbols
    visible, late, items = set(), set(), []
    for week in (*PAST_WEEKS, LATE_WEEK):
        known = LATE_KNOWN if week == LATE_WEEK else datetime.combine(week + timedelta(days=4), datetime.min.time(), NY)
        for symbol in symbols:
            for direction in ("LONG", "SHORT"):
                setup = _setup(week, symbol, direction)
                items += [SetupRemembered(setup=setup), OutcomeRemembered(outcome=_outcome(setup, known))]
                (late if week == LATE_WEEK else visible).add(setup.memory_id)
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        PgMemory(storage.conn, storage.events, PackagedEmbedder()).remember(items, week_id=PAST_WEEKS[0], run_id=None)
    return visible, late


def _prompts(url: str, role: str) -> list[str]:
    return [
        e.payload["messages"][-1]["content"]
        for e in stored_events(url, type="LLMCallCompleted")
        if e.payload["role"] == role
    ]


def test_the_validators_flag_reaches_the_chairmans_prompt_and_pms_see_only_outcomes_known_before(
    wednesday_week: str,
) -> None:
    visible, late = plant_losers(wednesday_week)
    result = runner.invoke(app, ["run-weekly", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    taking = [p for p in report["pitches"] if p["direction"] != "FLAT"]
    assert taking, "the offline PMs took no position this week: nothing for the validator to judge"

    flags = [e.payload["flag"] for e in stored_events(wednesday_week, type="SetupFlagged")]
    assert sorted(f["pm_id"] for f in flags) == sorted(p["pm"] for p in taking)
    for flag in flags:
        assert flag["losers"] >= 3 and set(flag["similar"]) <= visible and flag["mean_return"] == pytest.approx(-0.015)
    (chairman,) = _prompts(wednesday_week, "chairman_decision")
    assert "The validator's notes" in chairman
    for flag in flags:
        assert flag["note"] in chairman  # under the pitch's neutral label, never its PM
    assert not any(f"pm_id {f['pm_id']}" in chairman for f in flags)

    pitches = _prompts(wednesday_week, "pm_pitch")
    assert len(pitches) == 4 and all("Similar past setups" in p for p in pitches)
    cited = {mid for p in pitches for mid in CITED.findall(p)}
    assert cited and cited & visible
    assert not {mid for p in [*pitches, chairman] for mid in CITED.findall(p)} & late  # never the late outcomes
    assert not any(mid in chairman for mid in late)

    # Every retrieval is on record: which memories did each PM's pitch see, and the validator's?
    recalls = [e.payload for e in stored_events(wednesday_week, type="MemoryRecalled")]
    by_role = Counter(r["role"] for r in recalls)
    assert {role for role in by_role if role.startswith("pm:")} == {f"pm:{p['pm']}" for p in report["pitches"]}
    assert by_role["validator"] == len(taking)
    for recall in recalls:
        assert not set(recall["memory_ids"]) & late
    shown = next(r for r in recalls if r["role"] == "pm:" + report["pitches"][0]["pm"])
    assert CITED.findall(pitches[0]) == shown["memory_ids"]  # the prompt cites exactly what was recorded, in order


def test_a_checkpoint_is_shown_past_setups_like_its_position_and_the_recall_is_recorded(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    visible, late = plant_losers(wednesday_week)
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    checkpoint = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert checkpoint.exit_code == 0, checkpoint.output
    prompts = _prompts(wednesday_week, "checkpoint")
    assert prompts and all("Similar past setups" in p for p in prompts)
    recalls = [
        e for e in stored_events(wednesday_week, type="MemoryRecalled") if e.payload["role"].startswith("checkpoint:")
    ]
    assert sorted(e.payload["role"] for e in recalls) == sorted(
        "checkpoint:" + e.account_id
        for e in stored_events(wednesday_week, type="LLMCallCompleted")
        if e.payload["role"] == "checkpoint"
    )
    for recall in recalls:
        assert recall.payload["memory_ids"] and set(recall.payload["memory_ids"]) <= visible
        assert datetime.fromisoformat(recall.payload["as_of"]) == datetime(2026, 1, 7, 12, tzinfo=NY)
    assert not {mid for p in prompts for mid in CITED.findall(p)} & late


def _without_memory(source: str) -> str:
    """A template as it was before the memory: the `{% if memory %}` / `{% if flags %}` blocks cut out."""
    return re.sub(r"\{% if (memory|flags) %\}.*?\{% endif %\}\n", "", source, flags=re.DOTALL)


def test_switching_memory_off_removes_it_from_every_prompt_byte_for_byte(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plant_losers(wednesday_week)  # there is plenty to show: memory off must show none of it
    config = tmp_path / "cfg"
    write_defaults(config)
    models = config / "models.yaml"
    models.write_text(models.read_text().replace("memory: {enabled: true", "memory: {enabled: false"))
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(config))
    # The templates without their memory blocks: what every prompt rendered before the memory existed.
    before = tmp_path / "before"
    before.mkdir()
    packaged = Path(renderer_module.__file__).parent
    for role in MEMORY_ROLES:
        name = f"{role}.user.j2"
        source = (packaged / name).read_text()
        assert _without_memory(source) != source
        (before / name).write_text(_without_memory(source))
    old = PromptRenderer(before)
    rendered: list[tuple[str, dict[str, Any], str]] = []
    original = PromptRenderer.render

    def recording(self: PromptRenderer, role: str, **variables: Any) -> Any:
        prompt = original(self, role, **variables)
        rendered.append((role, variables, prompt.user))
        return prompt

    monkeypatch.setattr(PromptRenderer, "render", recording)
    packaged = checkpointer._packaged  # the checkpoint's prompt written without Jinja: recorded the same

    def recording_packaged(prompts: PromptRenderer, variables: dict[str, Any], *templates: Any) -> Any:
        prompt = packaged(prompts, variables, *templates)
        if prompt is not None:
            rendered.append((checkpointer.ROLE, variables, prompt.user))
        return prompt

    monkeypatch.setattr(checkpointer, "_packaged", recording_packaged)
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0
    roles = Counter(role for role, _, _ in rendered)
    # One pitch prompt for the four PMs: nothing in it names a PM, and memory off shows none of them any lines.
    assert roles["pm_pitch"] == 1 and roles["chairman_decision"] == 1 and roles["checkpoint"] >= 1
    for role, variables, user in rendered:
        if role in MEMORY_ROLES:
            assert user == original(old, role, **variables).user, role
        assert "Similar past setups" not in user and "validator" not in user
    assert (
        stored_events(wednesday_week, type="MemoryRecalled") == []
        and stored_events(wednesday_week, type="SetupFlagged") == []
    )
    # Memory off still remembers (so switching it on later finds these weeks): the week's setups are written.
    planted = len((*PAST_WEEKS, LATE_WEEK)) * 2 * len(load_config(None).config.assets.symbols)
    assert len(stored_events(wednesday_week, type="SetupRemembered")) == planted + 5


def _memory_id(payload: dict[str, Any]) -> str:
    if "outcome" in payload:
        return "outcome:" + payload["outcome"]["setup_id"]
    (record,) = payload.values()
    return record["memory_id"]


def test_a_rerun_writes_no_memory_twice(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def killed(self: object, context: object) -> object:
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:  # dies after the pitches were remembered
        patch.setattr(committee_stages.ReviewStage, "run", killed)
        assert runner.invoke(app, ["run-weekly"]).exit_code != 0
    assert len(stored_events(wednesday_week, type="SetupRemembered")) == 4
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    for _ in range(2):
        done = runner.invoke(app, ["postmortem", "--week", "2026-01-07"])
        assert done.exit_code == 0, done.output
    kinds = ("ConditionRemembered", "SetupRemembered", "SymbolNoteRemembered", "OutcomeRemembered", "LessonRemembered")
    events = [e for e in stored_events(wednesday_week) if e.type in kinds]
    ids = [_memory_id(e.payload) for e in events]
    assert len(ids) == len(set(ids))
    counts = Counter(e.type for e in events)
    assert counts["ConditionRemembered"] == 1 and counts["SetupRemembered"] == 5  # four pitches and the decision
    assert counts["OutcomeRemembered"] == 5 and counts["SymbolNoteRemembered"] >= 1 and counts["LessonRemembered"] >= 5
    outcomes = [OutcomeRemembered.from_event(e).outcome for e in events if e.type == "OutcomeRemembered"]
    assert {o.known_at for o in outcomes} == {datetime(2026, 1, 13, 16, 31, tzinfo=NY)}  # the postmortem's time


class _OtherModel:
    """The embedder of a model configured before (a remote one's name and size): what months of setups were made by."""

    model = "openai/text-embedding-3-small"
    dims = 4

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[0.5, 0.5, 0.5, 0.5] for _ in texts]


def test_a_run_whose_memory_another_model_embedded_says_its_setups_were_not_searched_by_text(
    wednesday_week: str,
) -> None:
    """memory.embedding changed (here: removed, so the packaged model embeds): the setups stored before are searched
    by their numbers alone until `memory rebuild`. `memory search` said so; the weekly run, which cron runs, did not."""
    symbols = load_config(None).config.assets.symbols
    items: list[Any] = []
    for symbol in symbols:
        setup = _setup(PAST_WEEKS[0], symbol, "LONG")
        known = datetime.combine(PAST_WEEKS[0] + timedelta(days=4), datetime.min.time(), NY)
        items += [SetupRemembered(setup=setup), OutcomeRemembered(outcome=_outcome(setup, known))]
    with open_storage(Settings(DATABASE_URL=wednesday_week), FixedClock(FIXED_NOW)) as storage:
        PgMemory(storage.conn, storage.events, _OtherModel()).remember(items, week_id=PAST_WEEKS[0], run_id=None)
    result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"{len(symbols)} remembered setups have vectors from openai/text-embedding-3-small" in said
    assert "llmtrade memory rebuild" in said
    assert runner.invoke(app, ["memory", "rebuild"]).exit_code == 0  # re-embedded: nothing left to say
    models = load_config(None).config.models
    with open_storage(Settings(DATABASE_URL=wednesday_week), FixedClock(FIXED_NOW)) as storage:
        assert unsearched_note(models, LLMMode.OFFLINE, storage.conn) is None
