"""`build_leaderboard` on a real PostgreSQL from hand-written books: the range the runs span, fills of the
configured accounts only, knowledge-cutoff periods, trials and deflation; and a backtest's own books."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.analytics import metrics, sharpe_odds
from llmtrade.analytics.records import Leaderboard
from llmtrade.app.container import Container
from llmtrade.app.cutoff_periods import RULES_ONLY, SYNTHETIC_ONLY
from llmtrade.app.leaderboard import build_leaderboard, draw_ahead
from llmtrade.cli import app as cli
from llmtrade.clock import FixedClock
from llmtrade.config.loader import LoadedConfig, load_config, packaged_defaults
from llmtrade.config_errors import ConfigError
from llmtrade.domain.account_events import AccountHalted, AccountResumed
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.market import MarketDataFetched
from llmtrade.domain.runs import RunFailed, RunFinished, RunKilled, RunStarted
from llmtrade.domain.streams import fill_stream, run_stream, valuation_stream
from llmtrade.domain.trading import Fill, OrderFilled, Side
from llmtrade.errors import MarketDataError, OperationalError, UsageError
from llmtrade.exits import classify
from llmtrade.llm.gateway import LLMMode
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.database import backtest_database, locate, sibling
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

runner = CliRunner()


class _Clock:
    """A clock the test moves: each event is stored at the time the books say it happened."""

    def __init__(self) -> None:
        self.instant = FIXED_NOW

    def now(self) -> datetime:
        return self.instant


def _ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)


def _write_books(
    events: EventStore, clock: _Clock, runs: list[datetime], fills: list[Fill], modes: list[str] | None = None
) -> None:
    """Runs at `runs` (live unless `modes` says otherwise, one each), then `fills`."""
    for at, mode in zip(runs, modes or ["live"] * len(runs), strict=True):
        clock.instant = at
        started = RunStarted(
            command="run-weekly", arguments={}, mode=mode, mode_reason="test", config_source="test", version="0"
        )
        events.append([NewEvent.of(started, stream=run_stream(at.isoformat()), run_id=at.isoformat())])
    for fill in fills:
        clock.instant = fill.filled_at
        stream = fill_stream(fill.account_id, fill.client_order_id)
        events.append([NewEvent.of(OrderFilled(fill=fill, broker="paper"), stream=stream, account_id=fill.account_id)])


def _fill(account: str, cid: str, side: Side, qty: int, price: float, at: datetime) -> Fill:
    """A fill of an order of llmtrade's (its id format): the books fold those alone, not trades made by hand."""
    return Fill(
        client_order_id=f"lt-{cid}", account_id=account, symbol="SPY", side=side, qty=qty, price=price, filled_at=at
    )


def _container(database_url: str, cutoff: date | None, research: date | None = None) -> Container:
    """The packaged config with `cutoff` for the PMs and the chairman, `research` for the research providers."""
    loaded = load_config(None)
    models = loaded.config.models
    pms = [pm.model_copy(update={"knowledge_cutoff": cutoff}) for pm in models.pms]
    chairman = models.chairman.model_copy(update={"knowledge_cutoff": cutoff})
    packs = [r.model_copy(update={"knowledge_cutoff": research}) for r in models.research]
    update = {"pms": pms, "chairman": chairman, "research": packs}
    config = loaded.config.model_copy(update={"models": models.model_copy(update=update)})
    return Container(
        Settings(DATABASE_URL=database_url),
        LoadedConfig(config, loaded.source),
        FixedClock(FIXED_NOW),
        None,
        lambda _: None,
        offline=True,
    )


FIRST_RUN = _ny(date(2024, 11, 6), 8)  # a Wednesday: Tuesday 2024-11-05 is the last close before it
LAST_RUN = _ny(date(2025, 2, 25), 16, 30)  # a Tuesday's postmortem, after the close
FILLS = [
    _fill("acct_1", "o1", Side.BUY, 20, 570.0, _ny(date(2024, 11, 6), 9, 30)),
    _fill("acct_1", "o2", Side.SELL, 20, 600.0, _ny(date(2025, 1, 15), 9, 30)),
    _fill("acct_9", "o3", Side.BUY, 20, 570.0, _ny(date(2024, 11, 6), 9, 30)),  # not a configured account
]


@pytest.fixture
def books(storage: Storage) -> Storage:
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, _ny(date(2024, 12, 4), 8), LAST_RUN], FILLS)
    return replace(storage, events=events)


def _real_prices(storage: Storage, events: EventStore, clock: _Clock, start: date = date(2024, 11, 5)) -> None:
    """The books priced on real prices (a CSV folder's, in the bar cache from `start` to LAST_RUN's day): a model may
    have read them in training, so a knowledge cutoff splits them (synthetic books are in no model's training)."""
    _priced_real(events, clock)
    universe = {i.symbol: i.asset_class.value for i in load_config(None).config.assets.universe}
    made = SyntheticMarket(universe, seed=3).daily_bars(list(universe), start, LAST_RUN.date())
    real = {s: [b.model_copy(update={"source": "csv", "synthetic": False}) for b in bars] for s, bars in made.items()}
    BarCache(storage.conn).store(real, start, LAST_RUN.date(), provider="csv", synthetic=False)


