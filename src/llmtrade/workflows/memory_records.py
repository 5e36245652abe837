"""What the week's stages remember, built from what they stored: pure functions, no store, no model.

Every memory id is built from the week, the kind and the author (domain/memory.py), so a rerun or a replayed
backtest builds the same ids and `Memory.remember` leaves what is already stored as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from llmtrade.domain.checkpoints import Postmortem
from llmtrade.domain.committee import Decision, Pitch
from llmtrade.domain.memory import Lesson, Outcome, Setup, SymbolNote
from llmtrade.domain.research import ResearchPack

CHAIRMAN = "chairman"


def pitch_setup(pitch: Pitch) -> Setup:
    """A pitch as the setup it was when made (known at its timestamp)."""
    return Setup(
        memory_id=f"setup:{pitch.week_id}:pitch:{pitch.pm_id}",
        week_id=pitch.week_id,
        known_at=pitch.timestamp,
        source="pitch",
        author=pitch.pm_id,
        account_id=pitch.account_id,
        instrument=pitch.instrument,
        direction=pitch.direction,
        conviction=pitch.conviction,
        thesis="\n".join(pitch.thesis_bullets),
        indicators=tuple(w.threshold.describe() for w in pitch.indicators),
        invalidation=pitch.invalidation.rule.describe(),
    )


def decision_setup(decision: Decision) -> Setup:
    """The chairman's decision as a setup: its rationale is the thesis, its monitoring plan the indicators."""
    return Setup(
        memory_id=f"setup:{decision.week_id}:decision:{CHAIRMAN}",
        week_id=decision.week_id,
        known_at=decision.timestamp,
        source="decision",
        author=CHAIRMAN,
        account_id=decision.account_id,
        instrument=decision.selected_trade.instrument,
        direction=decision.selected_trade.direction,
        conviction=decision.conviction,
        thesis=decision.rationale,
        indicators=tuple(w.threshold.describe() for w in decision.monitoring_plan.key_indicators),
        invalidation=decision.invalidation.rule.describe(),
    )


def symbol_notes(packs: Sequence[ResearchPack]) -> list[SymbolNote]:
    """One note per instrument per pack: the candidate's one-week thesis, risks and invalidation rule."""
    notes: dict[str, SymbolNote] = {}
    for pack in packs:
        for candidate in pack.tradable_candidates:
            memory_id = f"symbol:{pack.week_id}:{candidate.instrument}:{pack.label}"
            risks = "; ".join(candidate.primary_risks) or "none listed"
            notes.setdefault(
                memory_id,
                SymbolNote(
                    memory_id=memory_id,
                    week_id=pack.week_id,
                    known_at=pack.asof_et,
                    instrument=candidate.instrument,
                    text=(
                        f"{candidate.directional_bias}: {candidate.one_week_thesis} Risks: {risks}. "
                        f"Invalidation: {candidate.invalidation_rule}"
                    ),
                ),
            )
    return list(notes.values())


def outcome_of(setup: Setup, postmortem: Postmortem, known_at: datetime) -> Outcome:
    """How `setup` ended, from its account's postmortem.

    thesis_right: None for a FLAT setup, for an account that ended up trading another instrument, or when no
    frozen threshold could be read; otherwise True only when every readable threshold held (the invalidation
    rule counts as holding while it did not fire). broken: the thresholds that did not hold."""
    same = postmortem.instrument == setup.instrument
    outcomes = postmortem.indicators if same else []
    known = [o for o in outcomes if o.held is not None]
    thesis_right = None if setup.direction == "FLAT" or not known else all(o.held for o in known)
    return Outcome(
        setup_id=setup.memory_id,
        week_id=setup.week_id,
        known_at=known_at,
        account_id=postmortem.account_id,
        week_return=postmortem.week_return,
        week_pnl=postmortem.week_pnl,
        instrument_return=postmortem.instrument_return if same else None,
        thesis_right=thesis_right,
        broken=tuple(o.threshold for o in outcomes if o.held is False),
    )


def closing_memories(
    setups: Sequence[Setup], postmortems: Sequence[Postmortem], known_at: datetime
) -> tuple[list[Outcome], list[Lesson]]:
    """The week's outcomes (one per setup whose account has a postmortem) and lessons (one per reflection
    bullet), all known at `known_at`: when the postmortem made them."""
    by_account = {p.account_id: p for p in postmortems}
    outcomes = [
        outcome_of(setup, by_account[setup.account_id], known_at) for setup in setups if setup.account_id in by_account
    ]
    lessons = [
        Lesson(
            memory_id=f"lesson:{p.week_id}:{p.account_id}:{n}",
            week_id=p.week_id,
            known_at=known_at,
            account_id=p.account_id,
            instrument=p.instrument,
            text=text,
        )
        for p in postmortems
        if p.reflection is not None
        for n, text in enumerate(p.reflection.lessons, start=1)
    ]
    return outcomes, lessons
