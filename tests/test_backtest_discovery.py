"""Discovery inside a backtest (issue 15): the pickers run before each weekly run on the backtest's own books,
their forward returns are recorded only once matured by the stepped clock, and `discover performance
--backtest NAME` measures every picker from them.

One three-week offline backtest on the synthetic market in watchlist mode (one checkpoint a day, to keep it
short) is run once per module and shared; the switch-off test runs one week of its own.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.backtest_discovery import HeldBars
from llmtrade.app.backtest_discovery import start as start_discovery
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.cli import app as cli
from llmtrade.clock import FixedClock
from llmtrade.config.candidates import packaged_candidates
from llmtrade.config.loader import load_config, packaged_defaults
from llmtrade.discovery.run import candidate_features
from llmtrade.domain.discovery import PICKERS
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.indicators import indicators_of
from llmtrade.market.service import MarketData
from llmtrade.market.synthetic import SyntheticMarket, candidate_classes
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.database import backtest_database
from tests.support import FIXED_NOW
from tests.test_backtest_providers_kept import offline_backtest

runner = CliRunner()
FIRST, LAST = date(2026, 1, 7), date(2026, 1, 21)  # three weeks: 2026-01-07, -14, -21
CAL = TradingCalendar()


def _config(folder: Path, **discovery: Any) -> Path:
    shutil.copytree(Path(str(packaged_defaults())), folder)
    assets = yaml.safe_load((folder / "assets.yaml").read_text())
    assets["discovery"].update(discovery)
    (folder / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    schedule = yaml.safe_load((folder / "schedule.yaml").read_text())
    schedule["checkpoints"] = ["15:50"]
    (folder / "schedule.yaml").write_text(yaml.safe_dump(schedule, sort_keys=False))
    return folder


def _backtest(database_url: str, home: Path, config: Path, name: str, first: date, last: date) -> BacktestResult:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(home))
    spec = BacktestSpec(name=name, first=first, last=last, offline=True, replay=False)
    return backtest(settings, load_config(config), config, spec, say=lambda _t: None)


def _events(url: str, kind: str) -> list[tuple[Any, dict[str, Any]]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT occurred_at, payload FROM events WHERE type = %s ORDER BY id", (kind,))
        return [(at, payload) for at, payload in rows]


def _url(admin_url: str, dbname: str) -> str:
    head, _, query = admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{dbname}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Run:
    live_url: str
    name: str
    url: str
    result: BacktestResult


@pytest.fixture(scope="module")
def run(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    live = f"t{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{live}"')
    live_url = _url(pg_admin_url, live)
    open_storage(Settings(DATABASE_URL=live_url), FixedClock(FIXED_NOW)).close()  # the live books, empty
    config = _config(tmp_path_factory.mktemp("bt-disc") / "config", universe_mode="watchlist")
    name = f"d{uuid.uuid4().hex[:10]}"
    result = _backtest(live_url, tmp_path_factory.mktemp("bt-disc-home"), config, name, FIRST, LAST)
    return Run(live_url, name, _url(pg_admin_url, backtest_database(name)), result)


def _performance(run: Run, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("DATABASE_URL", run.live_url)
    shown = runner.invoke(cli, ["discover", "performance", "--backtest", run.name, *args])
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.stdout) if "--json" in args else shown.stdout


def test_a_backtest_fills_discover_performance_for_every_picker(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    judged = _events(run.url, "SuggestionsMade")
    assert sorted({p["session"] for _, p in judged}) == ["2026-01-06", "2026-01-13", "2026-01-20"]
    assert sorted({p["picker"] for _, p in judged}) == sorted(PICKERS)
    assert all(len(p["suggestions"]) >= 100 for _, p in judged)  # every candidate judged, every week
    for horizon in ("1", "5"):
        shown = _performance(run, monkeypatch, "--horizon", horizon, "--json")
        assert shown["asof_session"] == "2026-01-27"  # the backtest's last postmortem, not the wall clock
        assert (shown["judged_sessions"], shown["matured_sessions"]) == (3, 3)
        by = {p["picker"]: p for p in shown["pickers"]}
        assert set(by) == set(PICKERS)
        assert all(p["mean_ic"] is not None and -1 <= p["mean_ic"] <= 1 for p in by.values()), by
        assert all(p["coverage"] == 1.0 for p in by.values())
    # 20 sessions after the first judged session is past the backtest's end: nothing to show yet.
    assert _performance(run, monkeypatch, "--horizon", "20", "--json")["matured_sessions"] == 0
    assert "ensemble minus (95%)" in _performance(run, monkeypatch)
    assert run.result.timing.by_kind["discovery"] > 0


def test_a_forward_return_is_recorded_only_after_its_session_closed_on_the_backtests_clock(run: Run) -> None:
    calendar = CAL
    recorded = _events(run.url, "ForwardReturns")
    assert sorted((p["session"], p["horizon"]) for _, p in recorded) == [
        (s, h) for s in ("2026-01-06", "2026-01-13", "2026-01-20") for h in (1, 5)
    ]
    for at, outcome in recorded:
        assert at >= calendar.session_close(date.fromisoformat(outcome["matured"])), outcome["matured"]
        assert "unmeasured" not in outcome  # every judged candidate priced: stored as before the field existed
    # Each week's run judged before the next one's returns could be known: the first week's 5-session return
    # (matured 2026-01-13) is recorded before the second run, the second week's only after the third.
    runs = {p["session"]: at for at, p in _events(run.url, "SuggestionsMade") if p["picker"] == "ensemble"}
    five = {p["session"]: at for at, p in recorded if p["horizon"] == 5}
    assert five["2026-01-06"] < runs["2026-01-13"] < runs["2026-01-20"] < five["2026-01-13"]


def test_the_committee_sees_the_backtests_own_watchlist_and_the_live_books_see_no_discovery(run: Run) -> None:
    fixed = _events(run.url, "UniverseFixed")
    watchlists = _events(run.url, "WatchlistSet")
    assert len(fixed) == len(watchlists) == 3
    for (_, universe), (_, listed) in zip(fixed, watchlists, strict=True):
        assert universe["mode"] == "watchlist" and universe["watchlist_asof"] == listed["asof"]
        assert {e["symbol"] for e in listed["entries"]} <= {i["symbol"] for i in universe["instruments"]}
    for kind in ("SuggestionsMade", "WatchlistSet", "ForwardReturns"):
        assert _events(run.live_url, kind) == []


def test_equal_weight_holds_the_weeks_watchlists_the_committee_traded(run: Run) -> None:
    fixed = _events(run.url, "UniverseFixed")
    listed = {i["symbol"] for _, universe in fixed for i in universe["instruments"] if not i["held"]}
    notes = run.result.leaderboard.notes
    [note] = [n for n in notes if n.startswith("EQUAL_WEIGHT holds each week's universe")]
    assert f"(3 weeks fixed one, {len(listed)} symbols in all)" in note
    # It traded the discovered names, not only assets.yaml's universe.
    assert not any("EQUAL_WEIGHT left" in n for n in notes)


def test_switched_off_in_static_mode_a_backtest_runs_no_discovery(
    pg_admin_url: str, database_url: str, tmp_path: Path
) -> None:
    config = _config(tmp_path / "config", in_backtest=False)
    name = f"o{uuid.uuid4().hex[:10]}"
    result = _backtest(database_url, tmp_path / "home", config, name, FIRST, FIRST)
    assert result.jobs["weekly"] == 1
    url = _url(pg_admin_url, backtest_database(name))
    assert _events(url, "SuggestionsMade") == [] and _events(url, "ForwardReturns") == []
    assert "discovery" not in result.timing.by_kind
    # Its performance says no discovery was recorded, not the live commands' hint (a trial).
    env = {"DATABASE_URL": database_url, "LLMTRADE_HOME": str(tmp_path / "home")}
    shown = runner.invoke(cli, ["discover", "performance", "--backtest", name], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"nothing has matured: backtest {name} recorded no discovery" in " ".join(shown.stdout.split())


def test_performance_of_an_unknown_backtest_is_a_usage_error(cli_env: dict[str, str]) -> None:
    shown = runner.invoke(cli, ["discover", "performance", "--backtest", "no-such-backtest"])
    assert shown.exit_code == 2
    assert "no backtest named 'no-such-backtest'" in shown.output


def test_held_bars_answer_what_the_market_answers_and_never_a_later_bar(storage: Storage) -> None:
    symbols = ["SPY", "XLE", "AAPL"]
    market = MarketData([SyntheticMarket({"SPY": "equity"}, extra=candidate_classes())], BarCache(storage.conn), CAL)
    held = HeldBars.of(market, market.bars(symbols, date(2025, 6, 2), date(2026, 1, 30)))
    for asof in (datetime(2026, 1, 7, 13, 0, tzinfo=UTC), datetime(2026, 1, 20, 22, 0, tzinfo=UTC)):
        assert held.bars_asof(symbols, asof, sessions=66).bars == market.bars_asof(symbols, asof, sessions=66).bars
        last = CAL.last_completed_session(asof)
        assert max(b.day for rows in held.bars_asof(symbols, asof).bars.values() for b in rows) == last
    assert held.bars(symbols, date(2026, 1, 6), date(2026, 1, 13)).bars == (
        market.bars(symbols, date(2026, 1, 6), date(2026, 1, 13)).bars
    )
    # Past what it holds it asks the market rather than answering short.
    beyond = held.bars(["SPY"], date(2026, 1, 26), date(2026, 2, 3)).bars["SPY"]
    assert beyond[-1].day == date(2026, 2, 3)


def test_discovery_holds_the_universes_bars_the_weekly_run_reads_so_its_snapshot_computes_them_once(
    database_url: str, tmp_path: Path
) -> None:
    app = offline_backtest(database_url, tmp_path)
    asof = datetime(2026, 1, 14, 11, 0, tzinfo=NEW_YORK)
    with app.held() as storage:
        discovery = start_discovery(
            app,
            storage,
            first=date(2024, 6, 3),
            last=datetime(2026, 1, 30, 17, 0, tzinfo=NEW_YORK),
            spent=Counter(),
            count=print,
        )
        assert discovery is not None and discovery.held is not None
        universe = [*app.loaded.config.assets.symbols, "SPY"]
        held = discovery.held.bars_asof(universe, asof).bars
        read = app.market(storage, record=False).bars_asof(universe, asof).bars  # as the weekly run reads them
    assert held == read
    for symbol in universe:
        assert [id(b) for b in held[symbol]] == [id(b) for b in read[symbol]]  # the very same Bars
        assert indicators_of(held[symbol], held["SPY"]) is indicators_of(read[symbol], read["SPY"])


@pytest.mark.parametrize("mode", ["static", "watchlist"])
def test_candidates_are_held_from_their_first_features_window_unless_a_watchlist_may_trade_them(
    database_url: str, tmp_path: Path, mode: str
) -> None:
    """Static mode never trades a candidate: its bars before the first weekly run's features window were fetched,
    validated and stored for nothing (issue 13: a fixed cost of every backtest's start). A watchlist's symbols are
    traded, and their weekly snapshots read a universe symbol's whole history: held from the range's first day."""
    from dataclasses import replace as replaced

    from llmtrade.app.backtest_discovery import features_from

    app = offline_backtest(database_url, tmp_path)
    config = app.loaded.config
    discovery_settings = config.assets.discovery.model_copy(update={"universe_mode": mode})
    assets = config.assets.model_copy(update={"discovery": discovery_settings})
    app.loaded = replaced(app.loaded, config=config.model_copy(update={"assets": assets}))
    first, weekly = date(2024, 6, 3), datetime(2026, 1, 7, 11, 0, tzinfo=NEW_YORK)
    since = features_from(CAL, weekly)
    assert since is not None and first < since
    with app.held() as storage:
        found = start_discovery(
            app,
            storage,
            first=first,
            last=datetime(2026, 1, 30, 17, 0, tzinfo=NEW_YORK),
            spent=Counter(),
            count=print,
            first_weekly=weekly,
        )
        assert found is not None and found.held is not None
        held, universe = found.held, {*app.loaded.config.assets.symbols, "SPY"}
        others = sorted(s for s in held.days if s not in universe)
        assert others, "no candidate outside the universe: the test proves nothing"
        held_from = since if mode == "static" else first
        assert {held.starts[s] for s in others} == {held_from}
        assert all(held.days[s][0] >= held_from for s in others)
        assert {held.starts[s] for s in universe} == {first}
        market = app.market(storage, record=False)
        # What the candidates' features read, as the market answers it: the first week's and a later one's.
        candidates = [c for c in found.candidates if c.symbol in others]
        for asof in (weekly, weekly + timedelta(days=21)):
            assert held.candidate_features(candidates, asof) == candidate_features(market, candidates, asof)
        # A read from before what is held is the market's whole answer, never a short one.
        early = held.bars(others[:1], first, date(2026, 1, 6))
        assert early.bars[others[0]][0].day == market.bars(others[:1], first, date(2026, 1, 6)).bars[others[0]][0].day
        assert early.bars[others[0]][0].day < since


def test_held_bars_give_the_features_the_market_gives_to_the_bit_week_after_week(storage: Storage) -> None:
    symbols = ["SPY", "XLE", "AAPL", "MSFT"]
    candidates = [c for c in packaged_candidates() if c.symbol in symbols]
    market = MarketData([SyntheticMarket({"SPY": "equity"}, extra=candidate_classes())], BarCache(storage.conn), CAL)
    held = HeldBars.of(market, market.bars(symbols, date(2025, 6, 2), date(2026, 3, 31)))
    # Weeks forward, then one back before the first (its PairHistory is made again from the earlier window).
    weeks = [datetime(2026, 1, 7, 13, 0, tzinfo=UTC) + timedelta(days=7 * i) for i in range(8)]
    for asof in [*weeks, datetime(2025, 11, 5, 13, 0, tzinfo=UTC)]:
        session, rows, skipped = held.candidate_features(candidates, asof)
        assert (session, rows, skipped) == candidate_features(market, candidates, asof)
        assert [r.model_dump_json() for r in rows] == [
            r.model_dump_json() for r in candidate_features(market, candidates, asof)[1]
        ]
    # Before or past what is held: the market's answer.
    early = datetime(2025, 7, 2, 13, 0, tzinfo=UTC)
    assert held.candidate_features(candidates, early) == candidate_features(market, candidates, early)
    late = datetime(2026, 4, 8, 13, 0, tzinfo=UTC)
    assert held.candidate_features(candidates, late) == candidate_features(market, candidates, late)
    # Another backtest's held bars (another range) keep their own pair histories: the same answers as the market's.
    other = HeldBars.of(market, market.bars(symbols, date(2025, 8, 1), date(2026, 2, 27)))
    assert other.pairs == {}
    assert other.candidate_features(candidates, weeks[3]) == candidate_features(market, candidates, weeks[3])
    assert other.pairs["XLE"] is not held.pairs["XLE"]


def test_a_discovery_failing_week_after_week_is_said_when_it_starts_and_when_it_ends() -> None:
    """A range that starts with too little history for the candidates failed discovery 13 weeks in a row, one
    stderr line each (found backtesting 2018-2026 on real ETF files). Each week's discover run still records its
    RunFailed; what is said is the start and the end of a run of the same failure."""
    from types import SimpleNamespace

    from llmtrade.app.backtest_discovery import BacktestDiscovery

    said: list[str] = []
    found = BacktestDiscovery(app=SimpleNamespace(warning=said.append), candidates=[], spent=Counter(), held=None)  # type: ignore[arg-type]
    weeks = [FIRST + timedelta(weeks=k) for k in range(8)]
    short, down = "no discovery candidate has enough history to judge", "another reason"
    for week in weeks[:3]:
        found._failed(week, short)
    assert said == [
        f"backtest discovery before the weekly run of {weeks[0]} failed ({short}); "
        "the weeks after it that fail the same way are said when they end"
    ]
    found._ended(weeks[3], "judged again")
    assert said[1] == (
        f"backtest discovery judged again before the weekly run of {weeks[3]}, after failing the same way before "
        f"3 weekly runs ({weeks[0]} to {weeks[2]})"
    )
    found._ended(weeks[4], "judged again")  # nothing failing: nothing to say
    found._failed(weeks[4], short)
    found._failed(weeks[5], down)  # another failure: the first one's end, then the new one
    assert said[2].startswith(f"backtest discovery before the weekly run of {weeks[4]} failed ({short})")
    assert said[3].startswith(f"backtest discovery before the weekly run of {weeks[5]} failed ({down})")
    assert len(said) == 4  # one week of the first failure: its start was all there was to say
    found._failed(weeks[6], down)
    found._ended(weeks[7], "judged again")
    assert said[4].endswith(f"after failing the same way before 2 weekly runs ({weeks[5]} to {weeks[6]})")
    found._failed(weeks[6], short)
    found._failed(weeks[7], short)
    found.finish()  # failing to the last week: said at the end (found by the new-user trial: it never was)
    assert said[6] == (
        f"backtest discovery failed the same way before 2 weekly runs ({weeks[6]} to {weeks[7]}), the last this "
        "backtest ran"
    )
    found.finish()
    assert len(said) == 7


def test_the_pickers_answers_count_in_the_week_they_came_before_as_the_summary_counts_them(run: Run) -> None:
    """The backtest's summary counted its 3 picker answers among its rules answers; its report's cost per week (the
    calls of each week) had none of them: their records carried no week. Now each counts in the week it comes before."""
    with psycopg.connect(run.url) as conn:
        rows = conn.execute(
            "SELECT week_id, payload->>'role' FROM events WHERE type = 'LLMCallCompleted' ORDER BY id"
        ).fetchall()
    pickers = [week for week, role in rows if role == "picker"]
    assert pickers == [FIRST, FIRST + timedelta(days=7), LAST], pickers
    assert all(week is not None for week, _ in rows)  # every answer in a week: the report's weeks sum to the summary
    assert len(rows) == run.result.rules_answers + run.result.llm_calls


def test_a_candidates_unusable_file_leaves_that_candidate_out_not_every_weeks_discovery(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Found with a CSV folder holding an old XLK.csv newest first beside good files: the candidates' bars were
    fetched in one request, which the one bad file refused whole, so discovery failed before every weekly run (said
    week after week, each with its own dates) and a watchlist-mode backtest quietly traded assets.yaml's universe.
    A candidate with no file is left out without a word; one whose file cannot be used is now left out too, said
    once with the file's problem, and the other candidates are judged every week."""
    from tests.test_backtest_bad_start import WEEK, _write, history

    bars = history(WEEK + timedelta(days=17))  # two weeks and the second one's postmortem
    extra = SyntheticMarket({"SPY": "equity"}, seed=11, extra=candidate_classes())
    first, last = min(b.day for b in bars["SPY"]), max(b.day for b in bars["SPY"])
    more = extra.daily_bars(["XLE", "XLK"], first, last)
    folder, name = tmp_path / "prices", f"t{uuid.uuid4().hex[:10]}"
    _write(folder, {**bars, "XLE": more["XLE"]})
    lines = [f"{b.day},{b.open},{b.high},{b.low},{b.close},{int(b.volume)}" for b in reversed(more["XLK"])]
    (folder / "XLK.csv").write_text("\n".join(["Date,Open,High,Low,Close,Volume", *lines]) + "\n")
    warned: list[str] = []
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK + timedelta(days=7), offline=True, replay=False, csv=folder)
    backtest(settings, load_config(None), None, spec, say=lambda _t: None, warn=warned.append)
    about = [w for w in warned if w.startswith("backtest discovery")]
    assert len(about) == 1, about
    assert about[0].startswith(
        f"backtest discovery leaves out XLK (the other candidates are judged): {folder / 'XLK.csv'}, line 3: XLK: date"
    )
    judged = {
        s["symbol"]
        for _, payload in _events(_url(pg_admin_url, backtest_database(name)), "SuggestionsMade")
        for s in payload["suggestions"]
    }
    assert "XLE" in judged and "XLK" not in judged