@pytest.fixture
def real_books(storage: Storage) -> Storage:
    """`books` on real prices."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, _ny(date(2024, 12, 4), 8), LAST_RUN], FILLS)
    _real_prices(storage, events, clock)
    return replace(storage, events=events)


def test_the_range_runs_from_the_close_before_the_first_run_to_the_last_close_a_run_saw(
    books: Storage, database_url: str
) -> None:
    board = build_leaderboard(_container(database_url, None), books, source="live")
    assert (board.start, board.end) == (date(2024, 11, 5), date(2025, 2, 25))
    assert board.sessions == len(board.curves[0].sessions) - 1
    rows = {s.name: s for s in board.standings}
    assert rows["acct_1"].trades == 1 and rows["acct_1"].hit_rate is not None
    assert "acct_9" not in rows
    assert board.trials == 6  # acct_9 traded, then left accounts.yaml: not ranked, still tried
    assert all(rows[name].dsr is None for name in ("FLAT", "SPY", "EQUAL_WEIGHT"))
    # Synthetic prices are in no model's training: no cutoff applies, said once, and none is asked for.
    assert SYNTHETIC_ONLY in board.notes and not any(n.startswith("no knowledge_cutoff") for n in board.notes)
    assert board.periods == ()
    # The offline market's closes: synthetic, with no dividend to speak of (the synthetic note says enough).
    assert board.prices is not None and board.prices.dividends == "none"
    assert not any(n.startswith("prices: closes") for n in board.notes)
    # The closes it valued each symbol at, kept for `--versus` to compare, SPY's too; never in its JSON.
    assert "SPY" in board.closes and set(board.closes["SPY"]) >= set(board.curves[0].sessions)
    assert "closes" not in board.model_dump()


def test_weeks_up_to_the_knowledge_cutoff_are_a_period_of_their_own(real_books: Storage, database_url: str) -> None:
    board = build_leaderboard(_container(database_url, date(2024, 12, 31)), real_books, source="live")
    before, after = board.periods
    # The week of 2025-01-01 (a holiday Wednesday) is the first that began after the cutoff.
    assert (before.start, before.end) == (date(2024, 11, 5), date(2024, 12, 31))
    assert (after.start, after.end) == (date(2024, 12, 31), date(2025, 2, 25))
    assert "may have read this future" in before.label
    assert before.standings[0].sessions + after.standings[0].sessions == board.standings[0].sessions
    rows_before = {s.name: s for s in before.standings}
    rows_after = {s.name: s for s in after.standings}
    # The trade opened 2024-11-06 and closed (won) 2025-01-15, after the cutoff: it is counted in the period it opened
    # in, not taken as evidence from after the cutoff (it was counted after, with its hit rate).
    assert (rows_before["acct_1"].trades, rows_before["acct_1"].hit_rate) == (1, 1.0)
    assert (rows_after["acct_1"].trades, rows_after["acct_1"].hit_rate) == (0, None)
    whole = {s.name: s for s in board.standings}["acct_1"]
    assert rows_before["acct_1"].trades + rows_after["acct_1"].trades == whole.trades
    # Costs are the fills' of each period's sessions, as its returns are: the sale's in the period after.
    assert rows_before["acct_1"].costs_usd + rows_after["acct_1"].costs_usd == pytest.approx(whole.costs_usd)
    assert any("only the period after it is evidence" in n for n in board.notes)
    assert any(n.startswith("in each knowledge-cutoff period a trade") for n in board.notes)
    # Eight weeks of one trade tell no account from FLAT, after the cutoff either.
    assert any(n.startswith(f"{after.label}: no account is distinguishable from FLAT yet") for n in board.notes)


def test_a_research_model_that_read_further_moves_the_split(real_books: Storage, database_url: str) -> None:
    # The PMs' training ends 2024-11-30, but the research packs they pitch from were written by models trained
    # to 2024-12-31: December's weeks are not evidence either.
    board = build_leaderboard(
        _container(database_url, date(2024, 11, 30), date(2024, 12, 31)), real_books, source="live"
    )
    before, after = board.periods
    assert (before.end, after.start) == (date(2024, 12, 31), date(2024, 12, 31))
    assert "research A" in before.label and "gpt" not in before.label
    unknown = build_leaderboard(_container(database_url, date(2024, 12, 31)), real_books, source="live")
    assert any(n.startswith("no knowledge_cutoff in models.yaml for research A") for n in unknown.notes)
    # Which the evidence note then qualifies: the weeks after the known cutoffs are evidence only if it has not.
    evidence = next(n for n in unknown.notes if "only the period after it is evidence" in n)
    assert evidence.endswith(
        "unless the models without a knowledge_cutoff (research A (perplexity/sonar-pro), "
        "research B (google/gemini-3-pro-preview)) read it"
    )
    assert not any(n.endswith("read it") for n in board.notes)  # every model gives one
    after = build_leaderboard(_container(database_url, date(2024, 6, 30)), real_books, source="live")
    assert any(
        n.startswith("every week is after the knowledge cutoff of every model that gives one (the latest: 2024-06-30")
        and n.endswith("read it")
        for n in after.notes
    )


def test_books_entirely_before_the_cutoff_say_they_are_not_evidence(real_books: Storage, database_url: str) -> None:
    board = build_leaderboard(_container(database_url, date(2025, 6, 30)), real_books, source="live")
    assert board.periods == ()
    assert any("not evidence of skill" in n for n in board.notes)


@pytest.mark.parametrize("modes", [["offline"] * 3, ["offline", "live", "offline"], ["replay"] * 3])
def test_a_cutoff_splits_the_weeks_only_of_books_a_model_answered_in(
    storage: Storage, database_url: str, modes: list[str]
) -> None:
    # Offline, the rules provider answered every call: it has read nothing, so the models' cutoff says nothing of
    # these books. One run a model answered (live, or replayed from their cached answers) and the split is back.
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, _ny(date(2024, 12, 4), 8), LAST_RUN], FILLS, modes)
    _real_prices(storage, events, clock)
    container, books = _container(database_url, date(2024, 12, 31)), replace(storage, events=events)
    board = build_leaderboard(container, books, source="live")
    if modes == ["offline"] * 3:
        assert board.periods == () and RULES_ONLY in board.notes
        assert not any("may have read this future" in n for n in board.notes)
    else:
        assert len(board.periods) == 2 and RULES_ONLY not in board.notes
        assert any("only the period after it is evidence" in n for n in board.notes)
    # Some runs offline, some not: the rows mix the rules' decisions with the models', and a note says so.
    mixed = [n for n in board.notes if "trading runs were offline" in n]
    if modes == ["offline", "live", "offline"]:
        assert mixed == [
            "2 of 3 trading runs were offline: the offline rules provider answered their requests ($0, no model "
            "called), so the PM and chairman rows mix the rules' decisions with the models'"
        ]
    else:
        assert mixed == []


@pytest.mark.parametrize("mode", list(LLMMode))
def test_the_draws_asked_ahead_are_split_at_the_cutoff_unless_offline(
    mode: LLMMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[list[int]] = []
    monkeypatch.setattr(metrics, "draw_ahead", asked.append)
    config = _container("postgresql://unused", date(2024, 12, 31)).loaded.config
    draw_ahead(config, TradingCalendar(), FIRST_RUN, LAST_RUN, mode=mode)
    whole = len(TradingCalendar().sessions_between(date(2024, 11, 5), date(2025, 2, 25))) - 1
    if mode is LLMMode.OFFLINE:
        assert asked == [[whole]]
    else:  # the whole range's and each period's, split at 2024-12-31 (a shared close)
        assert asked[0][0] == whole and len(asked[0]) == 3 and asked[0][1] + asked[0][2] == whole


def test_cagr_of_books_under_a_year_is_said_to_extrapolate(books: Storage, database_url: str) -> None:
    short = build_leaderboard(_container(database_url, None), books, source="live")
    said = [n for n in short.notes if n.startswith("under a year")]
    assert said == [
        f"under a year ({short.sessions} daily returns, of 252 a year): CAGR and Calmar extrapolate it to a year, "
        "and GIPS would not show them; the total return is what was earned"
    ]
    assert short.sessions < 252 and {s.name: s for s in short.standings}["acct_1"].cagr is not None


def test_books_of_no_return_yet_say_nothing_of_a_part_year(storage: Storage, database_url: str) -> None:
    # The first weekly run's books (the README's first command): one session, no return, no CAGR to extrapolate.
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN], [])
    board = build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    assert board.sessions == 0 and not any(n.startswith("under a year") for n in board.notes)


def test_books_of_a_year_say_nothing_of_it_unless_a_period_is_shorter(storage: Storage, database_url: str) -> None:
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [_ny(date(2023, 11, 1), 8), LAST_RUN], FILLS[:2])  # fifteen months
    _real_prices(storage, events, clock, date(2023, 10, 31))
    year = replace(storage, events=events)
    long = build_leaderboard(_container(database_url, None), year, source="live")
    assert long.sessions >= 252 and not any(n.startswith("under a year") for n in long.notes)
    split = build_leaderboard(_container(database_url, date(2024, 12, 31)), year, source="live")
    after = split.periods[-1].standings[0].sessions
    assert after < 252 and any(n.startswith(f"under a year (a period has {after} daily returns") for n in split.notes)


def test_the_same_books_give_the_same_bytes(books: Storage, database_url: str) -> None:
    container = _container(database_url, date(2024, 12, 31))
    first = build_leaderboard(container, books, source="live").model_dump_json()
    again = build_leaderboard(container, books, source="live").model_dump_json()
    assert first == again
    assert Leaderboard.model_validate_json(first).standings[0].name == "acct_1"


def test_a_backtests_books_are_read_from_its_own_database(cli_env: dict[str, str]) -> None:
    name = f"lb{uuid.uuid4().hex[:8]}"
    location = sibling(locate(Settings(DATABASE_URL=cli_env["DATABASE_URL"])), backtest_database(name))
    clock = _Clock()
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), clock, location=location) as storage:
        # A backtest runs offline or replayed, never live (a live run would read the live market here).
        _write_books(storage.events, clock, [FIRST_RUN, LAST_RUN], FILLS[:2], ["offline", "offline"])
    result = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert result.exit_code == 0, result.output
    board = json.loads(result.stdout)
    assert board["source"] == f"backtest {name}" and board["start"] == "2024-11-05"
    # The live books are empty: nothing of the backtest leaks into them.
    live = runner.invoke(cli, ["leaderboard", "--json"])
    assert live.exit_code == 0 and json.loads(live.stdout)["nothing_yet"].startswith("No trading in these books yet")


@pytest.mark.parametrize(
    ("written", "where"),
    [
        ('"2024-09-30"', "pms[0].knowledge_cutoff"),  # a string, not a date
        ("yes", "pms[0].knowledge_cutoff"),
        # Date-shaped but no date: refused by its field too (it was PyYAML's ValueError, at a line and column).
        ("2024-13-01", "pms[0].knowledge_cutoff"),
    ],
    ids=["quoted", "boolean", "no such month"],
)
def test_a_knowledge_cutoff_must_be_a_yaml_date(tmp_path: Path, written: str, where: str) -> None:
    folder = tmp_path / "config"
    shutil.copytree(Path(str(packaged_defaults())), folder)
    models = folder / "models.yaml"
    text = models.read_text().replace("knowledge_cutoff: 2024-09-30", f"knowledge_cutoff: {written}")
    models.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    [problem] = caught.value.problems
    assert problem.path == where and problem.value == written.strip('"')


def test_a_traded_symbol_the_market_cannot_price_fails_as_an_operational_error(
    storage: Storage, database_url: str
) -> None:
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    gone = _fill("acct_1", "o9", Side.BUY, 5, 50.0, _ny(date(2024, 11, 6), 9, 30)).model_copy(update={"symbol": "GONE"})
    _write_books(events, clock, [FIRST_RUN, LAST_RUN], [gone])
    with pytest.raises(MarketDataError, match="GONE") as caught:
        build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    assert classify(caught.value).code == 1


def _priced_real(events: EventStore, clock: _Clock) -> None:
    clock.instant = LAST_RUN
    fetched = MarketDataFetched(
        provider="csv",
        symbols=["SPY"],
        start=date(2024, 1, 2),
        end=date(2025, 2, 25),
        bars=1,
        synthetic=False,
        from_cache=False,
    )
    events.append([NewEvent.of(fetched, stream="market", run_id=LAST_RUN.isoformat())])  # the last run's fetch
    # A later look at synthetic prices by `market bars` (no trading run) says nothing about the books.
    look = fetched.model_copy(update={"provider": "synthetic", "synthetic": True})
    events.append([NewEvent.of(look, stream="market", run_id="market-bars")])


def test_books_priced_with_real_prices_are_valued_at_the_real_bars_in_their_cache(
    storage: Storage, database_url: str
) -> None:
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, LAST_RUN], FILLS[:2])
    _priced_real(events, clock)
    start, end = date(2024, 11, 5), date(2025, 2, 25)
    universe = {i.symbol: i.asset_class.value for i in load_config(None).config.assets.universe}
    # "Real" bars as a backtest's CSV folder would have put them in its cache: twice the synthetic prices.
    made = SyntheticMarket(universe, seed=3).daily_bars(list(universe), start, end)
    real = {
        s: [
            b.model_copy(
                update={k: getattr(b, k) * 2 for k in ("open", "high", "low", "close")}
                | {"source": "csv", "synthetic": False}
            )
            for b in bars
        ]
        for s, bars in made.items()
    }
    BarCache(storage.conn).store(real, start, end, provider="csv", synthetic=False)
    board = build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    acct_1 = board.curves[0]
    spy_close = {b.day: b.close for b in real["SPY"]}
    # Bought 20 SPY at 570 on 2024-11-06, marked at that day's real close.
    assert acct_1.equity[1] == pytest.approx(100_000 - 20 * 570 + 20 * spy_close[date(2024, 11, 6)])
    assert not any("synthetic" in n for n in board.notes)


def test_books_priced_with_real_prices_are_not_valued_at_synthetic_ones(storage: Storage, database_url: str) -> None:
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, LAST_RUN], FILLS[:2])
    _priced_real(events, clock)
    with pytest.raises(OperationalError, match=r"priced with real prices \(csv\), but only synthetic ones"):
        build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")


def test_real_priced_books_read_without_their_config_are_a_configuration_to_give(
    storage: Storage, database_url: str
) -> None:
    """A new user's `leaderboard --live` without the config the books were run with exited 1, an operational failure:
    the prices are the configuration's to give (exit 2), the message naming the option and the variable."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, LAST_RUN], FILLS[:2])
    _priced_real(events, clock)
    with pytest.raises(UsageError) as caught:
        build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    said = str(caught.value)
    assert caught.value.exit_code == 2 and "priced with real prices (csv)" in said, said
    assert "--config DIR" in said and "LLMTRADE_MARKET_CSV_DIR" in said and "LLMTRADE_MARKET_PROVIDERS" in said, said


