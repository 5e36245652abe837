"""What to say of a backtest or sweep name that names none: which do exist, or those near it.

A new user's trial: `leaderboard --backtest nosuch` (and report, events, trace, discover performance, --versus,
report --sweep) said there was no such backtest and to run one, never which there were: a typo of a backtest run
last week read as if it had never run. The names are said as each start recorded them (`btA`, a trial found `bta`
there, the database's), each of which reaches its books as typed. Read-only: one query of the server's database list.
"""

from __future__ import annotations

from difflib import get_close_matches

from llmtrade.errors import near_names
from llmtrade.settings import Settings
from llmtrade.storage.database import locate
from llmtrade.storage.database_list import databases_named

BACKTESTS, SWEEPS = "llmtrade_bt_", "llmtrade_sw_"
_LISTED = 12  # as errors.py's: a dozen names are read whole; more, the near ones


def held(settings: Settings, prefix: str, name: str, kind: str) -> str:
    """`kind` ("backtest", "sweep") names held on the server, for an error about `name`, which is none of them:
    all of them when few, else those near `name`, else how many and the first. Each is said as its start recorded it
    (`btA`: storage/database_list.py `databases_named`), found near `name` as its database reaches it (case, - or _)."""
    names = databases_named(locate(settings), prefix)
    if not names:
        return f"no {kind} has run on this database server yet"
    said_as = {_key(n): n for n in names}
    keys = list(said_as)
    typed = _key(name)
    if len(names) <= _LISTED:
        near = get_close_matches(typed, keys, n=1, cutoff=0.6) if len(names) > 1 else []
        said = f" (did you mean {said_as[near[0]]}?)" if near else ""
        return f"the {kind}s held: {', '.join(names)}{said}"
    near = near_names(typed, keys)
    if near:
        return f"did you mean {', '.join(said_as[n] for n in near)}? ({len(names)} {kind}s held)"
    return f"{len(names)} {kind}s held, among them {', '.join(names[:_LISTED])}"


def _key(name: str) -> str:
    """The form a name reaches its database by: lower-cased, - as _."""
    return name.lower().replace("-", "_")
