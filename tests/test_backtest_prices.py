"""What a backtest says at its start about prices that pass validation but would mislead: a split-like jump
(most likely an unadjusted split) is said with its file, day and ratio, recorded, and repeated by the leaderboard;
a real fall during the day is not taken for one. A symbol whose prices begin during the range is not offered to
the committee before its first bar."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml

from llmtrade.app import backtest as backtest_module
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.backtest_prices import jump_message
from llmtrade.app.container import Container
from llmtrade.app.leaderboard import leaderboard
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config, packaged_defaults
from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from llmtrade.errors import UsageError
from llmtrade.market.jumps import split_like, suspect_moves
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _unique, _url
from tests.test_backtest_bad_start import WEEK, _write, refused_at_start
from tests.test_backtest_bad_start import bars as bars

SPLIT = WEEK + timedelta(days=1)  # Thursday of the backtest's week


def _split(rows: list[Bar], day: date, ratio: float) -> list[Bar]:
    """`rows` as a file that left a split on `day` unadjusted: every bar from `day` on at `ratio` times its price."""
    scale = ("open", "high", "low", "close")
    return [b.model_copy(update={k: getattr(b, k) * ratio for k in scale}) if b.day >= day else b for b in rows]


def test_an_unadjusted_split_is_said_at_the_start_recorded_and_repeated_by_the_leaderboard(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Found with a file of unadjusted prices: a 4-for-1 split passed as a -75% day and the leaderboard booked it
    as a loss. Now the start names the file, the day and the ratio and says what to do; the books record it, and
    the leaderboard says it beside the figures."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {**bars, "GLD": _split(bars["GLD"], SPLIT, 0.25)})
    said: list[str] = []
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    backtest(settings, load_config(None), None, spec, say=said.append)
    [warning] = [text for text in said if text.startswith("split-like jump")]
    assert f"{folder / 'GLD.csv'}: GLD closes on {SPLIT} at 0.2" in warning
    assert "like an unadjusted 4-for-1 split" in warning and "give split-adjusted prices" in warning
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        [(payload,)] = conn.execute("SELECT payload FROM events WHERE type = 'PriceJumpFlagged'").fetchall()
    assert (payload["symbol"], payload["day"], payload["looks_like"]) == ("GLD", SPLIT.isoformat(), "4-for-1")
    assert payload["where"] == str(folder / "GLD.csv")
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 1, 20, tzinfo=UTC)), None, print)
    board = leaderboard(live, backtest=name)
    [note] = [n for n in board.notes if "split-like jump" in n]
    assert f"GLD on {SPLIT} (x0.25" in note and "like an unadjusted 4-for-1 split" in note


def test_clean_prices_say_nothing_of_jumps(bars: dict[str, list[Bar]], database_url: str, tmp_path: Path) -> None:
    _write(tmp_path / "prices", bars)
    said: list[str] = []
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=_unique(), first=WEEK, last=WEEK, offline=True, replay=False, csv=tmp_path / "prices")
    backtest(settings, load_config(None), None, spec, say=said.append)
    assert not [text for text in said if "split-like" in text]


@pytest.mark.parametrize(("ratio", "looks"), [(0.5, "2-for-1"), (1 / 3, "3-for-1"), (0.1, "10-for-1"), (8, "1-for-8")])
def test_a_whole_session_moved_by_a_split_fraction_is_split_like(
    bars: dict[str, list[Bar]], ratio: float, looks: str
) -> None:
    [jump] = split_like("GLD", _split(bars["GLD"], SPLIT, ratio))
    assert (jump.day, jump.looks_like()) == (SPLIT, looks)


def test_a_fall_during_the_day_or_a_crash_off_every_fraction_is_not(bars: dict[str, list[Bar]]) -> None:
    """A real crash: opening near the close before and halving by the close (the open did not gap), or gapping to
    0.17x (SVXY on 2018-02-06 fell about 83%), which is no split's fraction."""
    rows = bars["GLD"]
    at = next(i for i, b in enumerate(rows) if b.day == SPLIT)
    before = rows[at - 1].close
    fell = rows[at].model_copy(update={"open": before, "high": before, "low": before * 0.5, "close": before * 0.5})
    assert split_like("GLD", [*rows[:at], fell]) == []
    assert split_like("GLD", _split(rows, SPLIT, 0.17)) == []


