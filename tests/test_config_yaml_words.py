"""The commonest YAML slips are named at the line written, with what to change, not only in PyYAML's words.

Found by a new user's trial of risk.yaml: `max_open_positions 10` (no colon) and `max_open_positions:10` (no space)
were blamed on the next line ("line 6, column 3: malformed YAML: could not find expected ':'"); a line indented one
space too far read "expected <block end>, but found '<block mapping start>'", and one continuing a value "mapping
values are not allowed here", neither saying the indentation is what to look at."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrade.config.loader import load_config, write_defaults
from llmtrade.config_errors import ConfigError

INDENTATION = (
    "this line's indentation does not match the lines above it (each key of a mapping starts in the same column)"
)
CASES = {
    # (the line replaced, the line written, the column named, what is said)
    "no colon": (
        "  max_open_positions: 10",
        "  max_open_positions 10",
        "column 3",
        "could not find expected ':': a key needs ': ' after it, with a space (max_open_positions: 10)",
    ),
    "no space": (
        "  max_open_positions: 10",
        "  max_open_positions:10",
        "column 3",
        "could not find expected ':': a key needs ': ' after it, with a space (max_open_positions: 10)",
    ),
    "indented too far": (
        "  max_open_positions: 10",
        "   max_open_positions: 10",
        "column 4",
        f"expected <block end>, but found '<block mapping start>': {INDENTATION}",
    ),
    "indented as a value's next line": (
        "  allow_short: true",
        "   allow_short: true",
        "column 15",
        f"mapping values are not allowed here: {INDENTATION}, or a value holds ': ' and needs quotes",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_yaml_slip_is_named_at_its_line_with_what_to_change(tmp_path: Path, case: str) -> None:
    old, written, column, said = CASES[case]
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "risk.yaml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, written, 1))
    line = next(i for i, row in enumerate(path.read_text().splitlines(), 1) if row == written)
    with pytest.raises(ConfigError) as refused:
        load_config(folder)
    assert f"line {line}, {column}: malformed YAML: {said}" in str(refused.value), str(refused.value)


def test_a_block_indented_deeper_than_its_first_line_is_named_as_indentation(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "risk.yaml"
    text = path.read_text()
    assert "  halt_drawdown_pct: 0.20\n  halt_consecutive_losses: 10" in text
    path.write_text(text.replace("  halt_drawdown_pct: 0.20\n", "    halt_drawdown_pct: 0.20\n", 1))
    with pytest.raises(ConfigError) as refused:
        load_config(folder)
    said = f"line 11, column 3: malformed YAML: expected <block end>, but found '<block mapping start>': {INDENTATION}"
    assert said in str(refused.value), str(refused.value)
