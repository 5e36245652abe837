"""`llmtrade memory search | show | stats | rebuild`: against a real database, with --json validated against
`llmtrade schema`, and the exit codes of a bad request."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.memory.embedder import PACKAGED_MODEL, PackagedEmbedder
from llmtrade.memory.store import PgMemory
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.support import FIXED_NOW, assert_obeys
from tests.test_memory_store import week_items

runner = CliRunner()
WEEKS = [date(2024, 1, 3) + timedelta(weeks=i) for i in range(8)]


@pytest.fixture
def remembered(cli_env: dict[str, str], database_url: str) -> None:
    with open_storage(Settings(DATABASE_URL=database_url), FixedClock(FIXED_NOW)) as storage:
        memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
        rng = random.Random(5)
        for week_id in WEEKS:
            memory.remember(week_items(week_id, rng), week_id=week_id, run_id=None)


def _json(*command: str) -> Any:
    result = runner.invoke(app, [*command, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    schema_name = command[:2]
    published = runner.invoke(app, ["schema", *schema_name])
    assert published.exit_code == 0, published.output
    assert_obeys(document, published.stdout)
    return document


def test_search_by_text_returns_setups_with_outcomes_known_before_as_of(remembered: None) -> None:
    as_of = "2024-02-03T00:00:00+00:00"  # after the first four weeks' Friday outcomes only
    found = _json("memory", "search", "momentum breakout above the 50 day average", "--as-of", as_of, "--limit", "5")
    assert found["by"] == "text" and found["embedding_model"] == PACKAGED_MODEL
    assert 0 < len(found["hits"]) <= 5
    assert [h["rank"] for h in found["hits"]] == list(range(1, len(found["hits"]) + 1))
    assert all(h["outcome"]["known_at"] < as_of and h["week_id"] < "2024-01-31" for h in found["hits"])


def test_search_by_week_ranks_only_earlier_weeks(remembered: None) -> None:
    found = _json("memory", "search", "--week", str(WEEKS[5] + timedelta(days=2)))
    assert found["by"] == "week" and found["query"] == str(WEEKS[5])
    assert {h["week_id"] for h in found["hits"]} == {str(w) for w in WEEKS[:5]}


def test_search_by_week_with_fewer_than_two_earlier_weeks_says_why_nothing_matches(remembered: None) -> None:
    """A trial: with one earlier week remembered, `memory search --week` said "nothing remembered matches", and the
    memory read as empty; a week is compared with the weeks known before it, each feature scaled by their spread."""
    found = _json("memory", "search", "--week", str(WEEKS[1]))
    assert (found["hits"], found["weeks_known"]) == ([], 1)
    said = runner.invoke(app, ["memory", "search", "--week", str(WEEKS[1])])
    assert said.exit_code == 0, said.output
    assert "nothing remembered matches (1 week known by then to compare with" in said.stdout
    assert "at least 2 are needed" in said.stdout
    assert _json("memory", "search", "--week", str(WEEKS[2]))["weeks_known"] == 2


def test_search_by_week_honours_an_earlier_as_of(remembered: None) -> None:
    """A trial: --week 2026-01-28 --as-of 2026-01-20 searched up to the week's own condition (known 2026-01-28) and
    listed the week of 2026-01-21, not known at the time asked. The earlier of the two bounds holds."""
    as_of = f"{WEEKS[3]}T00:00:00+00:00"  # before the fourth week's condition was known
    found = _json("memory", "search", "--week", str(WEEKS[5]), "--as-of", as_of)
    assert found["as_of"].replace("Z", "+00:00") == as_of
    assert {h["week_id"] for h in found["hits"]} == {str(w) for w in WEEKS[:3]}
    later = _json("memory", "search", "--week", str(WEEKS[2]), "--as-of", f"{WEEKS[6]}T00:00:00+00:00")
    assert {h["week_id"] for h in later["hits"]} == {str(w) for w in WEEKS[:2]}  # the week's own bound is earlier


def test_show_prints_a_setup_with_its_outcome_and_event(remembered: None) -> None:
    memory_id = f"setup:{WEEKS[0]}:pitch:pm-a"
    shown = _json("memory", "show", memory_id)
    assert shown["kind"] == "setup" and shown["setup"]["memory_id"] == memory_id
    assert shown["outcome"]["setup_id"] == memory_id and shown["event_id"] > 0
    assert len(shown["lessons"]) == 1


def test_stats_and_rebuild_agree_with_what_was_remembered(remembered: None) -> None:
    stats = _json("memory", "stats")
    assert (stats["conditions"], stats["setups"], stats["setups_with_outcome"]) == (8, 24, 24)
    assert stats["first_week"] == str(WEEKS[0]) and stats["last_week"] == str(WEEKS[-1])
    assert all(e["current"] and e["model"] == PACKAGED_MODEL for e in stats["embeddings"])
    rebuilt = _json("memory", "rebuild")
    assert (rebuilt["conditions"], rebuilt["setups"], rebuilt["outcomes"]) == (8, 24, 24)
    assert _json("memory", "stats") == stats


@pytest.mark.parametrize(
    "command",
    [
        ["memory", "show", "setup:1999-01-06:pitch:nobody"],
        ["memory", "search"],
        ["memory", "search", "text", "--week", "2024-01-03"],
        ["memory", "search", "--week", "1999-01-06"],
        ["memory", "search", "text", "--as-of", "2024-01-03T00:00"],
    ],
    ids=["unknown-id", "nothing-to-search", "both", "week-not-remembered", "naive-as-of"],
)
def test_a_bad_request_exits_2_with_a_message(remembered: None, command: list[str]) -> None:
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_a_rebuild_of_one_of_each_says_each_in_the_singular() -> None:
    """ "1 conditions, 1 setups": every count noun is singular for one (the second new-user trial)."""
    import io

    from llmtrade.app.memory_results import MemoryRebuilt
    from llmtrade.commands.render.memory import print_rebuilt
    from llmtrade.console import Output

    text = io.StringIO()
    one = MemoryRebuilt(
        conditions=1, setups=1, outcomes=1, lessons=2, symbol_notes=1, embedding_model="m", dimensions=4, seconds=0.1
    )
    print_rebuilt(Output(stream=text, force_plain=True), one)
    assert "1 condition, 1 setup, 1 outcome, 2 lessons, 1 symbol note\n" in text.getvalue()


def test_an_instrument_no_setup_could_be_of_exits_2_naming_the_universe(remembered: None) -> None:
    """`memory search TEXT --instrument ZZZ` said "nothing remembered matches" and exited 0: a typo read as an empty
    memory. A symbol of the universe, a discovery candidate or a remembered setup is a real question."""
    typo = runner.invoke(app, ["memory", "search", "trend", "--instrument", "spyy"])
    assert typo.exit_code == 2
    assert "--instrument SPYY: no such instrument in the universe, the discovery candidates" in typo.stderr
    assert "known: " in typo.stderr and "SPY" in typo.stderr
    assert runner.invoke(app, ["memory", "search", "trend", "--instrument", "SPY"]).exit_code == 0
    assert runner.invoke(app, ["memory", "search", "trend", "--instrument", "AAPL"]).exit_code == 0  # a candidate


def test_search_by_text_says_vectors_of_another_model_are_not_searched_until_rebuilt(
    remembered: None, database_url: str
) -> None:
    """After a model change `memory stats` said to rebuild, but `memory search` said only "nothing remembered
    matches" (exit 0), as if the memory were empty."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE memory_setups SET embedding_model = 'other/model'")
    result = runner.invoke(app, ["memory", "search", "momentum breakout"])
    assert result.exit_code == 0, result.output
    assert "24 setup vectors from other/model are not searched" in result.stdout
    assert "until `llmtrade memory rebuild`" in result.stdout
    found = _json("memory", "search", "momentum breakout")
    assert (found["unsearched"], found["unsearched_models"]) == (24, ["other/model"])