def test_a_week_of_books_shows_no_ratio_and_says_why(storage: Storage, database_url: str) -> None:
    """The first week's leaderboard showed a Sharpe, Sortino and Calmar of five daily returns (intervals n/a)."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, _ny(date(2024, 11, 12), 16, 30)], FILLS[:1])
    board = build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    assert board.sessions == 5  # the closes of 11-05 to 11-12
    assert all((s.sharpe.estimate, s.sortino, s.calmar) == (None, None, None) for s in board.standings)
    [note] = [n for n in board.notes if n.startswith("Sharpe, Sortino and Calmar are n/a")]
    assert "under 20 daily returns (the whole range: 5 daily returns)" in note
    assert "7.1 on 5" in note  # sqrt(252 / 5)


def test_a_universe_symbol_listed_after_the_books_begin_is_left_out_of_equal_weight_until_it_trades(
    storage: Storage, database_url: str
) -> None:
    """Found with a universe holding an ETF launched after the books began: the leaderboard stopped on a raw
    ValueError ('EQUAL_WEIGHT: no close of IWM'). It now ranks, and a note says which rebalances left IWM out."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, LAST_RUN], FILLS[:2])
    _priced_real(events, clock)
    start, end = date(2024, 11, 5), date(2025, 2, 25)
    universe = {i.symbol: i.asset_class.value for i in load_config(None).config.assets.universe}
    made = SyntheticMarket(universe, seed=3).daily_bars(list(universe), start, end)
    real = {s: [b.model_copy(update={"source": "csv", "synthetic": False}) for b in bars] for s, bars in made.items()}
    real["IWM"] = [b for b in real["IWM"] if b.day >= date(2025, 1, 2)]  # its first session
    BarCache(storage.conn).store(real, start, end, provider="csv", synthetic=False)
    board = build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    [note] = [n for n in board.notes if n.startswith("EQUAL_WEIGHT left IWM out")]
    assert "9 of its 17 rebalances (from 2024-11-05 to 2024-12-26): no close that day" in note
    # Valued at a CSV folder's closes: whether they hold the dividends cannot be told, and the board says so.
    assert board.prices is not None and (board.prices.sources, board.prices.dividends) == (("csv",), "unknown")
    assert any(n.startswith("prices: closes from csv, of which csv cannot be told adjusted") for n in board.notes)
    assert {s.name for s in board.standings} >= {"EQUAL_WEIGHT", "acct_1"}


