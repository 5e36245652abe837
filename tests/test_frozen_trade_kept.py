"""The week's frozen trade, built once per frozen event and handed to every later checkpoint of the week: it must
never be another week's, another account's or another config's, nor stay None once the pitch is stored."""

from __future__ import annotations

from datetime import date, timedelta

from llmtrade.clock import FixedClock
from llmtrade.domain.committee import PitchSubmitted
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import PITCHES, week_stream
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.frozen_trade import frozen_trade
from tests.test_checkpoint_one_look import CONFIG
from tests.test_memory_use_units import WEEK, _pitch


def _store_pitch(
    events: EventStore, week: date, account_id: str, instrument: str, pm_id: str = "pm_a", model: str | None = None
) -> None:
    pitch = _pitch().model_copy(update={"account_id": account_id, "instrument": instrument, "week_id": week})
    pitch = pitch.model_copy(update={"pm_id": pm_id, "model": model or _pitch().model})
    stream = week_stream(week, PITCHES)
    events.append([NewEvent.of(PitchSubmitted(pitch=pitch), stream=stream, week_id=week)])


def _desk(account_id: str) -> Desk:
    return Desk(CONFIG.accounts.account(account_id), None)  # type: ignore[arg-type]  # no broker is read


def test_the_frozen_trade_is_each_weeks_and_each_accounts_own(storage: Storage, clock: FixedClock) -> None:
    events = EventStore(storage.conn, clock, exclusive=True)
    assert frozen_trade(events, WEEK, _desk("acct_1"), CONFIG) is None  # nothing frozen yet
    _store_pitch(events, WEEK, "acct_1", "SPY")
    first = frozen_trade(events, WEEK, _desk("acct_1"), CONFIG)
    assert first is not None and first.instrument == "SPY"  # no None kept from before the pitch
    assert frozen_trade(events, WEEK, _desk("acct_1"), CONFIG) is first  # built once
    assert frozen_trade(events, WEEK, _desk("acct_2"), CONFIG) is None  # not another account's pitch
    _store_pitch(events, WEEK, "acct_2", "GLD")
    assert frozen_trade(events, WEEK, _desk("acct_2"), CONFIG).instrument == "GLD"  # type: ignore[union-attr]
    assert frozen_trade(events, WEEK, _desk("acct_1"), CONFIG) == first  # the first pitch still owns the week
    later = WEEK + timedelta(days=7)
    assert frozen_trade(events, later, _desk("acct_1"), CONFIG) is None  # not last week's
    _store_pitch(events, later, "acct_1", "TLT")
    assert frozen_trade(events, later, _desk("acct_1"), CONFIG).instrument == "TLT"  # type: ignore[union-attr]
    events.flush()


def test_another_config_names_its_own_owner_and_another_store_reads_its_own_pitches(
    storage: Storage, clock: FixedClock
) -> None:
    events = EventStore(storage.conn, clock, exclusive=True)
    pm = CONFIG.models.pms[0]
    _store_pitch(events, WEEK, "acct_1", "SPY", pm_id=pm.id, model=pm.model)
    assert frozen_trade(events, WEEK, _desk("acct_1"), CONFIG).owner == pm  # type: ignore[union-attr]
    # The same model at another temperature: that config's own entry (a model swapped mid-week is not the new model's
    # to judge: test_model_swapped_mid_week).
    cooler = CONFIG.model_copy(
        update={"models": CONFIG.models.model_copy(update={"pms": [pm.model_copy(update={"temperature": 0.1})]})}
    )
    assert frozen_trade(events, WEEK, _desk("acct_1"), cooler).owner.temperature == 0.1  # type: ignore[union-attr]
    events.flush()
    fresh = EventStore(storage.conn, clock)  # the same rows read by another store: equal, built from its events
    assert frozen_trade(fresh, WEEK, _desk("acct_1"), CONFIG) == frozen_trade(events, WEEK, _desk("acct_1"), CONFIG)
