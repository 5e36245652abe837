"""What to say of a backtest or sweep name that names none: which do exist, or those near it.

A new user's trial: `leaderboard --backtest nosuch` (and report, events, trace, discover performance, --versus,
report --sweep) said there was no such backtest and to run one, never which there were: a typo of a backtest run
last week read as if it had never run. The names are the databases' (`llmtrade_bt_<name>`: lower-cased, - as _),
each of which reaches its books as typed. Read-only: one query of the server's database list.
"""

from __future__ import annotations

from difflib import get_close_matches

from llmtrade.errors import near_names
from llmtrade.settings import Settings
from llmtrade.storage.database import databases_named, locate

BACKTESTS, SWEEPS = "llmtrade_bt_", "llmtrade_sw_"
_LISTED = 12  # as errors.py's: a dozen names are read whole; more, the near ones


def held(settings: Settings, prefix: str, name: str, kind: str) -> str:
    """`kind` ("backtest", "sweep") names held on the server, for an error about `name`, which is none of them:
    all of them when few, else those near `name`, else how many and the first."""
    names = databases_named(locate(settings), prefix)
    if not names:
        return f"no {kind} has run on this database server yet"
    typed = name.lower().replace("-", "_")
    if len(names) <= _LISTED:
        near = get_close_matches(typed, names, n=1, cutoff=0.6) if len(names) > 1 else []
        said = f" (did you mean {near[0]}?)" if near else ""
        return f"the {kind}s held: {', '.join(names)}{said}"
    near = near_names(typed, names)
    if near:
        return f"did you mean {', '.join(near)}? ({len(names)} {kind}s held)"
    return f"{len(names)} {kind}s held, among them {', '.join(names[:_LISTED])}"
