"""An account's broker, for a closing that may have to ask it (workflows/checkpoint_slot.py `close_unjudged`).

The desks (their brokers, a market, a quote service) are built on the first question only: nearly every closing of a
checkpoint past its deadline has no order to look up, and a run-due wake-up should not build them for nothing."""

from __future__ import annotations

from llmtrade.app.container import Container
from llmtrade.brokers.protocol import Broker
from llmtrade.storage.bootstrap import Storage


class BrokersOf:
    """`brokers(account_id)`: that account's broker in `app`'s mode (the week's), its desks built once; None for an
    account no longer configured."""

    def __init__(self, app: Container, storage: Storage):
        self._app = app
        self._storage = storage
        self._brokers: dict[str, Broker] | None = None

    def __call__(self, account_id: str) -> Broker | None:
        if self._brokers is None:
            market = self._app.market(self._storage, record=False)
            self._brokers = {d.account.id: d.broker for d in self._app.desks(self._storage, market)}
        return self._brokers.get(account_id)  # None: an account no longer configured
