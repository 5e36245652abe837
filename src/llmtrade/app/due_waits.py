"""What a run-due wake-up left waiting: each piece's temporary failure (exit 75), and which of them an earlier
wake-up said already.

Cron mails whatever a wake-up prints. A checkpoint waiting for hours for a halted symbol's price (or an owner's
provider) used to print the same line at every wake-up, a mail every five minutes; a user wants one message when a
wait starts and one when it ends (the checkpoint finishes, or is closed past its deadline). A wait is repeated when
the checkpoint's last run deferred the same accounts at the same stage for the same problems (symbol and why, the
figures apart) as the run before it: under --quiet a wake-up whose every wait is repeated says nothing and still
exits 75 (the job is not done; the events record each attempt).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmtrade.errors import TemporaryError
from llmtrade.exits import classify


@dataclass
class Waits:
    waiting: list[Exception] = field(default_factory=list)
    repeated: list[Exception] = field(default_factory=list)

    def add(self, error: Exception, *, repeated: bool = False) -> None:
        self.waiting.append(error)
        if repeated:
            self.repeated.append(error)

    def said_before(self) -> bool:
        """Every wait is one an earlier wake-up said (none is new)."""
        return bool(self.waiting) and len(self.repeated) == len(self.waiting)

    def raise_all(self) -> None:
        """The wake-up's exit 75 once its results are said: the one wait as it was raised, several in one line."""
        if len(self.waiting) == 1:
            raise self.waiting[0]
        if self.waiting:
            said = dict.fromkeys(failure.message for e in self.waiting if (failure := classify(e)) is not None)
            raise TemporaryError("; ".join(said)) from self.waiting[0]
