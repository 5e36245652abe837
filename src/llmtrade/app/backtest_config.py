"""The config a backtest's books are read with: the one it recorded (BacktestConfigRecorded), unless --config is given.

`leaderboard`, `report` and `discover performance --backtest NAME` value a backtest's books with its accounts,
universe and fees: with another config they would rank other accounts over other symbols, so a config whose hash is
not the backtest's is refused (app/baseline_universe.py `other_config`). A new user's trial met that refusal for every
backtest run with `--config DIR` and read without it (the README's own `report --backtest` example), and a sweep's
runs, whose configs are the sweep's overrides, have no folder to give at all. A backtest records its loaded config at
its start; read without --config, its books are read with that one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from llmtrade.app.baseline_universe import config_hash, config_hashes, other_config
from llmtrade.app.container import Container
from llmtrade.config.loader import LoadedConfig
from llmtrade.config.models import Config
from llmtrade.domain import streams
from llmtrade.domain.backtests import BacktestConfigRecorded, BacktestStarted
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.wording import named_first
from llmtrade.errors import UsageError
from llmtrade.storage.event_store import EventStore


def record_config(events: EventStore, config: Config) -> None:
    """Append `config` to the backtest stream of `events` unless the same config (by hash) is recorded already."""
    digest = config_hash(config)
    recorded = events.read(stream=streams.BACKTEST, type=BacktestConfigRecorded.event_type())
    if any(e.payload.get("config_hash") == digest for e in recorded):
        return
    made = BacktestConfigRecorded(config_hash=digest, config=config.model_dump_json())
    events.append([NewEvent.of(made, stream=streams.BACKTEST)])


def reading_config(reader: Container, name: str, *, refuse: bool = True) -> tuple[Container, str]:
    """`reader` (a container over the books of the backtest asked for as `name`), with the config the backtest recorded
    when the command was given none (no --config, no LLMTRADE_CONFIG_DIR) and it is not the one loaded, else `reader`
    as it is; and
    the name the backtest recorded (its latest start's), `name` when it recorded none. Names that differ only in case
    or - and _ share one database (storage/database.py `backtest_database`): `Q1-Test`'s books asked for as `q1_test`
    are labelled Q1-Test, as the backtest's own result and its notes have them. UsageError (exit 2) for a config given
    (--config, LLMTRADE_CONFIG_DIR) that is not the one the backtest ran with (baseline_universe.py `other_config`),
    unless not `refuse` (a reader of the events alone)."""
    with reader.storage(persist=False) as storage:
        kinds = [BacktestConfigRecorded.event_type(), BacktestStarted.event_type()]
        stream = storage.events.read(stream=streams.BACKTEST, type=kinds)
    starts = [BacktestStarted.from_event(e) for e in stream if e.type == BacktestStarted.event_type()]
    recorded = starts[-1].name if starts else name
    configs = [e for e in stream if e.type == BacktestConfigRecorded.event_type()]
    if refuse and reader.config_dir is not None and (mismatch := other_config(reader.loaded.config, stream)):
        # Valued with another config the books read otherwise with nothing said but EQUAL_WEIGHT's universe: the
        # baselines paid its paper slippage and commission (50 bps for the 5 the accounts traded at), its accounts'
        # roles made the trials. Refused whatever the prices, as the README says (exit 2).
        # The settings named, as a resume's refusal names them: the hashes alone left the user to diff two folders.
        changes = config_changes(stream, reader.loaded.config)
        differs = f"; it differs in {changes}" if changes else ""
        raise UsageError(
            f"{mismatch}{differs}; with this one its figures would be another config's (the paper broker's costs the "
            "baselines pay and the slippage estimated, the accounts and trials counted, the universe EQUAL_WEIGHT "
            "holds, discovery's picks counted and weights)"
        )
    return _with_recorded(reader, configs, recorded), recorded


def _with_recorded(reader: Container, recorded: list[StoredEvent], name: str) -> Container:
    if reader.config_dir is not None:
        return reader
    loaded = config_hashes(reader.loaded.config)
    for event in reversed(recorded):  # the latest start's, should a later one have bound another
        made = BacktestConfigRecorded.from_event(event)
        if made.config_hash in loaded:
            return reader
        config = Config.model_validate_json(made.config)  # JSON's rules: a strict config's dates are text there
        if made.config_hash not in config_hashes(config):  # not read back as it ran: refused later
            return reader
        return replace(reader, loaded=LoadedConfig(config, source=f"recorded by backtest {name}"))
    return reader


def config_changes(record: Sequence[StoredEvent], config: Config, *, most: int = 4) -> str:
    """The settings `config` gives otherwise than the config the backtest of `record` (its stream) recorded last, as
    dotted paths with both values ("accounts.paper.slippage_bps 5 (now 6)"), at most `most` and how many more; "" when
    it recorded none (an earlier build's) or they read alike. A trial's refusal said only "config hash 1ceb5ea724dd (now
    338c3b3194c2)", where a price file's names the file and the day."""
    made = [e for e in record if e.type == BacktestConfigRecorded.event_type()]
    if not made:
        return ""
    before = _leaves(json.loads(BacktestConfigRecorded.from_event(made[-1]).config))
    now = _leaves(json.loads(config.model_dump_json()))
    changed = [
        _by_symbol(path, before.get(path), now.get(path))
        or f"{path} {_shown(before.get(path))} (now {_shown(now.get(path))})"
        for path in sorted(before.keys() | now.keys())
        if before.get(path, _ABSENT) != now.get(path, _ABSENT)
    ]
    return named_first(changed, most, sep="; ")


def _by_symbol(path: str, before: Any, now: Any) -> str | None:
    """A list of symbols' entries (assets.yaml's universe) that differs, said by symbol: "assets.universe: USO left
    out" ; None for any other value. Shown whole, cut at 60 characters, two universes read alike ("[{"symbol": "SPY",
    "asset_class": "equity", "name": "SPDR... (now [{"symbol": "SPY", ...") whatever differed in them."""

    def keyed(value: Any) -> dict[str, Any] | None:
        if not isinstance(value, list) or not all(isinstance(i, dict) and "symbol" in i for i in value):
            return None
        return {str(i["symbol"]): i for i in value}

    was, is_ = keyed(before), keyed(now)
    if was is None or is_ is None:
        return None
    said = [
        f"{named_first(sorted(symbols), 5)} {what}"
        for symbols, what in (
            (was.keys() - is_.keys(), "left out"),
            (is_.keys() - was.keys(), "added"),
            ({s for s in was.keys() & is_.keys() if was[s] != is_[s]}, "changed"),
        )
        if symbols
    ]
    return f"{path}: {', '.join(said)}" if said else f"{path}: the same symbols in another order"


_ABSENT = object()


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Each scalar of a config's JSON by its dotted path; a list whole (the universe, a picker's weights)."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, item in value.items():
            found.update(_leaves(item, f"{path}.{key}" if path else key))
        return found
    return {path: value}


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 5, as the YAML says it, not the model's 5.0
    text = "none" if value is None else json.dumps(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