def _value(events: EventStore, clock: _Clock, account: str, at: datetime) -> None:
    clock.instant = at
    valued = AccountValued(
        account_id=account,
        equity=100_000.0,
        cash=100_000.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        occasion="week start",
    )
    week = at.astimezone(NEW_YORK).date()
    stream = valuation_stream(account, week, "week start")
    events.append([NewEvent.of(valued, stream=stream, account_id=account, week_id=week)])


def _late_books(storage: Storage, *, real: bool = False) -> Storage:
    """Books where acct_4 was added four weeks in (valued, and a fill, from 2024-12-04), acct_3 was never valued and
    acct_9 traded but is not configured; `real`: on real prices (`_real_prices`)."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    runs = [_ny(date(2024, 11, 6), 8), _ny(date(2024, 12, 4), 8), LAST_RUN]
    late = [_fill("acct_4", "o4", Side.BUY, 20, 600.0, _ny(date(2024, 12, 4), 9, 30))]
    _write_books(events, clock, runs, [*FILLS, *late])
    for account in ("acct_1", "acct_2", "acct_5", "acct_6"):
        _value(events, clock, account, runs[0])
    _value(events, clock, "acct_4", runs[1])
    if real:
        _real_prices(storage, events, clock)
    return replace(storage, events=events)


def test_an_account_added_after_the_books_began_is_ranked_over_its_own_sessions(
    storage: Storage, database_url: str
) -> None:
    """A cron user adds acct_4 to accounts.yaml after four weeks and has not yet had acct_3 valued; acct_9 traded
    and was removed. acct_4's row runs from the close before its first valuation, against FLAT and SPY over those
    sessions, not over weeks it did not exist; acct_3's row holds no return; each is said in a note."""
    board = build_leaderboard(_container(database_url, None), _late_books(storage), source="live")
    rows = {s.name: s for s in board.standings}
    sessions = board.curves[0].sessions
    joined = sessions.index(date(2024, 12, 3))  # the last close before its first valuation
    assert rows["acct_1"].sessions == board.sessions
    assert rows["acct_4"].sessions == board.sessions - joined
    assert rows["acct_4"].weeks == pytest.approx((board.sessions - joined) / 5)
    assert rows["acct_4"].excess_vs_spy.low is not None  # against SPY over the same sessions: an interval
    assert rows["acct_3"].sessions == 0 and rows["acct_3"].sharpe.estimate is None
    # Bought and still held: one-way turnover (the lesser of buys and sells) is none.
    assert rows["acct_4"].trades == 0 and rows["acct_4"].turnover == 0.0
    notes = "\n".join(board.notes)
    assert "acct_4 entered the books after they began: its row runs from the close of 2024-12-03" in notes
    assert "acct_3 is in accounts.yaml but no run has valued it yet" in notes
    assert "acct_9 traded in these books but is not in accounts.yaml" in notes
    # Tried all the same: left out of the count, dropping the losers from accounts.yaml raised the rest's DSR.
    assert board.trials == 6 and "trials = 6: the accounts compared (PMs and the chairman), and acct_9, traded" in notes
    # The whole range has its ratios, and acct_4's row; acct_3's of no return shows none and its own note says why.
    assert rows["acct_1"].sharpe.estimate is not None and rows["acct_4"].sharpe.estimate is not None
    assert "Sharpe, Sortino and Calmar are n/a" not in notes


