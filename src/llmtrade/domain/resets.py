"""The one rule for whether a broker account reset found now is a new one, or one already recorded.

A reset (domain/trading.py BrokerAccountReset) is found by a look at the account (workflows/account_reset.py
`reset_found`). The breaker records it once, judged against the resets on the account's breaker stream
(risk/controls.py), and a postmortem values a week from the books rather than the broker's balance while one is not
recorded yet, judged against the resets read back (storage/resets.py, domain/ledger.py BooksReset). Both ask here, so
they cannot disagree about the same reset.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from llmtrade.domain.account_events import BrokerAccountReset


class RecordedReset(Protocol):
    """What a recorded reset says to judge a found one by: a BrokerAccountReset as stored, or a BooksReset."""

    @property
    def broker_account(self) -> str | None: ...

    @property
    def missing(self) -> Collection[str]: ...


def is_new_reset(found: BrokerAccountReset, recorded: Iterable[RecordedReset]) -> bool:
    """Whether `found` is a reset none of `recorded` (the account's resets recorded so far) is.

    - Found by the account's new name (`replaced`): new unless a recorded reset named the account so.
    - Found at the account's first look, nothing missing (the books begin at the broker's balance, not accounts.yaml's
      starting cash): new only while no reset is recorded at all: once, and first.
    - Found by orders of ours the broker no longer lists: new when one of them no recorded reset missed."""
    resets = list(recorded)
    if found.replaced is not None:
        return all(r.broker_account != found.broker_account for r in resets)
    if not found.missing:
        return not resets
    known = {cid for r in resets for cid in r.missing}
    return not set(found.missing) <= known
