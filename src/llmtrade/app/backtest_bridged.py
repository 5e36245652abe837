"""A backtest begun by an earlier llmtrade on daily CSV prices is not resumed by this one: its checkpoints priced a
symbol with daily prices only by the daily bridge (a path drawn through the session's own high, low and close: a
look-ahead inside the session, market/csv_quotes.py), where this version prices it at the session's open and fills an
order sent then at the session's close. Going on would write the rest of the range by the other rule into the same
books, whose figures would then be neither; a backtest run afresh under another name has one rule throughout."""

from __future__ import annotations

from datetime import date

from llmtrade.app.board_notes import BRIDGE_KIND
from llmtrade.domain.market import QuoteFetched
from llmtrade.errors import UsageError
from llmtrade.storage.bootstrap import Storage


def refuse_bridged(storage: Storage, name: str, todo: list[date]) -> None:
    """UsageError (exit 2) when weeks are left to run (`todo`) in books whose quotes include the daily bridge's."""
    if not todo:
        return  # a finished backtest shown again: its leaderboard's note says what priced its fills
    # Asked of PostgreSQL (jsonb containment), not read into memory: a long backtest holds thousands of quote answers.
    row = storage.conn.execute(
        "SELECT count(*), max(week_id) FROM events WHERE type = %s AND payload @> %s::jsonb",
        (QuoteFetched.event_type(), f'{{"quotes": [{{"kind": "{BRIDGE_KIND}"}}]}}'),
    ).fetchone()
    if not row or not row[0]:
        return
    raise UsageError(
        f"backtest {name!r} was begun by an earlier llmtrade, which priced symbols with daily prices only by the "
        f"daily bridge inside a session ({row[0]} of its quote answers, through week {row[1]}): a path drawn through "
        "the session's own high, low and close, a look-ahead. This version prices such a symbol at the session's "
        "open and fills an order sent then at the session's close; going on would write the rest of the range by "
        f"the other rule into the same books. Run the range afresh under another --name (this one's books stay as "
        "they are: `llmtrade leaderboard --backtest` still reads them)"
    )