def test_an_account_added_late_counts_in_the_dsrs_spread_with_its_own_sessions_sharpe_ratio(
    storage: Storage, database_url: str
) -> None:
    """acct_4, added four weeks in, is ranked over its own sessions, and so it counts in the spread of the trials'
    Sharpe ratios the others' DSR deflates by: its curve before it existed is its starting cash, weeks of returns of 0
    that pulled its Sharpe ratio towards 0 in that spread (a trial it never ran)."""
    board = build_leaderboard(_container(database_url, None), _late_books(storage), source="live")
    curves = {c.name: c for c in board.curves}
    joined = board.curves[0].sessions.index(date(2024, 12, 3))
    trials = [s.name for s in board.standings if s.kind == "account" and s.dsr is not None]
    assert "acct_1" in trials and "acct_4" in trials

    def sharpe(name: str) -> float | None:
        equity = curves[name].equity[joined if name == "acct_4" else 0 :]
        return metrics.session_sharpe(metrics.daily_returns(equity))

    known = [v for v in (sharpe(name) for name in trials) if v is not None]
    variance = sum((v - sum(known) / len(known)) ** 2 for v in known) / (len(known) - 1)
    acct_1 = next(s for s in board.standings if s.name == "acct_1")
    returns = metrics.daily_returns(curves["acct_1"].equity)
    assert acct_1.dsr == pytest.approx(sharpe_odds.deflated_sharpe(returns, board.trials, variance), rel=1e-9)


