"""A whole number written with a leading zero is the number it reads as, not an octal one.

Found by a new user's trial: `max_open_positions: 010` loaded as 8 without a word, as YAML 1.1 (PyYAML) reads a
leading zero as octal. The loader reads it as YAML 1.2's core schema does, as it reads booleans: decimal."""

from __future__ import annotations

from pathlib import Path

from llmtrade.config.loader import load_config, load_yaml, write_defaults


def test_a_leading_zero_is_decimal(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "risk.yaml"
    path.write_text(path.read_text().replace("max_open_positions: 10", "max_open_positions: 010", 1))
    assert load_config(folder).config.risk.limits.max_open_positions == 10


def test_other_whole_numbers_read_as_before() -> None:
    # 1:30 is text, as in YAML 1.2 (no base 60): `time: 9:00` is the time written (tests/test_times_and_days_typed.py).
    assert load_yaml("[010, -010, 0, 7, 1_000, 0x1F, 0b11, 1:30, '010']") == [10, -10, 0, 7, 1000, 31, 3, "1:30", "010"]
