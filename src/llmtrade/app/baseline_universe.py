"""What EQUAL_WEIGHT holds, said where it may not be the universe the weeks traded.

EQUAL_WEIGHT buys assets.yaml's universe as the config given to the leaderboard has it. In static mode no week fixes a
universe (discovery/universe.py: the config is the record), but each weekly run's market snapshot names the symbols the
committee was offered (`snapshot_universes`): over live books whose snapshots differ from today's universe (a symbol
added or removed since), EQUAL_WEIGHT holds each week's as its snapshot recorded it. A
backtest records the hash of the config it ran with (BacktestStarted.config_hash, refused on resume if changed):
when the config given now is that one, its universe is the one every week traded, and nothing needs saying. In
watchlist or both mode the committee traded each week's fixed universe (UniverseFixed): EQUAL_WEIGHT holds that list
week by week (the names the committee could open that week: the fair opportunity set to compare a pick with; not those
kept only because an account held them), and assets.yaml's universe in a week that fixed none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from datetime import date

from llmtrade.config.history import earlier_dumps
from llmtrade.config.models import Config
from llmtrade.domain.backtests import BacktestConfigRecorded, BacktestStarted
from llmtrade.domain.discovery import UniverseFixed
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.research import MarketSnapshotTaken
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import MarketDataError
from llmtrade.storage.event_store import EventStore


def config_hash(config: Config) -> str:
    """The sha256 of the loaded config, as a backtest records it (BacktestStarted.config_hash)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def config_hashes(config: Config) -> frozenset[str]:
    """Every hash a backtest may have recorded for `config`: this build's, and each earlier build's, which dumped it
    without the fields added since (config/history.py): the same files hash otherwise after an upgrade."""
    dumps = [config.model_dump_json(), *earlier_dumps(config)]
    return frozenset(hashlib.sha256(dump.encode()).hexdigest() for dump in dumps)


def other_config(config: Config, record: Sequence[StoredEvent]) -> str | None:
    """What to say when `config` is not the one the backtest of `record` (streams.BACKTEST) ran with; None when it
    is, or when the books are no backtest's."""
    started = [e for e in record if e.type == BacktestStarted.event_type()]
    if not started:
        return None
    ran, now = str(started[-1].payload.get("config_hash", "")), config_hash(config)
    if ran in config_hashes(config) or folder_moved(config, record, ran):
        return None
    name = started[-1].payload.get("name", "")
    recorded = any(e.type == BacktestConfigRecorded.event_type() for e in record)
    fix = (
        "leave out --config (and LLMTRADE_CONFIG_DIR) to read it with the config it recorded, or give the folder it "
        "ran with"
        if recorded
        else "give --config the folder it ran with"
    )
    hashes = f"config hash {ran[:12]}, now {now[:12]}"
    return f"backtest {name} ran with another config than the one given now ({hashes}): {fix}"


def folder_moved(config: Config, record: Sequence[StoredEvent], ran: str) -> bool:
    """Whether `config` is the config recorded with hash `ran` in `record` (BacktestConfigRecorded) but for
    market_data.csv_dir: where the CSV folder is, which is no input (README; the price files' hash is compared apart).
    A trial that moved its folder and pointed csv_dir at the new place was refused ("config hash ...: csv_dir "/A"
    (now "/B")", exit 2) where `--csv /B` to the same files went on."""
    for event in record:
        made = BacktestConfigRecorded.from_event(event) if event.type == BacktestConfigRecorded.event_type() else None
        if made is None or made.config_hash != ran:
            continue
        with suppress(ValueError):  # a config this build cannot read back: not shown to be the same
            before = Config.model_validate_json(made.config)
            return ran in config_hashes(before) and _folder_free(before) == _folder_free(config)
    return False


def _folder_free(config: Config) -> str:
    market = config.assets.market_data.model_copy(update={"csv_dir": None})
    assets = config.assets.model_copy(update={"market_data": market})
    return config.model_copy(update={"assets": assets}).model_dump_json()


# The leaderboard's read of the weeks' universes, by type alone (leaderboard.follow_books keeps it followed).
UNIVERSE_TYPES = [UniverseFixed.event_type()]


def weekly_universes(events: EventStore) -> dict[date, list[str]]:
    """Each week's fixed universe (UniverseFixed) by week id, without the symbols it kept only because they were held:
    what EQUAL_WEIGHT holds that week. Empty in static mode (no week fixes one)."""
    weeks: dict[date, list[str]] = {}
    for event in events.read(type=UNIVERSE_TYPES):
        if event.week_id is not None:
            fixed = UniverseFixed.from_event(event)
            weeks.setdefault(event.week_id, [i.symbol for i in fixed.instruments if not i.held])
    return weeks