def test_search_with_the_memory_switched_off_says_it_is_off(
    remembered: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """With models.yaml memory.enabled: false, `memory search` said "nothing remembered matches", not that the
    memory is off."""
    from llmtrade.config.loader import write_defaults

    config = tmp_path / "cfg"
    write_defaults(config)
    models = config / "models.yaml"
    models.write_text(models.read_text().replace("memory: {enabled: true", "memory: {enabled: false"))
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(config))
    for command in (["memory", "search", "nothing like this at all"], ["memory", "search", "--week", str(WEEKS[5])]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        assert "the memory is off (models.yaml memory.enabled: false)" in result.stdout
    assert _json("memory", "search", "--week", str(WEEKS[5]))["enabled"] is False


def test_search_says_its_score_is_a_distance_smaller_closer(remembered: None) -> None:
    """The score column did not say which way it runs (a distance: smaller is closer)."""
    by_week = runner.invoke(app, ["memory", "search", "--week", str(WEEKS[5])])
    assert by_week.exit_code == 0 and "distance (smaller = closer)" in by_week.stdout
    by_text = runner.invoke(app, ["memory", "search", "momentum breakout"])
    assert by_text.exit_code == 0 and "score (smaller = closer)" in by_text.stdout
    assert "smaller = closer" in " ".join(runner.invoke(app, ["memory", "search", "--help"]).stdout.split())
