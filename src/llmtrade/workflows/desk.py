"""A desk: one account and the broker that holds it (reached only through the Broker protocol)."""

from __future__ import annotations

from dataclasses import dataclass

from llmtrade.brokers.protocol import Broker
from llmtrade.config.models import Account


@dataclass(frozen=True)
class Desk:
    account: Account
    broker: Broker
