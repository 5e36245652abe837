"""A number written with a thousands separator inside `{ }` is named at its line as the two entries YAML read.

Found by a new user's trial: `{id: acct_6, role: flat, starting_cash: 100,000}` is, to YAML, starting_cash 100 and a
second entry `000` with no value; it was refused as "accounts[5][0]: must have text keys (...) (got 0)", naming
neither starting_cash nor the comma (and `{..., starting_cash: 100,000, name: x}` alike)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrade.config.loader import load_config, load_yaml, write_defaults
from llmtrade.config_errors import ConfigError

FLAT = "{id: acct_6, name: FLAT baseline, role: flat}"


def test_a_thousands_separator_in_a_flow_mapping_is_named_at_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "accounts.yaml"
    text = path.read_text()
    assert FLAT in text
    path.write_text(text.replace(FLAT, "{id: acct_6, name: FLAT baseline, role: flat, starting_cash: 100,000}", 1))
    line = next(i for i, row in enumerate(path.read_text().splitlines(), 1) if "100,000" in row)
    with pytest.raises(ConfigError) as refused:
        load_config(folder)
    said = str(refused.value)
    assert f"invalid configuration in {folder}/accounts.yaml" in said
    assert f"line {line}, column " in said, said
    assert "`starting_cash: 100,000` is read as two entries, starting_cash: 100 and 000 with no value" in said, said
    assert "inside { } a comma separates entries: write 100000" in said, said
    assert "text keys" not in said


def test_a_flow_mapping_of_numbers_is_read_as_before() -> None:
    assert load_yaml("{a: 1, b: 2, 3: x}") == {"a": 1, "b": 2, 3: "x"}
    assert load_yaml("a: 100,000") == {"a": "100,000"}  # block style: text, which a number refuses by name
