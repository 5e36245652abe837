"""One rule judges whether a broker account reset found now is new (domain/resets.py): the breaker, which records it
over the resets on the account's breaker stream (risk/controls.py), and a postmortem, which values a week from the
books while a reset is not recorded yet, over the resets read back (workflows/account_reset.py `unrecorded`). They
used to be two rules that differed on a reset found at the account's first look (nothing missing, the books begun at
the broker's balance): the breaker took it as new while no reset was recorded, `unrecorded` never did."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmtrade.domain.account_events import BrokerAccountReset
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import BooksReset
from llmtrade.domain.streams import breaker_stream
from llmtrade.risk.controls import _new_reset
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.resets import recorded_resets
from llmtrade.workflows.account_reset import unrecorded

ACCOUNT = "acct_1"
FIRST_LOOK = BrokerAccountReset(account_id=ACCOUNT, equity=25_000.0, last_equity=None, missing=[], broker_account="A 1")
MISSING = BrokerAccountReset(account_id=ACCOUNT, equity=50_000.0, last_equity=90_000.0, missing=["lt-x"])
RENAMED = BrokerAccountReset(
    account_id=ACCOUNT, equity=25_000.0, last_equity=30_000.0, missing=[], broker_account="B 2", replaced="A 1"
)


@pytest.mark.parametrize(
    ("found", "before", "new"),
    [
        (FIRST_LOOK, [], True),  # the books begin at the broker's balance: once, and first
        (FIRST_LOOK, [FIRST_LOOK], False),
        (FIRST_LOOK, [MISSING], False),  # a reset is recorded already: the books began there
        (MISSING, [], True),
        (MISSING, [MISSING], False),
        (MISSING, [FIRST_LOOK], True),
        (RENAMED, [FIRST_LOOK], True),
        (RENAMED, [RENAMED], False),
    ],
    ids=lambda v: v if isinstance(v, bool) else None,
)
def test_the_breaker_and_the_postmortem_judge_a_found_reset_new_alike(
    storage: Storage, found: BrokerAccountReset, before: list[BrokerAccountReset], new: bool
) -> None:
    if before:
        storage.events.append([NewEvent.of(r, stream=breaker_stream(ACCOUNT), account_id=ACCOUNT) for r in before])
    books: tuple[BooksReset, ...] = recorded_resets(storage.events, ACCOUNT).get(ACCOUNT, ())
    assert len(books) == len(before)

    assert _new_reset(storage.events, ACCOUNT, found) is new  # the breaker's, over its stream
    assert unrecorded(found, books) is new  # the postmortem's, over the resets read back


def test_nothing_found_is_no_new_reset() -> None:
    assert unrecorded(None, (BooksReset(at=datetime(2026, 1, 7, tzinfo=UTC), balance=1.0, last_equity=None),)) is False
    assert unrecorded(None, ()) is False
