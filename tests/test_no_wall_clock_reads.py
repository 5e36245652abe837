"""The machine's clock is read only where the app clock cannot be meant.

Found in a trial of the look-ahead audit: a stage reading `datetime.now()` or `date.today()` instead of the app clock
(a prompt's "today", an as-of) is not caught by the audit. Its cut-off rerun runs in the same process on the same day,
so it reads the same instant: a prompt telling the model the real date (years after a backtested week, a date a
model's training may know the market of) passed every audit. Only the places below read the machine's clock, each
for a reason no backtest's prompt or decision depends on; a new one fails here until it takes the app clock
(`Clock.now()`), or is added with its reason."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "llmtrade"

# (module's path under src/llmtrade, the call) -> why the machine's clock is meant there.
ALLOWED = {
    ("clock.py", "datetime.now"): "the app clock's live source (SystemClock)",
    ("app/clock_guard.py", "time.time"): "compares the machine's clock with the database's (clock skew)",
    ("app/unrecorded_ends.py", "time.time"): "a file's age on disk, real seconds",
    ("llm/provider_waits.py", "time.time"): "a provider's Retry-After, real seconds",
    ("sweep/price_copies.py", "time.time"): "a staging file's age on disk, real seconds",
    ("workflows/research_stages.py", "datetime.now"): "a window with no deadline: only its deadline is read",
    ("alerts/dispatch.py", "datetime.now"): "live alerts' send time, never in a backtest",
    ("market/calendar.py", "datetime.now"): "how far ahead the exchange's holidays are built, not a session",
    ("market/alpaca_http.py", "time.time"): "a rate limit's reset, real seconds",
}
CALLS = {"datetime.now", "datetime.today", "datetime.utcnow", "date.today", "time.time"}
# Only a module whose text has such a call is parsed (a whole-tree AST walk costs over a second): each call's name
# ends ".now(", ".today(", ".utcnow(" or ".time(", whatever is before it.
_NAMED = re.compile(r"\.(?:now|today|utcnow|time)\s*\(")


def wall_clock_reads(source: str) -> list[tuple[int, str]]:
    """(line, "datetime.now"...) of each call of the machine's clock in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            call = f"{name}.{node.func.attr}"
            if call in CALLS:
                found.append((node.lineno, call))
    return found


def test_the_scan_finds_a_stage_reading_the_machines_date() -> None:
    planted = "from datetime import date\n\ndef prompt() -> str:\n    return f'Today is {date.today()}'\n"
    assert wall_clock_reads(planted) == [(4, "date.today")]
    assert wall_clock_reads("import datetime\nx = datetime.datetime.now()\n") == [(2, "datetime.now")]


def test_only_the_allowed_places_read_the_machines_clock() -> None:
    found = {
        (path.relative_to(SRC).as_posix(), call, line)
        for path in SRC.rglob("*.py")
        if _NAMED.search(text := path.read_text(encoding="utf-8"))
        for line, call in wall_clock_reads(text)
    }
    unexplained = sorted(f"{path}:{line}: {call}()" for path, call, line in found if (path, call) not in ALLOWED)
    assert not unexplained, "the machine's clock read where the app clock is meant:\n" + "\n".join(unexplained)


def test_the_text_filter_keeps_every_module_the_scan_would_flag() -> None:
    # The filter must never hide a module: every spelling the scan flags passes it.
    for source in ("date.today()", "datetime.datetime.now ()", "time.time()", "x = datetime.utcnow(tz)"):
        assert _NAMED.search(source) and wall_clock_reads(source)
