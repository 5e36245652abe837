"""An unknown key is told the setting it was likely meant to be: a near spelling beside it, or the same key in the
section it belongs to.

Found by a new user's trial: `max_postion_pct`, `Live_Trading_Enabled`, `slippage-bps` and a `max_open_positions`
left at the top of risk.yaml (not indented under `limits:`) were each "unknown key (not a setting of this file)",
which names the key but leaves the user to find the setting among the file's."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrade.config.loader import load_config, write_defaults
from llmtrade.config_errors import ConfigError

CASES = {
    "a misspelling": (
        "risk.yaml",
        "max_position_pct: 0.20",
        "max_postion_pct: 0.20",
        "limits.max_postion_pct: unknown key (not a setting of this file); did you mean max_position_pct?",
    ),
    "capitals": (
        "risk.yaml",
        "live_trading_enabled: false",
        "Live_Trading_Enabled: false",
        "Live_Trading_Enabled: unknown key (not a setting of this file); did you mean live_trading_enabled?",
    ),
    "a dash for an underscore": (
        "accounts.yaml",
        "slippage_bps: 5",
        "slippage-bps: 5",
        "paper.slippage-bps: unknown key (not a setting of this file); did you mean slippage_bps?",
    ),
    "a key outside its section": (
        "risk.yaml",
        "  allow_short: true\n",
        "  allow_short: true\nmax_open_positions: 10\n",
        "max_open_positions: unknown key (not a setting of this file); it is a setting of limits: indent it under "
        "limits:",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_unknown_key_is_told_the_setting_it_was_likely_meant_to_be(tmp_path: Path, case: str) -> None:
    filename, old, new, said = CASES[case]
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / filename
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as refused:
        load_config(folder)
    assert said in str(refused.value), str(refused.value)


def test_a_key_like_no_setting_is_only_unknown(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "risk.yaml"
    path.write_text(path.read_text() + "colour: blue\n")
    with pytest.raises(ConfigError) as refused:
        load_config(folder)
    assert str(refused.value).endswith("  - colour: unknown key (not a setting of this file)"), str(refused.value)
