"""Prompt templates: packaged, strict about missing variables, overridable by name."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import jinja2
import pytest
from pytest import MonkeyPatch

from llmtrade.config.models import AssetClass, Instrument
from llmtrade.config_errors import ConfigError
from llmtrade.domain.market import IndicatorSet
from llmtrade.domain.research import MarketSnapshot
from llmtrade.errors import PromptError
from llmtrade.prompts.renderer import PromptRenderer


def test_a_packaged_template_renders() -> None:
    prompt = PromptRenderer().render("council_ranking", query="Why?", answers={"A": "one", "B": "two"})
    assert "--- Answer A ---\none" in prompt.user and "(A, B)" in prompt.user
    assert "anonymous" in prompt.system


def test_a_missing_variable_is_an_error_that_names_it_and_the_template() -> None:
    with pytest.raises(PromptError) as caught:
        PromptRenderer().render("council_ranking", query="Why?")
    assert "council_ranking.user.j2" in str(caught.value)
    assert "'answers' is undefined" in str(caught.value)
    assert "variables given: query" in str(caught.value)


def test_a_user_folder_overrides_a_template_by_name(tmp_path: Path) -> None:
    (tmp_path / "council_answer.system.j2").write_text("Answer like a pirate.")
    prompt = PromptRenderer(tmp_path).render("council_answer", query="Hello?")
    assert prompt.system == "Answer like a pirate."
    assert prompt.user == "Hello?"  # not overridden: the packaged template


def test_an_unknown_template_and_a_syntax_error_are_explained(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match=r"nonexistent\.system\.j2 not found"):
        PromptRenderer().render("nonexistent")
    (tmp_path / "council_answer.user.j2").write_text("{% if query %}unclosed")
    # An override is parsed when the renderer is built, before a run spends any model call.
    with pytest.raises(ConfigError, match=r"council_answer\.user\.j2\n  - line 1: template syntax error"):
        PromptRenderer(tmp_path)


def test_an_override_asking_for_a_template_there_is_not_is_refused_naming_it(tmp_path: Path) -> None:
    """Included, extended or imported: jinja2 looks it up only when it renders, so the run's first render failed."""
    (tmp_path / "_house_rules.j2").write_text("Be brief.")
    (tmp_path / "pm_pitch.system.j2").write_text(
        '{% include "_house_rules.j2" %}\n{% include "_memory.j2" %}\n{% include "_gone.j2" ignore missing %}\n'
        '{% include "_" ~ week_id ~ ".j2" ignore missing %}\n{% include ["_nowhere.j2", "_house_rules.j2"] %}'
    )  # all there (one of the user's, one packaged), or allowed not to be, or named only at render time
    PromptRenderer(tmp_path)
    (tmp_path / "pm_pitch.user.j2").write_text(
        'Rules:\n{% include "_rules.j2" %}\n{% from "_macros.j2" import row %}\n{% include ["_a.j2", "_b.j2"] %}'
    )
    (tmp_path / "chairman_decision.user.j2").write_text('{% extends "base.j2" %}')
    with pytest.raises(ConfigError) as refused:
        PromptRenderer(tmp_path)
    message = str(refused.value)
    assert f"invalid configuration in {tmp_path / 'pm_pitch.user.j2'}\n" in message
    assert f"  - line 2: includes template '_rules.j2', which is not in {tmp_path} or packaged\n" in message
    assert "  - line 3: imports from template '_macros.j2', which is not in" in message
    assert "  - line 4: includes the first there is of templates '_a.j2', '_b.j2': none is in" in message
    assert f"invalid configuration in {tmp_path / 'chairman_decision.user.j2'}" in message
    assert "  - line 1: extends template 'base.j2', which is not in" in message


def test_a_template_missing_at_render_time_is_named_with_the_template_asking_for_it(tmp_path: Path) -> None:
    """A name made at render time, or a partial deleted after the check: the run said the includer was not found."""
    variables = {"week_id": date(2026, 1, 7), "packs": [], "snapshot": None, "universe": [], "memory": ()}
    (tmp_path / "pm_pitch.user.j2").write_text('Week\n{% include "_week_" ~ week_id ~ ".j2" %}')
    with pytest.raises(PromptError) as failed:
        PromptRenderer(tmp_path).render("pm_pitch", **variables)
    assert str(failed.value) == (
        f"prompt template {tmp_path / 'pm_pitch.user.j2'}, line 2: asks for template '_week_2026-01-07.j2', which is "
        f"not in {tmp_path} or packaged"
    )
    # A partial deleted after the check was read by it: the command renders the text it read (each template is read
    # once per command), where it failed as missing.
    (tmp_path / "pm_pitch.user.j2").write_text('Week\n\n{% include "_rules.j2" %}')
    (tmp_path / "_rules.j2").write_text("Be brief.")
    renderer = PromptRenderer(tmp_path)
    (tmp_path / "_rules.j2").unlink()
    assert renderer.render("pm_pitch", **variables).user == "Week\n\nBe brief."