def snapshot_universes(
    events: EventStore, config: Config, left_out: Mapping[date, Mapping[str, str]], first: date, source: str
) -> dict[date, list[str]]:
    """Live books in static mode (`source` "live"): each week's universe as its weekly run's market snapshot recorded it
    (the symbols it has indicators of, and those it left out, their prices having ended), when some week's is not
    `config`'s universe now; else empty. A trial took QQQ out of assets.yaml in its third week, and EQUAL_WEIGHT (every
    excess over it with it) changed for the two weeks before, which had offered QQQ. `first`: the books' first close
    (the one before the first run), which buys the first week's list."""
    universe = config.assets.symbols
    if source != "live" or config.assets.discovery.universe_mode != "static":
        return {}
    weeks: dict[date, list[str]] = {}
    for event in events.read(type=MarketSnapshotTaken.event_type()):
        snapshot = event.payload.get("snapshot") or {}
        offered = [*(snapshot.get("indicators") or {}), *(left_out.get(event.week_id, {}) if event.week_id else {})]
        if event.week_id is not None and offered:
            weeks.setdefault(event.week_id, list(dict.fromkeys(offered)))
    if not any(set(symbols) != set(universe) for symbols in weeks.values()):
        return {}
    return {week_id_for(first): weeks[min(weeks)], **weeks}


def weekly_closes(
    fetch: Callable[[list[str]], Mapping[str, Mapping[date, float]]],
    weekly: Mapping[date, Sequence[str]],
    priced: Sequence[str],
) -> dict[str, Mapping[date, float]]:
    """The closes (by `fetch`, as the books' own) of the symbols only the weekly universes name: asked together, else
    one by one, as a discovered name may not have a valid history over the whole range (listed later, or gone). One
    with none is left out: EQUAL_WEIGHT's notes name each rebalance it missed ("no close that day")."""
    extra = list(dict.fromkeys(s for week in weekly.values() for s in week if s not in set(priced)))
    if not extra:
        return {}
    try:
        return dict(fetch(extra))
    except MarketDataError:
        closes: dict[str, Mapping[date, float]] = {}
        for symbol in extra:
            with suppress(MarketDataError):
                closes.update(fetch([symbol]))
        return closes


def universe_note(
    config: Config,
    record: Sequence[StoredEvent],
    weekly: Mapping[date, Sequence[str]] | None = None,
    *,
    snapshots: bool = False,
) -> str | None:
    """The note on EQUAL_WEIGHT's universe for books whose backtest record (streams.BACKTEST) is `record` (empty for
    the live books) and whose weeks fixed `weekly` (`weekly_universes`; `snapshots`: taken from the weeks' snapshots,
    `snapshot_universes`); None for a backtest valued with the config it ran with, in static mode."""
    symbols = config.assets.symbols
    listed = f"{len(symbols)} symbols: {', '.join(symbols)}"
    mode = config.assets.discovery.universe_mode
    if weekly and snapshots:  # `snapshot_universes`'s
        return (
            "EQUAL_WEIGHT holds each week's universe as its weekly run's market snapshot recorded it, as assets.yaml's "
            f"universe changed since the books began (today's: {listed}); equal weights from the close of the week's "
            "first session, selling what left it"
        )
    if weekly:
        names = len({s for week in weekly.values() for s in week})
        return (
            f"EQUAL_WEIGHT holds each week's universe, the list the committee could trade that week ({len(weekly)} "
            f"weeks fixed one, {names} symbols in all), in equal weights from the close of the week's first session, "
            f"selling what left the list; a week that fixed none holds assets.yaml's universe ({listed})"
        )
    if mode != "static":
        return (
            f"EQUAL_WEIGHT holds assets.yaml's universe ({listed}): no week of these books fixed a watchlist universe "
            f"yet (universe_mode {mode})"
        )
    started = [e for e in record if e.type == BacktestStarted.event_type()]
    if started:
        ran = str(started[-1].payload.get("config_hash", ""))  # the start that bound the books; earlier ones bound none
        now = config_hash(config)
        if ran in config_hashes(config):
            return None  # the universe every week of the backtest traded
        return (
            f"EQUAL_WEIGHT holds the universe of the config given now ({listed}), which is not the config the backtest "
            f"ran with (config hash {ran[:12]}, now {now[:12]}): its universe may differ from the one the weeks traded"
        )
    return (
        f"EQUAL_WEIGHT holds assets.yaml's universe as configured now ({listed}) over every week: in static mode the "
        "books record no universe, so a symbol added to or removed from assets.yaml since the books began counts as "
        "held (or not) from the first week"
    )
