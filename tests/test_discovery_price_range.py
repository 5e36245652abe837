"""assets.yaml's discovery price range must be a range: a min_price above max_price is refused by name.

Found by a new user's trial: `min_price: 5000.0` (for 50) beside the default `max_price: 2000.0` passed `config
validate`, and every candidate the metric picker judges was then refused as "price ... outside 5000..2000": no pick,
and in watchlist mode a committee that sees SPY alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrade.config.loader import load_config, write_defaults
from llmtrade.config_errors import ConfigError


def test_a_min_price_above_the_max_price_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "assets.yaml"
    assert "min_price: 5.0" in path.read_text()
    path.write_text(path.read_text().replace("min_price: 5.0", "min_price: 5000.0", 1))
    with pytest.raises(ConfigError) as refused:
        load_config(folder)
    assert (
        "discovery: min_price (5000) must be below max_price (2000): no candidate's price could be within them"
    ) in str(refused.value), str(refused.value)
