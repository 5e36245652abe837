"""The memory's use in pure code: the token budget, the validator's rule, outcomes from a postmortem, the
validator's thresholds in models.yaml."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from llmtrade.agents import validator
from llmtrade.agents.memory_notes import CHARS_PER_TOKEN, describe, interleave, within_budget
from llmtrade.config.loader import load_config, write_defaults
from llmtrade.config_errors import ConfigError
from llmtrade.domain.checkpoints import IndicatorOutcome, Postmortem
from llmtrade.domain.committee import Invalidation, Pitch, Threshold, WatchedIndicator
from llmtrade.domain.memory import Outcome, Recollection, Setup
from llmtrade.workflows.memory_records import outcome_of, pitch_setup

AT = datetime(2026, 1, 7, 13, tzinfo=UTC)
WEEK = date(2026, 1, 5)


def _setup(n: int, *, direction: str = "LONG", instrument: str = "SPY") -> Setup:
    return Setup(
        memory_id=f"setup:2025-12-{n:02d}:pitch:pm_{n}",
        week_id=date(2025, 12, n),
        known_at=AT,
        source="pitch",
        author=f"pm_{n}",
        account_id="acct_1",
        instrument=instrument,
        direction=direction,
        conviction=1 if direction == "LONG" else -1,
        thesis=f"thesis number {n} " + "x" * 40,
        indicators=("rsi_14 < 70",),
    )


def _hit(n: int, week_return: float | None, rank: int = 1) -> Recollection:
    setup = _setup(n)
    outcome = (
        None
        if week_return is None
        else Outcome(
            setup_id=setup.memory_id,
            week_id=setup.week_id,
            known_at=AT,
            account_id="acct_1",
            week_return=week_return,
            week_pnl=week_return * 100_000,
            instrument_return=week_return,
            thesis_right=week_return > 0,
            broken=() if week_return > 0 else ("rsi_14 < 70",),
        )
    )
    return Recollection(
        memory_id=setup.memory_id,
        kind="setup",
        week_id=setup.week_id,
        rank=rank,
        score=0.1 * rank,
        setup=setup,
        outcome=outcome,
        lessons=("cut losers early",),
    )


def _pitch(direction: str = "LONG", conviction: int = 1) -> Pitch:
    rule = Threshold(indicator="price_vs_sma_20", op="<", value=-0.02)
    return Pitch(
        instrument="SPY",
        direction=direction,
        horizon="1w",
        thesis_bullets=["trend"],
        indicators=[WatchedIndicator(name="rsi", threshold=Threshold(indicator="rsi_14", op="<", value=70), why="x")],
        invalidation=Invalidation(text="stop", rule=rule),
        conviction=conviction,
        idea_id=f"{WEEK}:pm_a",
        week_id=WEEK,
        model="m",
        pm_id="pm_a",
        account_id="acct_1",
        timestamp=AT,
    )


def test_a_setup_line_cites_its_id_outcome_what_broke_and_lessons() -> None:
    line = describe(_hit(1, -0.012))
    assert line.startswith("[setup:2025-12-01:pitch:pm_1] week 2025-12-01 LONG SPY conviction +1")
    assert "account -1.20% (SPY -1.20%), thesis wrong; broke: rsi_14 < 70" in line
    assert line.endswith("Lessons: cut losers early")


def test_the_budget_keeps_whole_items_most_similar_first_and_stops_at_the_first_that_does_not_fit() -> None:
    hits = [_hit(1, 0.01, 1), _hit(2, -0.02, 2), _hit(3, 0.03, 3)]
    one = len(describe(hits[0])) + 1
    budget = (one + len(describe(hits[1]))) // CHARS_PER_TOKEN  # room for the first, not the first two
    lines, ids = within_budget(hits, budget)
    assert ids == (hits[0].memory_id,)
    assert lines == (describe(hits[0]),)
    assert within_budget(hits, 0) == ((), ())
    everything = within_budget(hits, 10_000)[1]
    assert everything == tuple(h.memory_id for h in hits)
    # A duplicate is shown once.
    assert within_budget([hits[0], hits[0]], 10_000)[1] == (hits[0].memory_id,)


def test_interleave_takes_each_lists_best_first_and_drops_duplicates() -> None:
    a, b, c = _hit(1, 0.01), _hit(2, 0.01), _hit(3, 0.01)
    assert [h.memory_id for h in interleave([[a, b], [b, c]])] == [a.memory_id, b.memory_id, c.memory_id]
    assert interleave([]) == []


def test_the_validator_flags_a_pitch_when_enough_similar_setups_lost() -> None:
    similar = [_hit(1, -0.02), _hit(2, -0.01), _hit(3, 0.03), _hit(4, -0.005)]
    flag = validator.judge(_pitch(), similar, min_losers=3)
    assert flag is not None
    assert flag.losers == 3 and flag.similar == tuple(h.memory_id for h in similar)
    assert flag.mean_return == pytest.approx((-0.02 - 0.01 + 0.03 - 0.005) / 4)
    assert "setup:2025-12-01:pitch:pm_1 (-2.00%)" in flag.note and "3 lost" in flag.note
    # One loser short of the threshold: no flag.
    assert validator.judge(_pitch(), similar, min_losers=4) is None


def test_the_validator_leaves_flat_pitches_and_setups_without_an_outcome_alone() -> None:
    losers = [_hit(n, -0.01) for n in range(1, 6)]
    assert validator.judge(_pitch("FLAT", 0), losers, min_losers=1) is None
    unknown = [_hit(n, None) for n in range(1, 6)]
    assert validator.judge(_pitch(), unknown, min_losers=1) is None


def _postmortem(instrument: str | None, indicators: list[IndicatorOutcome]) -> Postmortem:
    return Postmortem(
        week_id=WEEK,
        account_id="acct_1",
        instrument=instrument,
        direction="LONG",
        start_equity=100_000,
        end_equity=99_000,
        realized_pnl=0,
        unrealized_pnl=-1000,
        week_pnl=-1000,
        week_return=-0.01,
        instrument_return=-0.02,
        indicators=indicators,
        reflection=None,
    )


def test_an_outcome_is_wrong_when_a_threshold_broke_and_unjudged_when_nothing_was_read() -> None:
    setup = pitch_setup(_pitch())
    broke = [
        IndicatorOutcome(indicator="rsi_14", threshold="rsi_14 < 70", observed=75, held=False),
        IndicatorOutcome(
            indicator="price_vs_sma_20",
            threshold="price_vs_sma_20 < -0.02",
            observed=0.0,
            held=True,
            role="invalidation",
        ),
    ]
    outcome = outcome_of(setup, _postmortem("SPY", broke), AT)
    assert (outcome.thesis_right, outcome.broken, outcome.week_return) == (False, ("rsi_14 < 70",), -0.01)
    assert outcome.known_at == AT and outcome.setup_id == setup.memory_id
    held = [IndicatorOutcome(indicator="rsi_14", threshold="rsi_14 < 70", observed=60, held=True)]
    assert outcome_of(setup, _postmortem("SPY", held), AT).thesis_right is True
    unread = [IndicatorOutcome(indicator="rsi_14", threshold="rsi_14 < 70", observed=None, held=None)]
    assert outcome_of(setup, _postmortem("SPY", unread), AT).thesis_right is None
    # The account ended up in another instrument: its thresholds say nothing about this setup.
    other = outcome_of(setup, _postmortem("QQQ", broke), AT)
    assert (other.thesis_right, other.broken, other.instrument_return) == (None, (), None)


def test_min_losers_above_the_neighbours_is_a_config_error(tmp_path: Path) -> None:
    write_defaults(tmp_path)
    models = tmp_path / "models.yaml"
    text = models.read_text()
    assert "validator_neighbours: 5, validator_min_losers: 3" in text
    models.write_text(
        text.replace(
            "validator_neighbours: 5, validator_min_losers: 3", "validator_neighbours: 3, validator_min_losers: 4"
        )
    )
    with pytest.raises(ConfigError, match="validator_min_losers"):
        load_config(tmp_path)