def test_an_override_failing_as_it_renders_names_its_file_and_line(tmp_path: Path) -> None:
    """Each parses and passes the check (every variable is given): an operation, an attribute or a filter fails only
    on the values, and the run said "unsupported operand type(s) ..." with no template, file or line."""
    variables = {"week_id": date(2026, 1, 7), "packs": [], "snapshot": _market(101.5), "universe": [], "memory": ()}
    user = tmp_path / "pm_pitch.user.j2"
    for text, message in (
        ("Week\n{{ week_id + 7 }}", "line 2: TypeError: unsupported operand type(s) for +: 'datetime.date' and 'int'"),
        (
            "Week\n\n{{ snapshot.no_such_field }}",
            "line 3: 'llmtrade.domain.research.MarketSnapshot object' has no attribute 'no_such_field' "
            "(variables given: memory, packs, snapshot, universe, week_id)",
        ),
        ("{% for p in packs %}{% endfor %}\n{{ 'up' | num }}", "line 2: ValueError: Unknown format code 'f'"),
    ):
        user.write_text(text)
        with pytest.raises(PromptError) as failed:
            PromptRenderer(tmp_path).render("pm_pitch", **variables)
        assert str(failed.value).startswith(f"prompt template {user}, {message}"), str(failed.value)
        assert failed.value.exit_code == 2  # the user's configuration, as `config validate` refusing it
    # In a partial of the user's: its own file and line, and the template that included it.
    user.write_text('Week\n{% include "_rules.j2" %}')
    (tmp_path / "_rules.j2").write_text("Rules\n{{ week_id.no_such_field }}")
    with pytest.raises(PromptError) as failed:
        PromptRenderer(tmp_path).render("pm_pitch", **variables)
    assert str(failed.value).startswith(
        f"prompt template {tmp_path / '_rules.j2'} (included by pm_pitch.user.j2), line 2: "
        "'datetime.date object' has no attribute 'no_such_field'"
    ), str(failed.value)


def test_a_packaged_template_failing_as_it_renders_is_llmtrades_own_failure(tmp_path: Path) -> None:
    with pytest.raises(PromptError) as failed:
        PromptRenderer(tmp_path).render("council_ranking", query="Why?", answers=None)
    assert str(failed.value).startswith(
        "prompt template council_ranking.user.j2 (packaged), line 4: 'None' has no attribute 'items'"
    )
    assert failed.value.exit_code == 1


def _market(close: float) -> MarketSnapshot:
    names = "return_1w return_4w return_12w sma_20 sma_50 sma_200 price_vs_sma_20 price_vs_sma_50 price_vs_sma_200"
    names += " rsi_14 atr_14 realized_vol_20 drawdown_from_52w_high corr_spy_60"
    values = dict.fromkeys(names.split(), 0.0123)
    sets = {
        s: IndicatorSet(symbol=s, asof_day=date(2025, 1, 7), close=close, bars_used=260, synthetic=True, **values)
        for s in ("SPY", "QQQ", "TLT")
    }
    return MarketSnapshot(
        asof=datetime(2025, 1, 8, 13, tzinfo=UTC), session=date(2025, 1, 7), source="t", synthetic=True, indicators=sets
    )


def test_the_shared_snapshot_table_is_byte_for_byte_the_include(tmp_path: Path) -> None:
    # The packaged templates show the table through snapshot_table() (rendered once per snapshot); an
    # override still written with the include must give the same prompt, newlines and all.
    packaged = jinja2.PackageLoader("llmtrade", "prompts")
    for name in ("peer_review.user.j2", "pm_pitch.user.j2", "research.user.j2", "chairman_decision.user.j2"):
        source = packaged.get_source(jinja2.Environment(), name)[0]
        assert "snapshot_table(snapshot)" in source
        (tmp_path / name).write_text(source.replace("{{ snapshot_table(snapshot) }}", '{% include "_snapshot.j2" %}'))
    snapshot = _market(101.5)
    variables = {"label": "B", "pitch": {"idea": "x"}, "snapshot": snapshot}
    assert PromptRenderer().render("peer_review", **variables) == PromptRenderer(tmp_path).render(
        "peer_review", **variables
    )
    assert "SPY | 101.5 | +1.2%" in PromptRenderer().render("peer_review", **variables).user


