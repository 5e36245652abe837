"""A position on a symbol the week's universe keeps only because an account holds it (Instrument.held_only): the
risk gate lets a checkpoint close or cut it, never add to or flip it. The checkpoint's prompt says so and its answer
schema offers nothing else, as the research, pitch and chairman prompts mark it (trial M); a position on any other
symbol is asked exactly as before (the replay cache's keys)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from llmtrade.agents import checkpointer
from llmtrade.agents.checkpointer import ROLE, _packaged, answer_schema
from llmtrade.config.models import Config, Instrument
from llmtrade.domain.committee import WatchedIndicator
from llmtrade.prompts.renderer import PromptRenderer

# checkpoint.user.j2 as packaged before the close-only mark: a position not close-only must be asked to the byte so.
_BEFORE = """Checkpoint {{ time }} New York.
Position: {{ direction }} {{ instrument }} at conviction {{ conviction }}; P/L on the position {{ pnl_pct | pct }}.

Your thesis:
{% for bullet in thesis %}
- {{ bullet }}
{% endfor %}

Watched indicators (frozen thresholds) and their values now:
{% for w in watched %}
- {{ w.name }}: {{ w.threshold.describe() }} — now {{ values.get(w.threshold.indicator) | num }} ({{ w.why }})
{% endfor %}

{% if memory %}
{% include "_memory.j2" %}
{% endif %}
Decide: STAY, REDUCE, EXIT or FLIP.
"""
NOTE = "close-only: in the universe only because an account holds it; it may be closed or cut, never opened"


def _variables(*, close_only: bool, memory: tuple[str, ...] = (), outside: bool = False) -> dict[str, Any]:
    rsi = WatchedIndicator(
        name="RSI", threshold={"indicator": "rsi_14", "op": "<", "value": 70.0}, why="not overbought"
    )
    return {
        "instrument": "NVDA",
        "direction": "SHORT",
        "conviction": -1,
        "thesis": ["momentum fades"],
        "watched": [rsi],
        "values": {"rsi_14": 55.0},
        "pnl_pct": -0.004,
        "time": "12:00",
        "memory": memory,
        "close_only": close_only,
        "outside": outside,
    }


def test_a_close_only_position_is_asked_to_stay_reduce_or_exit_and_told_why() -> None:
    renderer = PromptRenderer()
    for memory in ((), ("a past setup [setup:1]",)):
        variables = _variables(close_only=True, memory=memory)
        written = _packaged(renderer, variables)
        assert written is not None and written == renderer.render(ROLE, **variables)
        assert written.user.endswith(f"\nNVDA: {NOTE}, added to or flipped.\nDecide: STAY, REDUCE or EXIT."), written
        assert "FLIP." not in written.user


def test_a_held_position_in_no_universe_is_told_so_not_that_the_universe_keeps_it() -> None:
    # A symbol taken out of assets.yaml while held is in no universe at all: the prompt said "in the universe only
    # because an account holds it", which was not true of it.
    renderer = PromptRenderer()
    for memory in ((), ("a past setup [setup:1]",)):
        variables = _variables(close_only=True, memory=memory, outside=True)
        written = _packaged(renderer, variables)
        assert written is not None and written == renderer.render(ROLE, **variables)
        assert written.user.endswith(
            "\nNVDA: close-only: in no universe this week, judged only because an account holds it; it may be closed "
            "or cut, never opened, added to or flipped.\nDecide: STAY, REDUCE or EXIT."
        ), written
        assert "in the universe only because" not in written.user


def test_a_position_not_close_only_is_asked_as_before_to_the_byte(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.user.j2").write_text(_BEFORE, encoding="utf-8")
    before = PromptRenderer(tmp_path)
    for memory in ((), ("a past setup [setup:1]",)):
        variables = _variables(close_only=False, memory=memory)
        written = _packaged(PromptRenderer(), variables)
        assert written is not None
        assert written == before.render(ROLE, **variables)
        assert "close-only" not in written.user


@pytest.mark.parametrize("before", [-2, -1, 1, 2])
def test_a_close_only_answer_schema_offers_no_flip_and_no_rise_in_conviction(before: int) -> None:
    side = 1 if before > 0 else -1
    schema = answer_schema(before, close_only=True)

    def answer(action: str, after: int) -> Any:
        return schema.model_validate({"move": {"action": action, "conviction_after": after}, "reason_delta": "r"})

    assert answer("STAY", before).move.conviction_after == before
    assert answer("REDUCE", side).move.conviction_after == side
    assert answer("EXIT", 0).move.action == "EXIT"
    for action, after in (("FLIP", -side), ("FLIP", -2 * side)):
        with pytest.raises(ValidationError):
            answer(action, after)
    if abs(before) == 1:
        with pytest.raises(ValidationError):
            answer("STAY", 2 * side)  # an add, which the gate cuts back to what is held
    text = str(schema.model_json_schema())
    assert "FLIP" not in text
    assert "FLIP" in str(answer_schema(before).model_json_schema())  # the usual position may still flip


# (instrument, outside) of each position the last `_asked_at_noon` asked about.
outside: list[tuple[str, bool]] = []


def _asked_at_noon(monkeypatch: pytest.MonkeyPatch, universe: Callable[[list[Instrument]], list[Instrument]]) -> list:
    """(instrument, close_only) of each position the 12:00 checkpoint asked about, after the week's run, with the
    week's universe as `universe` makes it from the one the run had (as a later job of the week reads it)."""
    from typer.testing import CliRunner

    from llmtrade.app import container
    from llmtrade.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    asked: list[tuple[str, bool]] = []
    outside.clear()
    check = checkpointer.check

    async def recording(*args: Any, **kwargs: Any) -> Any:
        asked.append((kwargs["instrument"], kwargs["close_only"]))
        outside.append((kwargs["instrument"], kwargs.get("outside", False)))
        return await check(*args, **kwargs)

    monkeypatch.setattr(checkpointer, "check", recording)
    fixed = container.week_config

    def changed(*args: Any) -> Config:
        config = fixed(*args)
        kept = universe(config.assets.universe)
        return config.model_copy(update={"assets": config.assets.model_copy(update={"universe": kept})})

    monkeypatch.setattr(container, "week_config", changed)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    result = runner.invoke(app, ["checkpoint", "12:00"])
    assert result.exit_code == 0, result.output
    return asked


def test_the_checkpoint_stage_asks_a_held_only_symbols_owner_close_only(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wiring: the stage reads the week's universe mark. Here every symbol of the week's universe is marked held-only
    after the weekly run (as a watchlist week marks what it keeps only because it is held), so each position is asked
    close-only (and the gate is reduce-only on it)."""
    asked = _asked_at_noon(monkeypatch, lambda universe: [i.model_copy(update={"held_only": True}) for i in universe])
    assert asked and all(close_only for _, close_only in asked), asked


def test_a_position_on_a_symbol_out_of_the_universe_is_asked_close_only_too(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symbol taken out of assets.yaml mid-week while held (static mode reads assets.yaml at each job) is in no
    universe at all: the gate lets it be closed or cut, nothing more (risk/gate.py, step 1), as a held-only one. It was
    asked with FLIP and a rise in conviction offered."""
    asked = _asked_at_noon(monkeypatch, lambda universe: [i for i in universe if i.symbol == "SPY"])
    assert {symbol for symbol, _ in asked} - {"SPY"}, asked  # some position out of the universe was asked
    assert all(close_only == (symbol != "SPY") for symbol, close_only in asked), asked
    assert outside == [(symbol, symbol != "SPY") for symbol, _ in asked]  # and told it is in no universe