def test_a_symbol_listed_during_the_range_is_offered_from_its_first_week_with_a_price(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Found with a universe holding an ETF launched after --from: the first week's market snapshot failed ('no
    bars ... in IWM.csv'). Now the start says it, records it, and the weeks before its first bar neither snapshot
    nor offer it; the week after does. The look-ahead audit of both weeks passes: each week decides from its own
    as-of session."""
    assets = load_config(None).config.assets
    classes = {i.symbol: i.asset_class.value for i in assets.universe}
    start = WEEK - backtest_module._HISTORY - timedelta(days=5)
    symbols = sorted({*assets.symbols, BENCHMARK})
    made = SyntheticMarket(classes, seed=11).daily_bars(symbols, start, WEEK + timedelta(days=20))
    listed = WEEK + timedelta(days=5)  # the Monday before the second week's run
    made["IWM"] = [b for b in made["IWM"] if b.day >= listed]
    folder, name = tmp_path / "prices", _unique()
    _write(folder, made)
    said: list[str] = []
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    second = WEEK + timedelta(days=7)
    spec = BacktestSpec(name=name, first=WEEK, last=second, offline=True, replay=False, csv=folder, audit=2)
    result = backtest(settings, load_config(None), None, spec, say=said.append)
    assert result.weeks_run == 2 and all(a.passed for a in result.audit) and len(result.audit) == 2
    [late] = [text for text in said if text.startswith("prices begin late")]
    assert f"IWM's ({folder / 'IWM.csv'}) first bar is {listed}" in late and "do not offer IWM" in late
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        [(recorded,)] = conn.execute("SELECT payload FROM events WHERE type = 'PricesBeginLate'").fetchall()
        snapshots = dict(conn.execute("SELECT week_id, payload FROM events WHERE stream LIKE 'week:%:snapshot'"))
    assert (recorded["symbol"], recorded["first_day"]) == ("IWM", listed.isoformat())
    shown = {week: set(payload["snapshot"]["indicators"]) for week, payload in snapshots.items()}
    assert "IWM" not in shown[WEEK] and "IWM" in shown[second] and BENCHMARK in shown[WEEK]


def test_a_one_day_spike_is_said_as_a_bad_row_not_a_split(bars: dict[str, list[Bar]]) -> None:
    """A misplaced decimal on one row: the close 10x the day before and back the next session. Not a split (the
    price does not stay), and every return into and out of it is wrong: said as a spike."""
    rows = bars["GLD"]
    at = next(i for i, b in enumerate(rows) if b.day == SPLIT)
    bad = rows[at].model_copy(update={k: getattr(rows[at], k) * 10 for k in ("open", "high", "low", "close")})
    [jump] = suspect_moves("GLD", [*rows[:at], bad, *rows[at + 1 :]])
    assert (jump.day, jump.looks_like()) == (SPLIT, "spike")
    message = jump_message(jump, "GLD.csv")
    assert message.startswith(f"price spike: GLD.csv: GLD closes on {SPLIT} at 10.") and "bad row" in message
    assert suspect_moves("GLD", _split(rows, SPLIT, 0.25))[0].looks_like() == "4-for-1"  # a split stays


def test_a_spike_on_the_last_bar_before_a_run_is_never_named_a_split(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Found by the new-user trial: every bar of the Tuesday before the run at 10x (a bad row, back on Wednesday).
    The start called each a spike, but the gate's reasons said '(1-for-10: see PriceJumpFlagged)'. The run sees
    Tuesday as its last bar, which may be a split or a bad row (its way back is not known yet): it says both, and the
    leaderboard counts spikes as spikes."""
    tuesday = WEEK - timedelta(days=1)
    keys = ("open", "high", "low", "close")
    spiked = {
        s: [b.model_copy(update={k: getattr(b, k) * 10 for k in keys}) if b.day == tuesday else b for b in rows]
        for s, rows in bars.items()
    }
    folder, name = tmp_path / "prices", _unique()
    _write(folder, spiked)
    said: list[str] = []
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    backtest(settings, load_config(None), None, spec, say=said.append)
    assert len([text for text in said if text.startswith("price spike")]) == len(bars)
    assert not [text for text in said if "split" in text and tuesday.isoformat() in text]
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        checked = conn.execute("SELECT payload FROM events WHERE type = 'RiskChecked'").fetchall()
    reasons = [p["verdict"]["reason"] for (p,) in checked if p["verdict"]["reason"].startswith("suspect_price")]
    assert reasons, "no verdict was held for a suspect price: the test proves nothing"
    for reason in reasons:
        assert "(a last bar like an unadjusted 1-for-10 split, or a bad row: the next session will tell;" in reason
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 1, 20, tzinfo=UTC)), None, print)
    [note] = [n for n in leaderboard(live, backtest=name).notes if "flagged at the backtest's start" in n]
    assert note.startswith(f"the prices hold {len(bars)} one-day spikes, flagged") and "split" not in note.split(".")[0]
    assert f"on {tuesday} (x10.0" in note and "a one-day spike, back the next session (a bad row?)" in note