def test_an_account_added_after_the_books_began_is_ranked_over_its_own_sessions_in_each_cutoff_period(
    storage: Storage, database_url: str
) -> None:
    """The periods either side of a knowledge cutoff ranked acct_4 (added four weeks in) over the weeks before it
    existed, its cash as 0% returns against SPY's; acct_3 (never valued) likewise. Each period's row of them now
    covers their own sessions, against FLAT and SPY cut the same way, as an independent cut of the curves gives."""
    books = _late_books(storage, real=True)
    board = build_leaderboard(_container(database_url, date(2024, 12, 31)), books, source="live")
    before, after = board.periods
    sessions = board.curves[0].sessions
    joined, split = sessions.index(date(2024, 12, 3)), sessions.index(date(2024, 12, 31))
    last = len(sessions) - 1
    rows_before = {s.name: s for s in before.standings}
    rows_after = {s.name: s for s in after.standings}
    assert rows_before["acct_1"].sessions == split and rows_before["acct_4"].sessions == split - joined
    assert rows_after["acct_4"].sessions == last - split  # there for the whole period after
    assert rows_before["acct_3"].sessions == 0 and rows_after["acct_3"].sessions == 0
    # The excess over SPY of acct_4's own weeks after the cutoff: its curve and SPY's from the cutoff's close. (Before
    # it, acct_4's 19 returns show no annualised figure at all, as its Sharpe ratio: analytics/standings.py.)
    curves = {c.name: c.equity for c in board.curves}
    mine = metrics.daily_returns(curves["acct_4"][split:])
    spy = metrics.daily_returns(curves["SPY"][split:])
    excess = sum(a - b for a, b in zip(mine, spy, strict=True)) / len(mine) * 252
    assert len(mine) >= 20 and rows_after["acct_4"].excess_vs_spy.estimate == pytest.approx(excess, rel=1e-9)
    assert rows_before["acct_4"].excess_vs_spy.estimate is None
    notes = "\n".join(board.notes)
    assert "and so is its row in each knowledge-cutoff period" in notes
    # Its 19 returns before the cutoff are too few for a ratio: the note names the row (acct_3's, of none, it need not).
    assert split - joined == 19 and rows_before["acct_4"].sharpe.estimate is None
    assert "n/a under 20 daily returns (acct_4's row before knowledge cutoff 2024-12-31: 19 daily returns)" in notes
    assert "3.6 on 19" in notes  # sqrt(252 / 19)


