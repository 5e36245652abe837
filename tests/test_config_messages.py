"""A config error in the user's words: a bad YAML merge named at the `<<:` written, every value refused shown (a
mapping or list shortened), and every constraint (range, length, choices, pattern, type) said as the setting's
allowed values, not pydantic's "Input should be ...". Found by a new user's trial."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from llmtrade.cli import app
from llmtrade.config.loader import write_defaults
from llmtrade.config_errors import shown

runner = CliRunner()
PYDANTIC_WORDS = ("Input should", "should have", "String should", "valid dictionary", "after validation")


def _folder(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / filename
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not in {filename}"
    path.write_text(text.replace(old, new, 1))
    return folder


def _refused(folder: Path, *expected: str) -> Result:
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.output, f"{text!r} not in:\n{result.output}"
    for words in PYDANTIC_WORDS:
        assert words not in result.output, result.output
    return result


# ---------------------------------------------------------------- a bad merge is named where it is written

PROVIDERS = "providers:\n  openrouter:\n"
MERGES = {
    # (anchors and merge, the `<<:` line, what the message says was merged)
    "a list anchor": ("x-list: &alist\n  - a\n  - b\n", "    <<: *alist\n", "a list (at line 3) holding the value 'a'"),
    "a mapping and a list": (
        "x-map: &amap {timeout_seconds: 5}\nx-list: &alist [a, b]\n",
        "    <<: [*amap, *alist]\n",
        "a list holding a list (at line 4)",
    ),
    "a scalar anchor": ("x-text: &text hello\n", "    <<: *text\n", "the value 'hello' (at line 3)"),
    "a number": ("", "    <<: 5\n", "the value '5'"),
    "nothing": ("", "    <<:\n", "nothing"),
}


@pytest.mark.parametrize("case", list(MERGES))
def test_a_bad_merge_names_the_file_and_the_line_of_its_merge_key(tmp_path: Path, case: str) -> None:
    anchors, merge, given = MERGES[case]
    folder = _folder(tmp_path, "models.yaml", PROVIDERS, anchors + PROVIDERS + merge)
    lines = (folder / "models.yaml").read_text().splitlines()
    merge_line = lines.index(merge.rstrip("\n")) + 1
    _refused(
        folder,
        f"{folder}/models.yaml",
        f"  - line {merge_line}, column 5: malformed YAML: `<<:` merges a mapping or a list of mappings, but was given",
        given,
    )


# ---------------------------------------------------------------- every value refused is shown


@pytest.mark.parametrize(
    ("filename", "old", "new", "expected"),
    [
        (
            "schedule.yaml",
            "retry_until: next_job",
            "retry_until: {minutes: 30}",
            "retry_until: must be next_job, or a whole number of minutes from 0 to 10080 (got {'minutes': 30})",
        ),
        ("schedule.yaml", "retry_until: next_job", "retry_until: [30]", "(got [30])"),
        (
            "schedule.yaml",
            'weekly_run: {day: wednesday, time: "08:00"}',
            "weekly_run: wednesday",
            "weekly_run: must be a mapping (key: value) (got 'wednesday')",
        ),
        ("risk.yaml", "alerts: {drawdown_pct: 0.10, silence_days: 8}", "alerts: 8", "alerts: must be a mapping"),
        (
            "schedule.yaml",
            "retry_until: next_job",
            "retry_until: {" + ", ".join(f"k{i}: {i}" for i in range(30)) + "}",
            "(got {'k0': 0, 'k1': 1, 'k2': 2, 'k3': 3, 'k4': 4, 'k5': 5, 'k6':… (30 entries))",
        ),
        (
            "models.yaml",
            "memory: {enabled: true,",
            "memory: {embedding: text-embedding-3-small, enabled: true,",
            "memory.embedding: must be a mapping (key: value) (got 'text-embedding-3-small')",
        ),
    ],
)
def test_every_value_refused_is_shown_a_long_one_shortened(
    tmp_path: Path, filename: str, old: str, new: str, expected: str
) -> None:
    _refused(_folder(tmp_path, filename, old, new), expected)


def test_a_long_mapping_or_list_is_cut_and_counted() -> None:
    assert shown({"minutes": 30}) == "{'minutes': 30}"
    assert shown(list(range(100))).endswith("… (100 items)")
    assert shown({f"k{i}": i for i in range(40)}).endswith("… (40 entries)")
    assert len(shown("x" * 500)) < 70


# ---------------------------------------------------------------- every constraint in our words


CONSTRAINTS = {
    "at least": (
        "risk.yaml",
        "max_open_positions: 10",
        "max_open_positions: 0",
        "limits.max_open_positions: must be from 1 to 100 (got 0)",
    ),
    "more than, at most": (
        "risk.yaml",
        "max_position_pct: 0.20",
        "max_position_pct: 1.5",
        "limits.max_position_pct: must be more than 0 and at most 1, as a fraction: write 0.015 for 1.5% (got 1.5)",
    ),
    "less than": (
        "schedule.yaml",
        "threshold: 0.05",
        "threshold: 1",
        "event_checkpoint.threshold: must be at least 0 and less than 1 (got 1)",
    ),
    "a bound in a nested section": (
        "risk.yaml",
        "silence_days: 8",
        "silence_days: 90",
        "alerts.silence_days: must be from 1 to 60 (got 90)",
    ),
    "too few items": (
        "models.yaml",
        "research:\n",
        "research: []\nx-research:\n",
        "research: must have from 1 to 4 items (it has 0)",
    ),
    "an empty list": (
        "assets.yaml",
        "providers: [alpaca, yfinance]",
        "providers: []",
        "market_data.providers: must have at least 1 item (it has 0)",
    ),
    "too long a name": (
        "accounts.yaml",
        "id: acct_6",
        "id: acct_6_with_a_name_longer_than_any_allowed",
        "accounts[5].id: must be at most 32 characters (got 'acct_6_with_a_name_longer_than_any_allowed')",
    ),
    "one choice": (
        "schedule.yaml",
        "timezone: America/New_York",
        "timezone: UTC",
        "timezone: must be America/New_York (got 'UTC')",
    ),
    "choices": (
        "schedule.yaml",
        "postmortem: {day: tuesday,",
        "postmortem: {day: someday,",
        "postmortem.day: must be one of: monday, tuesday, wednesday, thursday, friday (got 'someday')",
    ),
    "a pattern": (
        "assets.yaml",
        "{symbol: QQQ,",
        "{symbol: qqq,",
        "universe[1].symbol: must be a ticker in capitals",
    ),
    "a whole number": (
        "risk.yaml",
        "halt_consecutive_losses: 10",
        "halt_consecutive_losses: 2.5",
        "circuit_breaker.halt_consecutive_losses: must be a whole number (got 2.5)",
    ),
    "text": ("accounts.yaml", "name: FLAT baseline", "name: [FLAT]", "accounts[5].name: must be text (got ['FLAT'])"),
    "a list": ("assets.yaml", "providers: [alpaca, yfinance]", "providers: alpaca", "must be a list (got 'alpaca')"),
    "an empty ticker": ("assets.yaml", "{symbol: QQQ,", "{symbol: '',", "universe[1].symbol: must not be empty"),
    "a number for a key": (
        "models.yaml",
        "openai/gpt-5.1: {input",
        "1.5: {input",
        "prices: has a key that is not text: 1.5 (quote it)",
    ),
    "too many items, once": (  # the count alone: the items after it said it twice (a review)
        "models.yaml",
        "research:\n",
        "research: [{id: A, model: m, provider: openrouter}, {id: B, model: m, provider: openrouter},"
        " {id: C, model: m, provider: openrouter}, {id: D, model: m, provider: openrouter},"
        " {id: E, model: m, provider: openrouter}]\nx-research:\n",
        "research: must have from 1 to 4 items (it has 5)\n",
    ),
}


@pytest.mark.parametrize("case", list(CONSTRAINTS))
def test_every_constraint_says_what_the_setting_allows_and_what_was_given(tmp_path: Path, case: str) -> None:
    filename, old, new, expected = CONSTRAINTS[case]
    _refused(_folder(tmp_path, filename, old, new), f"invalid configuration in {tmp_path}/cfg/{filename}", expected)


def test_a_sweep_override_the_config_refuses_is_said_in_the_configs_words(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "name: demo\nranges:\n  - {from: 2026-01-07, to: 2026-01-21}\n"
        "overrides: {x: {risk.limits.max_position_pct: 7, risk.limits.max_open_positions: 0}}\n"
    )
    result = runner.invoke(app, ["backtest", "sweep", str(sweep)])
    assert result.exit_code == 2, result.output
    assert (
        "key risk.limits.max_position_pct: must be more than 0 and at most 1, as a fraction: write 0.07 for 7% (got 7)"
        in result.output
    )
    assert "key risk.limits.max_open_positions: must be from 1 to 100 (got 0)" in result.output
    assert "Input should" not in result.output
