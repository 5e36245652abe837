"""The packaged discovery candidates (config/defaults/candidates.yaml): symbol, asset class, kind, sector.

Read apart from the five config files because the list is data, not a setting: the synthetic market
prices every candidate (market/providers.py) and the discovery pickers score them. Each candidate's
asset class is one the risk gate's class limit knows (config.models.AssetClass), so a discovered
symbol is sized like any other.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import yaml

from llmtrade.config.files import read_text
from llmtrade.config.loader import packaged_defaults
from llmtrade.config.models import Instrument
from llmtrade.config_errors import ConfigError, ConfigProblem

CANDIDATES_FILE = "candidates.yaml"


class CandidateInstrument(Instrument):
    """An instrument discovery may suggest: `kind` etf or stock, `sector` a free label for balance and prompts."""

    kind: Literal["etf", "stock"] = "etf"
    sector: str = ""
    fractionable: bool = True


@cache
def packaged_candidates() -> tuple[CandidateInstrument, ...]:
    """The packaged candidates, in file order, each symbol once.

    Raises ConfigError when the packaged file is broken (a packaging mistake, never a user's)."""
    label = f"{CANDIDATES_FILE} (packaged defaults)"
    text = read_text(packaged_defaults().joinpath(CANDIDATES_FILE), label, restore="reinstall llmtrade")
    # libyaml's parser where installed (the same safe constructor): a tenth of the pure-Python parser's 30 ms.
    rows = (yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}).get("candidates") or []
    try:
        found = tuple(CandidateInstrument.model_validate(row) for row in rows)
    except ValueError as exc:
        raise ConfigError(label, [ConfigProblem("candidates", str(exc))]) from exc
    seen: set[str] = set()
    repeats = [c.symbol for c in found if c.symbol in seen or seen.add(c.symbol)]  # type: ignore[func-returns-value]
    if repeats:
        raise ConfigError(label, [ConfigProblem("candidates", f"listed twice: {', '.join(repeats)}")])
    return found