def test_the_snapshot_table_renders_once_per_snapshot_and_afresh_for_a_new_one(monkeypatch: MonkeyPatch) -> None:
    renderer = PromptRenderer()
    renders: list[str] = []
    real = renderer._env.get_template

    def counting(name: str, *args: object, **kwargs: object) -> jinja2.Template:
        renders.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(renderer._env, "get_template", counting)
    first = _market(101.5)
    prompts = [renderer.render("peer_review", label=x, pitch={}, snapshot=first).user for x in "ABCD"]
    assert renders.count("_snapshot.j2") == 1
    assert all("SPY | 101.5" in p for p in prompts)
    moved = renderer.render("peer_review", label="A", pitch={}, snapshot=_market(99.0)).user
    assert renders.count("_snapshot.j2") == 2
    assert "SPY | 99.0" in moved and "101.5" not in moved


def test_a_frozen_models_json_is_written_once_per_object_and_afresh_for_a_new_one(monkeypatch: MonkeyPatch) -> None:
    import llmtrade.prompts.renderer as renderer_module

    renderer = PromptRenderer()
    written: list[object] = []
    real = renderer_module._to_json

    def counting(value: object) -> str:
        written.append(value)
        return real(value)

    monkeypatch.setattr(renderer_module, "_to_json", counting)
    snapshot = _market(101.5)
    pitch = _market(7.25)  # any frozen model
    prompts = [renderer.render("peer_review", label=x, pitch=pitch, snapshot=snapshot).user for x in "ABC"]
    assert written == [pitch]
    assert all(real(pitch) in p for p in prompts)
    # A new object (a frozen model changes only by being made anew) is written afresh, never the kept text.
    moved = pitch.model_copy(update={"source": "moved"})
    text = renderer.render("peer_review", label="A", pitch=moved, snapshot=snapshot).user
    assert written == [pitch, moved] and '"source": "moved"' in text
    # A plain value (a dict may change in place) is written every time.
    for _ in range(2):
        renderer.render("peer_review", label="A", pitch={"idea": "x"}, snapshot=snapshot)
    assert written[2:] == [{"idea": "x"}, {"idea": "x"}]


def _week_prompts(universe: list[Instrument]) -> dict[str, str]:
    """The user prompts that list the week's universe (research, pitch) or decide on it (chairman), for `universe`."""
    renderer, snapshot, week = PromptRenderer(), _market(101.5), date(2025, 1, 8)
    asof = datetime(2025, 1, 8, 13, tzinfo=UTC)
    return {
        "research": renderer.render("research", universe=universe, snapshot=snapshot, week_id=week, asof=asof).user,
        "pm_pitch": renderer.render(
            "pm_pitch", packs=[], universe=universe, week_id=week, snapshot=snapshot, memory=()
        ).user,
        "chairman_decision": renderer.render(
            "chairman_decision",
            pitches={},
            reviews={},
            scores=[],
            week_id=week,
            snapshot=snapshot,
            flags=(),
            universe=universe,
        ).user,
    }


def test_a_symbol_held_only_is_shown_close_only_and_a_week_without_one_is_asked_as_before() -> None:
    """The risk gate refuses to open, add to or flip a symbol the week's universe keeps only because an account holds
    it: a PM shown it unmarked could pitch it and leave its account flat for the week. A week without one is asked
    the same prompts as before the mark (the replay cache's keys)."""
    spy, tlt = Instrument(symbol="SPY", asset_class=AssetClass.EQUITY), Instrument(symbol="TLT", asset_class="rates")
    held = Instrument(symbol="QQQ", asset_class=AssetClass.EQUITY, name="Nasdaq 100", held_only=True)
    note = "close-only: in the universe only because an account holds it; it may be closed or cut, never opened"
    marked = _week_prompts([spy, held, tlt])
    assert f"Universe: SPY (equity), QQQ (equity; {note}, added to or flipped), TLT (rates).\n" in marked["pm_pitch"]
    assert f"- QQQ (equity; {note}, added to or flipped): Nasdaq 100\n" in marked["research"]
    assert f"\n\nQQQ: {note}, added to or flipped.\n\nDecide the committee's trade." in marked["chairman_decision"]
    plain = _week_prompts([spy, held.model_copy(update={"held_only": False}), tlt])
    assert "Universe: SPY (equity), QQQ (equity), TLT (rates).\n\nMarket snapshot" in plain["pm_pitch"]
    assert "Universe:\n- SPY (equity): \n- QQQ (equity): Nasdaq 100\n- TLT (rates): \n\nMarket" in plain["research"]
    assert plain["chairman_decision"].endswith(
        "Aggregate scores (mean of all review scores, best first):\n\nDecide the committee's trade."
    )
    assert not any("close-only" in text for text in plain.values())