def test_books_without_valuations_rank_every_account_from_the_start(books: Storage, database_url: str) -> None:
    board = build_leaderboard(_container(database_url, None), books, source="live")
    assert {s.sessions for s in board.standings} == {board.sessions}
    assert not any("entered the books" in n or "no run has valued" in n for n in board.notes)


def test_failed_and_unended_runs_no_rerun_finished_are_said_under_the_table(
    storage: Storage, database_url: str
) -> None:
    """A week's 12:00 checkpoint failed and the postmortem was killed mid-run: the leaderboard alone showed nothing
    amiss. A note names how many, the latest of each with its error, and where to read them. A weekly run killed
    and finished by the next run-due is resolved, and the 14:00 checkpoint does not resolve the 12:00 one."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)

    def run(at: datetime, run_id: str, command: str, arguments: dict, end: EventPayload | None) -> None:
        clock.instant = at
        started = RunStarted(
            command=command, arguments=arguments, mode="live", mode_reason="t", config_source="t", version="0"
        )
        payloads = [started] if end is None else [started, end]
        events.append([NewEvent.of(p, stream=run_stream(run_id), run_id=run_id) for p in payloads])

    def finished(command: str) -> RunFinished:
        return RunFinished(
            command=command,
            degraded=False,
            llm_calls=0,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=0,
            duration_ms=1,
        )

    week, later = {"week": "2024-11-06"}, {"week": "2024-12-04"}
    run(FIRST_RUN, "w1", "run-weekly", week, finished("run-weekly"))
    run(_ny(date(2024, 12, 4), 8), "w2", "run-weekly", later, None)  # killed
    run(_ny(date(2024, 12, 4), 9), "w2b", "run-weekly", later, finished("run-weekly"))  # the next run-due resumed it
    quiet = build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    assert not any("trading runs failed" in n or "recorded no end" in n for n in quiet.notes)
    failed = RunFailed(command="checkpoint", error_type="MarketDataError", error="no quote for SPY", duration_ms=2.0)
    run(_ny(date(2024, 12, 5), 12), "c1", "checkpoint", {**later, "time": "12:00"}, failed)
    run(_ny(date(2024, 12, 5), 14), "c2", "checkpoint", {**later, "time": "14:00"}, finished("checkpoint"))
    run(LAST_RUN, "p", "postmortem", {"week": "2025-02-19"}, None)
    board = build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    [note] = [n for n in board.notes if "trading runs failed" in n]
    assert note == (
        "1 of 6 trading runs failed and no rerun finished them (the last: checkpoint of 2024-12-05T12:00:00-05:00, "
        "MarketDataError: no quote for SPY); 1 recorded no end, killed or still running (the last: postmortem of "
        "2025-02-25T16:30:00-05:00): the books hold what the other runs did; `llmtrade report` lists each with its "
        "events"
    )


def test_a_run_recorded_killed_is_said_killed_under_the_table(storage: Storage, database_url: str) -> None:
    """A review of 8db83c0: a postmortem a later run recorded killed (RunKilled) was still said to have "recorded no
    end, killed or still running": the leaderboard read the runs' starts and ends without RunKilled."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    clock.instant = LAST_RUN
    started = RunStarted(
        command="postmortem", arguments={}, mode="live", mode_reason="t", config_source="t", version="0", lease=7
    )
    killed = RunKilled(command="postmortem", found_by="later", last_event_type="RunStarted", last_event_at=LAST_RUN)
    events.append([NewEvent.of(p, stream=run_stream("p"), run_id="p") for p in (started, killed)])
    board = build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    [note] = [n for n in board.notes if "`llmtrade report` lists each" in n]
    assert note.startswith("1 recorded no end, killed or lost their database (the last: postmortem of "), note
    assert "recorded no end, killed or still running" not in note


