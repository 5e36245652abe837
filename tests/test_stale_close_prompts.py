"""The PMs are told when a close in their prompt is several sessions old: a quiet symbol (no trade of it on its feed:
a thin name on Alpaca's iex feed, a halt) is priced at a close up to market/untraded.py QUIET_TAIL sessions old, which
a model would argue from as the last session's. Past risk/stale.py STALE_AFTER sessions (where the gate opens and adds
nothing at it), the weekly snapshot table and the checkpoint prompt say the close's day and age; otherwise the prompts
are what they were, to the byte (a backtest's replay cache and its invariant hash compare them)."""

from __future__ import annotations

import random
from datetime import date

from llmtrade.agents.checkpointer import ROLE, _packaged
from llmtrade.domain.market import PriceAge
from llmtrade.market.calendar import TradingCalendar
from llmtrade.prompts.renderer import PromptRenderer
from tests.test_checkpoint_prompt import _variables
from tests.test_prompts import _market

CALENDAR = TradingCalendar()
SESSION = date(2025, 1, 7)


def _quiet(sessions: int):
    """`_market`'s snapshot with TLT's close `sessions` sessions before the snapshot's last one."""
    snapshot = _market(101.5)
    day = CALENDAR.sessions_between(date(2024, 12, 1), SESSION)[-1 - sessions]
    indicators = dict(snapshot.indicators)
    indicators["TLT"] = indicators["TLT"].model_copy(update={"asof_day": day})
    return snapshot.model_copy(update={"indicators": indicators}), day


def test_a_pitch_prompt_says_a_close_three_sessions_old_is_of_its_day() -> None:
    snapshot, day = _quiet(3)
    user = PromptRenderer().render("peer_review", label="B", pitch={"idea": "x"}, snapshot=snapshot).user
    assert (
        f"TLT's close 101.5 is of {day}, 3 sessions before the last complete session ({SESSION}): no trade of it on "
        "the feed since (a thin name, a halt); it is not a current price, and no position is opened in or added to "
        "at it." in user
    ), user


def test_a_pitch_prompt_without_a_close_that_old_is_as_before() -> None:
    def review(snapshot: object) -> str:
        return PromptRenderer().render("peer_review", label="B", pitch={"idea": "x"}, snapshot=snapshot).user

    fresh = review(_market(101.5))
    assert review(_quiet(1)[0]) == fresh and review(_quiet(2)[0]) == fresh


def test_a_checkpoint_prompt_says_its_price_is_a_close_sessions_old_written_as_the_renderer_writes_it() -> None:
    rng = random.Random(5)
    for _ in range(100):
        variables = _variables(rng)
        age = PriceAge(symbol=variables["instrument"], day=date(2026, 1, 7), session=date(2026, 1, 12), sessions=3)
        variables["stale"] = age
        written = _packaged(PromptRenderer(), variables)
        assert written is not None and written == PromptRenderer().render(ROLE, **variables)
        assert (
            f"{variables['instrument']}'s price now is its last close, of 2026-01-07, 3 sessions before the last "
            "complete session (2026-01-12): no trade of it on the feed since (a thin name, a halt); it is not a "
            "current price, and no position is opened in or added to at it." in written.user
        ), written.user