def test_a_leaderboard_reads_a_backtest_with_its_recorded_config_and_refuses_another_given(
    bars: dict[str, list[Bar]], database_url: str, tmp_path: Path
) -> None:
    """A new user ran a CSV backtest with a config cut to the folder's symbols, then `leaderboard --backtest` without
    it: exit 1, "the books were priced with real prices, but only synthetic ones are at hand", the packaged universe's
    other symbols having no file. The config is what to mend, and the message now says so first."""
    config = tmp_path / "config"
    shutil.copytree(Path(str(packaged_defaults())), config)
    assets = yaml.safe_load((config / "assets.yaml").read_text())
    assets["universe"] = [i for i in assets["universe"] if i["symbol"] != "GLD"]
    (config / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {symbol: rows for symbol, rows in bars.items() if symbol != "GLD"})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    backtest(settings, load_config(config), config, spec, say=lambda _t: None)
    now = FixedClock(datetime(2026, 1, 20, tzinfo=UTC))
    given = leaderboard(Container(settings, load_config(config), now, config, print), backtest=name)
    assert given.standings
    # Read without --config (the README's own `report --backtest` example; a sweep's runs have no folder to give): with
    # the config the backtest recorded at its start. It was refused, as if the packaged defaults had been asked for.
    recorded = leaderboard(Container(settings, load_config(None), now, None, print), backtest=name)
    assert recorded.model_dump() == given.model_dump()
    # Another config given is refused, saying both ways out.
    other = tmp_path / "other"
    shutil.copytree(Path(str(packaged_defaults())), other)
    said = rf"^backtest {name} ran with another config than the one given now .*leave out --config .* to read it with "
    with pytest.raises(UsageError, match=said + "the config it recorded, or give the folder it ran with"):
        leaderboard(Container(settings, load_config(other), now, other, print), backtest=name)
    # So is one the books can be priced with, differing in the paper broker's slippage alone: it was read, the
    # baselines paying its 50 bps where the accounts had traded at 5, and only EQUAL_WEIGHT's universe said to differ.
    costly = tmp_path / "costly"
    shutil.copytree(config, costly)
    accounts = yaml.safe_load((costly / "accounts.yaml").read_text())
    accounts["paper"]["slippage_bps"] = 50
    (costly / "accounts.yaml").write_text(yaml.safe_dump(accounts, sort_keys=False))
    with pytest.raises(UsageError, match=said + "the config it recorded, or give the folder it ran with"):
        leaderboard(Container(settings, load_config(costly), now, costly, print), backtest=name)


