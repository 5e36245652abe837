"""The validator: pure code, no model. It warns the chairman about pitches that resemble past losing setups.

For each pitch that takes a position, the caller retrieves its most similar past setups whose outcome was known
before the run's as-of time (models.yaml `memory.validator_neighbours`); the pitch is flagged when at least
`memory.validator_min_losers` of them lost money (the account's week return below zero). A flag only informs:
the chairman's prompt shows it, and the risk gate sizes and limits whatever the chairman decides as always.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmtrade.domain.committee import Pitch
from llmtrade.domain.memory import Recollection, SetupFlag


def judge(pitch: Pitch, similar: Sequence[Recollection], *, min_losers: int) -> SetupFlag | None:
    """A flag on `pitch` when at least `min_losers` of `similar` (setups with outcomes, most similar first) lost;
    None for a FLAT pitch (it risks nothing), or when too few lost. `mean_return` is the mean week return of
    every similar setup with an outcome, a fraction."""
    if pitch.direction == "FLAT" or pitch.conviction == 0:
        return None
    # A setup whose week began at no equity has no return (None): it neither lost nor says what such pitches make.
    ended = [
        (hit, hit.outcome.week_return)
        for hit in similar
        if hit.setup is not None and hit.outcome is not None and hit.outcome.week_return is not None
    ]
    losers = [(hit, r) for hit, r in ended if r < 0]
    if not ended or len(losers) < min_losers:
        return None
    mean = sum(r for _, r in ended) / len(ended)
    cited = ", ".join(f"{hit.memory_id} ({r:+.2%})" for hit, r in losers)
    note = (
        f"{pitch.direction} {pitch.instrument} resembles {len(ended)} past setups of which {len(losers)} lost "
        f"(mean week return {mean:+.2%}); the losers: {cited}"
    )
    return SetupFlag(
        idea_id=pitch.idea_id,
        pm_id=pitch.pm_id,
        instrument=pitch.instrument,
        direction=pitch.direction,
        similar=tuple(hit.memory_id for hit, _ in ended),
        losers=len(losers),
        mean_return=mean,
        note=note,
    )
