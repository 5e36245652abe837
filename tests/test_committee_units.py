"""The committee in pure code: what each reviewer and the chairman are shown."""

from __future__ import annotations

from llmtrade.council.committee import Committee, anonymous
from tests.test_memory_use_units import WEEK, _pitch


def test_the_committee_shows_each_pitch_as_one_anonymous_object_and_a_new_pitch_afresh() -> None:
    # Every reviewer and the chairman are shown the same object (the renderer writes its JSON once per object);
    # a pitch made anew under the same idea id (a rerun that read it back) gets its own.
    committee = Committee(None, None, [], None, [], WEEK, "run")  # type: ignore[arg-type]  # no call is made
    pitch = _pitch()
    shown = committee._anonymous(pitch)
    assert shown == anonymous(pitch) and committee._anonymous(pitch) is shown
    again = _pitch(direction="SHORT", conviction=-1)
    assert committee._anonymous(again) == anonymous(again) and committee._anonymous(again).direction == "SHORT"