@pytest.mark.parametrize("discovery", [True, False])
def test_a_symbol_listed_after_the_range_is_a_late_listing_with_no_price_in_it(
    database_url: str, pg_admin_url: str, tmp_path: Path, discovery: bool
) -> None:
    """IWM's file begins after the range's last session: the start stopped ('csv: no bars between ... in IWM.csv'),
    where a file beginning a day inside the range is a late listing. Now it is one too: said once (not again as a
    discovery candidate left out), recorded, never offered, left out of EQUAL_WEIGHT, and the range runs; its earlier
    history given later, inside the weeks run, refuses the resume (a run afresh would offer it)."""
    config = tmp_path / "config"
    shutil.copytree(Path(str(packaged_defaults())), config)
    if not discovery:
        assets_yaml = yaml.safe_load((config / "assets.yaml").read_text())
        assets_yaml["discovery"]["in_backtest"] = False
        (config / "assets.yaml").write_text(yaml.safe_dump(assets_yaml, sort_keys=False))
    assets = load_config(config).config.assets
    classes = {i.symbol: i.asset_class.value for i in assets.universe}
    start = WEEK - backtest_module._HISTORY - timedelta(days=5)
    symbols = sorted({*assets.symbols, BENCHMARK})
    made = SyntheticMarket(classes, seed=11).daily_bars(symbols, start, WEEK + timedelta(days=60))
    listed = WEEK + timedelta(days=41)  # 2026-02-17, a Tuesday
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {**made, "IWM": [b for b in made["IWM"] if b.day >= listed]})
    said: list[str] = []
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder, audit=1)
    result = backtest(settings, load_config(config), config, spec, say=said.append)
    assert result.weeks_run == 1 and all(a.passed for a in result.audit)
    [late] = [text for text in said if "IWM" in text]
    assert late.startswith("prices begin after the range: ")
    assert f"IWM's ({folder / 'IWM.csv'}) first bar is {listed}" in late, late
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        [(recorded,)] = conn.execute("SELECT payload FROM events WHERE type = 'PricesBeginLate'").fetchall()
        snapshots = [p for (p,) in conn.execute("SELECT payload FROM events WHERE stream LIKE 'week:%:snapshot'")]
    assert (recorded["symbol"], recorded["first_day"]) == ("IWM", listed.isoformat())
    assert snapshots and all("IWM" not in p["snapshot"]["indicators"] for p in snapshots)
    live = Container(settings, load_config(config), FixedClock(datetime(2026, 1, 20, tzinfo=UTC)), config, print)
    assert {"SPY", "EQUAL_WEIGHT"} <= {s.name for s in leaderboard(live, backtest=name).standings}
    if not discovery:  # the range extended past its first bar, on the same files: a late listing inside it now
        past = replace(spec, last=listed + timedelta(days=1), audit=0)
        assert backtest(settings, load_config(config), config, past, say=said.append).weeks_run == 6
        with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
            weeks = conn.execute("SELECT week_id, payload FROM events WHERE stream LIKE 'week:%:snapshot'").fetchall()
        offered = {week: "IWM" in p["snapshot"]["indicators"] for week, p in weeks}
        assert offered == {week: week > listed for week in offered}, offered
    _write(folder, made)  # IWM's whole history given: a run afresh offers it in the weeks already run
    extended = replace(spec, last=WEEK + timedelta(days=7))
    with pytest.raises(UsageError) as caught:
        backtest(settings, load_config(config), config, extended, say=said.append)
    assert "IWM.csv now has a bar of " in str(caught.value), caught.value
    assert "inside the days this backtest's weeks read" in str(caught.value), caught.value


def test_a_benchmark_listed_after_the_range_stops_the_start_as_a_bad_range(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Every week reads SPY: listed after the range, it is no late listing to go on without."""
    folder = tmp_path / "prices"
    later = SyntheticMarket({BENCHMARK: "equity"}, seed=11).daily_bars(
        [BENCHMARK], WEEK + timedelta(days=30), WEEK + timedelta(days=40)
    )
    _write(folder, {**bars, BENCHMARK: later[BENCHMARK]})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=_unique(), first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    refused_at_start(
        settings, spec, pg_admin_url, r"prices begin after the range: SPY's .* every week reads SPY", UsageError
    )
