"""Answers a `--live-misses` backtest bought reach the live books' cache however it stopped. It gives them back when
it stops, finished or not; killed outright (SIGKILL, the OOM killer) it gives back nothing, and the answers stay in its
own database only. Its rerun with a plain `--replay` (nothing more to spend) gave back nothing either, so another
backtest of the same weeks missed them, and under `--live-misses` paid for them again."""

from __future__ import annotations

from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_backtest_replay import _backtest, _db, _rows
from tests.test_backtest_replay import models as models


def test_a_plain_replay_gives_back_the_answers_an_earlier_run_bought_and_could_not(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    live = cli_env["DATABASE_URL"]
    code, _, err = _backtest("bought", "--replay", "--live-misses", "100")
    assert code == 0, err
    bought = _rows(_db(live, "bought"), "SELECT count(*) FROM llm_cache")[0][0]
    # As a SIGKILL leaves it: the answers in the backtest's own cache, none given back to the live one.
    _rows(live, "DELETE FROM llm_cache RETURNING key")

    code, _, err = _backtest("bought", "--replay")  # its weeks are done: the rerun only records its end

    assert code == 0, err
    assert "fetched live by this backtest added to the live books' cache" in err
    # Before: 0, and the next backtest of the week missed every answer.
    assert _rows(live, "SELECT count(*) FROM llm_cache")[0][0] == bought > 0
    sent = len(models.requests)
    code, _, err = _backtest("other", "--replay")
    assert code == 0, err
    assert len(models.requests) == sent  # nothing bought twice


def test_a_plain_replay_of_answers_all_in_the_live_cache_says_nothing_given_back(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    code, _, err = _backtest("filled", "--replay", "--live-misses", "100")
    assert code == 0, err
    code, _, err = _backtest("replayed", "--replay")
    assert code == 0, err
    assert "added to the live books' cache" not in err
