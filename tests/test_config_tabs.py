"""A tab indenting a line of a config file is named as a tab, with what to do.

Found by a new user's trial: a line of risk.yaml indented with a tab was refused with PyYAML's "found character '\\t'
that cannot start any token" at its line, which says neither that YAML indents with spaces nor what to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrade.config.loader import load_config, write_defaults
from llmtrade.config_errors import ConfigError


def test_a_tab_indenting_a_line_is_said_to_be_one(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "risk.yaml"
    text = path.read_text()
    assert "\n  max_open_positions: 10" in text
    path.write_text(text.replace("\n  max_open_positions: 10", "\n\tmax_open_positions: 10", 1))
    line = next(i for i, row in enumerate(path.read_text().splitlines(), 1) if row.startswith("\t"))
    with pytest.raises(ConfigError) as refused:
        load_config(folder)
    said = str(refused.value)
    assert f"invalid configuration in {folder}/risk.yaml" in said
    assert (
        f"line {line}, column 1: malformed YAML: found a tab, and YAML indents with spaces only: replace the tab "
        "with spaces"
    ) in said, said
