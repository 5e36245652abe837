"""The offline rules PM's pitch never watches the expression it exits on: a watched threshold is what must stay true for
the call to stand (agents/checkpointer.py reads one that no longer holds as the thesis breaking), so wherever the
invalidation rule fires, the watched indicators on its indicator must be broken too. The FLAT pitch watched
`return_1w > 0.02` and was invalidated by `return_1w > 0.02`: its postmortem said the thesis broke in every
quiet week."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from llmtrade.agents.pm import offline_pitch
from llmtrade.domain.committee import PitchReply


def _packs(bias: str) -> list[SimpleNamespace]:
    candidate = SimpleNamespace(instrument="GLD", directional_bias=bias, one_week_thesis="gold trends")
    indicators = {"GLD": SimpleNamespace(return_4w=0.06, realized_vol_20=0.12)}
    return [SimpleNamespace(tradable_candidates=[candidate], snapshot=SimpleNamespace(indicators=indicators))]


@pytest.mark.parametrize("bias", ["FLAT", "LONG", "SHORT"])
def test_no_watched_threshold_holds_where_the_invalidation_fires(bias: str) -> None:
    pitch = offline_pitch(PitchReply, "pm_a", _packs(bias), random.Random(1))  # type: ignore[arg-type]
    rule = pitch.invalidation.rule
    assert rule is not None
    same = [w.threshold for w in pitch.indicators if w.threshold.indicator == rule.indicator]
    probes = [rule.value + step for step in (-0.05, -0.02, -0.001, 0.0, 0.001, 0.02, 0.05)]
    for value in probes:
        if rule.holds(value):  # the invalidation fires here
            held = [t.describe() for t in same if t.holds(value)]
            assert not held, f"{bias}: at {rule.indicator}={value} the exit fires while {held} still holds"
    assert all(t.describe() != rule.describe() for t in same)
