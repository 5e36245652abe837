"""`llmtrade research` and `llmtrade market`: offline on a fresh machine, frozen once built."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import load_config
from llmtrade.domain.research import ResearchPack, ResearchPackBuilt
from tests.support import stored_events

runner = CliRunner()
UNIVERSE = load_config(None).config.assets.symbols


def _plain_hash(pack: ResearchPack) -> str:
    """The pack's hash as it was first defined: the sorted JSON of the whole pack, hashed."""
    text = json.dumps(pack.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def at_thursday(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:00:00-05:00")
    return cli_env


def test_research_offline_builds_two_readable_packs_from_the_synthetic_market(at_thursday: dict[str, str]) -> None:
    result = runner.invoke(app, ["research"])
    assert result.exit_code == 0, result.output
    assert "OFFLINE MODE" in result.stderr
    out = result.stdout
    assert "prices: SYNTHETIC (the seeded synthetic market)" in out and "from synthetic" not in out
    assert "research pack A: A: perplexity/sonar-pro (offline), week 2026-01-07" in out
    assert "research pack B:" in out and "tradable candidates" in out
    assert "as of 2026-01-07T08:00:00-05:00" in out  # the week's scheduled run, not Thursday noon
    built = stored_events(at_thursday["DATABASE_URL"], type="ResearchPackBuilt")
    assert len(built) == 2
    pack = ResearchPackBuilt.from_event(built[0]).pack
    assert ResearchPackBuilt.from_event(built[0]).content_hash == pack.content_hash() == _plain_hash(pack)
    # The snapshot's text is spliced in: the same hash for a pack sharing the snapshot object, and for one whose
    # own text holds the splice marker (hashed whole instead).
    other = ResearchPackBuilt.from_event(built[1]).pack.model_copy(update={"snapshot": pack.snapshot})
    assert other.content_hash() == _plain_hash(other) != pack.content_hash()
    marked = pack.model_copy(update={"label": "A \x00llmtrade:snapshot\x00"})
    assert marked.content_hash() == _plain_hash(marked) != pack.content_hash()
    assert pack.snapshot.synthetic and set(pack.snapshot.indicators) == set(UNIVERSE)
    assert pack.snapshot.session.isoformat() == "2026-01-06"  # Wednesday 08:00: Tuesday is the last complete session
    assert all(c.instrument in UNIVERSE for c in pack.tradable_candidates)


def test_research_is_frozen_once_built_for_the_week(
    at_thursday: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = json.loads(runner.invoke(app, ["research", "--json"]).stdout)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-12T12:00:00-05:00")  # the next Monday, same week
    again = runner.invoke(app, ["research", "--json", "--week", "2026-01-09"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == first
    assert len(stored_events(at_thursday["DATABASE_URL"], type="ResearchPackBuilt")) == 2
    assert len(stored_events(at_thursday["DATABASE_URL"], type="MarketSnapshotTaken")) == 1
    assert len(stored_events(at_thursday["DATABASE_URL"], type="LLMCallCompleted")) == 2  # no new research calls
    plain = runner.invoke(app, ["research", "--week", "2026-01-07"])
    assert "research was already done; showing the stored packs" in plain.stdout


def test_research_json_packs_validate_as_research_packs(at_thursday: dict[str, str]) -> None:
    packs = json.loads(runner.invoke(app, ["research", "--json"]).stdout)
    assert [ResearchPack.model_validate(p).label for p in packs] == ["A", "B"]


def test_market_bars_and_snapshot_show_their_source(at_thursday: dict[str, str]) -> None:
    bars = runner.invoke(app, ["market", "bars", "spy", "--days", "3"])
    assert bars.exit_code == 0, bars.output
    assert "SPY prices: SYNTHETIC (the seeded synthetic market)" in bars.stdout
    rows = [line for line in bars.stdout.splitlines() if line.startswith("2026-")]
    assert [r.split("\t")[0] for r in rows] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    lines = runner.invoke(app, ["market", "bars", "TLT", "--days", "2", "--json"]).stdout.splitlines()
    assert [json.loads(line)["synthetic"] for line in lines] == [True, True]
    snapshot = runner.invoke(app, ["market", "snapshot", "--json"])
    assert snapshot.exit_code == 0, snapshot.output
    assert set(json.loads(snapshot.stdout)["indicators"]) == set(UNIVERSE)


def test_market_bars_from_a_csv_folder(
    at_thursday: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "GLD.csv").write_text(
        "Date,Open,High,Low,Close,Volume\n2026-01-06,400,401,399,400.5,1000\n2026-01-07,401,402,400,401.5,1100\n"
    )
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))
    result = runner.invoke(app, ["market", "bars", "GLD", "--days", "5"])
    assert result.exit_code == 0, result.output
    assert "GLD prices: csv, as of" in result.stdout and "401.50" in result.stdout


def test_unknown_symbols_and_bad_weeks_are_refused(at_thursday: dict[str, str]) -> None:
    unknown = runner.invoke(app, ["market", "bars", "BTC"])
    assert unknown.exit_code == 2 and "BTC is not in this week's universe nor held" in unknown.stderr
    bad = runner.invoke(app, ["research", "--week", "someday"])
    assert bad.exit_code == 2 and "--week 'someday' is not a date" in bad.stderr


def test_a_week_not_begun_is_refused_and_nothing_of_it_is_frozen(at_thursday: dict[str, str]) -> None:
    """`research --week` of a later week built its packs from today's prices and froze them: that week's own weekly
    run would have traded on research months old (the second new-user trial)."""
    later = runner.invoke(app, ["research", "--week", "2026-06-03"])
    assert later.exit_code == 2, later.output
    assert "week 2026-06-03 has not begun (this is the week of 2026-01-07)" in later.stderr
    assert stored_events(at_thursday["DATABASE_URL"], week_id=date(2026, 6, 3)) == []
    assert runner.invoke(app, ["research", "--week", "2025-12-31"]).exit_code == 0  # a past week is still built


def test_a_dry_run_of_a_week_not_begun_is_refused_as_its_research_is(at_thursday: dict[str, str]) -> None:
    """`run-weekly --week LATER --dry-run` printed pitches and orders decided from today's prices under a week months
    away, exit 0, where `research --week LATER` is refused (a new user's trial)."""
    later = runner.invoke(app, ["run-weekly", "--week", "2026-06-03", "--dry-run"])
    assert later.exit_code == 2, later.output
    assert "week 2026-06-03 has not begun (this is the week of 2026-01-07): its dry run" in later.stderr
    assert runner.invoke(app, ["run-weekly", "--week", "2025-12-31", "--dry-run"]).exit_code == 0  # a past week's


def test_research_live_asks_each_provider_in_parallel_with_the_universe_as_an_enum(
    at_thursday: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import going_live

    with going_live(monkeypatch, None, delay=0.02) as fake:
        result = runner.invoke(app, ["research", "--json"])
    assert result.exit_code == 0, result.output
    assert "LIVE MODE" in result.stderr
    assert [r["model"] for r in fake.requests] == ["perplexity/sonar-pro", "google/gemini-3-pro-preview"]
    assert fake.peak_in_flight == 2
    schema = fake.requests[0]["response_format"]["json_schema"]["schema"]
    candidate = schema["$defs"]["Candidate"]["properties"]["instrument"]
    assert candidate["enum"] == UNIVERSE
    prompt = fake.requests[0]["messages"][1]["content"]
    assert "SPY |" in prompt and "SYNTHETIC prices" in prompt
    packs = [ResearchPack.model_validate(p) for p in json.loads(result.stdout)]
    assert [p.research_source for p in packs] == [
        "A: perplexity/sonar-pro (live)",
        "B: google/gemini-3-pro-preview (live)",
    ]
