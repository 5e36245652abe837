"""Where a backtest's start is, for a stop (Ctrl-C, SIGTERM) before its loop over the weeks says where it is
(app/backtest_stops.py `Whereabouts`). Standard library only: the command takes it first, before the imports and the
config load that a SIGTERM a second in lands in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date


@dataclass
class StartUp:
    """What the start of backtest `name` is doing (`now`) until its loop's Whereabouts takes over (`handed_over`), for
    the note `noted` adds to a stop there. A trial's SIGTERM 1 s into a backtest (its modules and config loading, its
    database being created) said only the generic stop line, with no word of which backtest stopped or where."""

    name: str
    doing: str = "loading its code and config"
    first: date | None = None  # the range's first week, once worked out
    over: bool = False  # Whereabouts says where a stop is from here on

    def now(self, doing: str) -> None:
        self.doing = doing

    def handed_over(self) -> None:
        self.over = True

    @contextmanager
    def noted(self) -> Iterator[None]:
        """A stop (Ctrl-C, SIGTERM) raised in the block before `handed_over` gets the note of where the start was;
        a failure has its own message, which names what to mend."""
        try:
            yield
        except KeyboardInterrupt as exc:
            if not self.over:  # nor twice: the command's block and the backtest's own both hold it
                self.over = True
                week = f" ({self.first})" if self.first else ""
                exc.add_note(
                    f"backtest {self.name!r} stopped before its first week{week}, while {self.doing}: this start ran "
                    "no job, so the same command starts it (or resumes it after the weeks an earlier start finished)"
                )
            raise