def test_halts_are_said_with_how_long_and_whether_still_on(storage: Storage, database_url: str) -> None:
    """acct_4 halted by the breaker for two weeks and resumed, acct_2 halted to the end: the rows alone showed a
    flat stretch with no reason. Each is a note with its span and reason; the still-halted one says so."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, _ny(date(2024, 12, 4), 8), LAST_RUN], FILLS)
    halts = [
        (_ny(date(2024, 11, 13), 12), AccountHalted(account_id="acct_4", reason="10 consecutive losing trades")),
        (_ny(date(2024, 11, 27), 12), AccountResumed(account_id="acct_4", reason="3 winning shadow trades")),
        (_ny(date(2025, 2, 11), 12), AccountHalted(account_id="acct_2", reason="drawdown 10% (limit 10%)")),
    ]
    for at, payload in halts:
        clock.instant = at
        events.append([NewEvent.of(payload, stream=f"breaker:{payload.account_id}")])
    board = build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    notes = [n for n in board.notes if "halted by the circuit breaker" in n]
    assert notes == [
        "acct_4 was halted by the circuit breaker 1 time, 2.0 weeks in all (the last from 2024-11-13T12:00-05:00 to "
        "2024-11-27T12:00-05:00: 10 consecutive losing trades); while halted it trades only the risk-reducing part "
        "of each decision",
        "acct_2 was halted by the circuit breaker 1 time, 2.0 weeks in all (the last since 2025-02-11T12:00-05:00: "
        "drawdown 10% (limit 10%)); while halted it trades only the risk-reducing part of each decision; it is still "
        "halted",
    ]


def test_turnover_is_the_lesser_of_buys_and_sells_over_average_equity_for_every_row(
    storage: Storage, database_url: str
) -> None:
    """SPY's buy-and-hold read 5.07 turns a year over 49 sessions: its one purchase was counted, buys and sells summed
    (two-way). Turnover is the SEC's one-way rate: min(notional bought, notional sold) / average equity x 252 / n,
    recomputed here from the fills: a round trip counts once, a position bought and still held counts nothing, a
    short opened and covered counts once, and SPY's buy-and-hold is 0."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    fills = [
        *FILLS,
        _fill("acct_2", "b1", Side.BUY, 30, 575.0, _ny(date(2024, 11, 6), 9, 30)),  # bought and held
        _fill("acct_3", "s1", Side.SELL, 10, 580.0, _ny(date(2024, 11, 13), 9, 30)),  # a short, covered in part
        _fill("acct_3", "s2", Side.BUY, 6, 560.0, _ny(date(2024, 12, 11), 9, 30)),
    ]
    _write_books(events, clock, [FIRST_RUN, _ny(date(2024, 12, 4), 8), LAST_RUN], fills)
    board = build_leaderboard(_container(database_url, None), replace(storage, events=events), source="live")
    rows = {s.name: s for s in board.standings}
    curves = {c.name: c for c in board.curves}
    for account in ("acct_1", "acct_2", "acct_3", "acct_4"):
        bought = sum(f.qty * f.price for f in fills if f.account_id == account and f.side is Side.BUY)
        sold = sum(f.qty * f.price for f in fills if f.account_id == account and f.side is Side.SELL)
        equity = curves[account].equity
        expected = min(bought, sold) / (sum(equity) / len(equity)) * 252 / (len(equity) - 1)
        assert rows[account].turnover == pytest.approx(expected), account
    assert rows["acct_1"].turnover > 0 and rows["acct_3"].turnover > 0
    assert rows["acct_2"].turnover == 0.0 and rows["acct_4"].turnover == 0.0
    assert rows["SPY"].turnover == 0.0 and rows["FLAT"].turnover == 0.0
    assert rows["EQUAL_WEIGHT"].turnover is not None and rows["EQUAL_WEIGHT"].turnover > 0  # it rebalances weekly
    assert any(n.startswith("turnover/yr (turnover) is the annualised one-way turnover") for n in board.notes)


def test_synthetic_books_are_not_split_at_a_knowledge_cutoff(books: Storage, database_url: str) -> None:
    """Live models on the synthetic market (keys set, no data source): the leaderboard split the weeks at the models'
    knowledge cutoff and said 'the models may have read this future in training' of a seeded random market no model
    has read."""
    board = build_leaderboard(_container(database_url, date(2024, 12, 31)), books, source="live")
    assert board.periods == () and SYNTHETIC_ONLY in board.notes
    assert not any("may have read this future" in n or "not evidence of skill" in n for n in board.notes)


def test_books_of_no_return_yet_are_not_said_to_be_before_a_knowledge_cutoff(
    storage: Storage, database_url: str
) -> None:
    """The first week's books (one close, no return) of 2026 were said to be 'on or before the latest knowledge cutoff
    (2025-07-31)': the weeks of no return are neither before nor after it."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [LAST_RUN], [])
    _real_prices(storage, events, clock, date(2025, 2, 24))
    books = replace(storage, events=events)
    first = build_leaderboard(_container(database_url, date(2024, 6, 30)), books, source="live")
    assert first.sessions == 0 and first.periods == ()
    assert not any("knowledge cutoff" in n for n in first.notes), first.notes
