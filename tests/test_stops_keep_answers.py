"""A stop of a concurrent fan-out keeps the answers the other members already gave (and were paid for).

A user's trial: a peer_review override that failed only on one pitch's data stopped the weekly run (exit 2, as it
must: nothing may trade after a failed prompt), but the nine reviews the other calls had already brought back (live
models, paid) were not kept: the rerun after the template was fixed asked all twelve again. A stop (a PromptError,
a spent budget) now holds the others' answers on the stage's held stream, as a temporary failure does, before it is
raised; the rerun asks only who has none, when it asks with what they were asked with (after the template's fix,
it does not: the held answers are to the old prompt). The provider is the respx fake of an OpenAI-compatible server
(tests/fakes/llm_transport.py), and every request it gets is counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.domain.checkpoints import PostmortemReflected
from llmtrade.domain.events import AnswerHeld, NewEvent
from llmtrade.domain.streams import held_stream
from llmtrade.errors import BudgetExceeded, LlmtradeError
from llmtrade.fanout import gather_settled
from llmtrade.pipeline.retry import Window, settle
from llmtrade.storage.bootstrap import Storage
from tests.fakes.llm_transport import FakeLLM
from tests.support import WEDNESDAY_8AM, stored_events

Asker = Callable[[list[str]], Awaitable[tuple[dict[str, PostmortemReflected], dict[str, LlmtradeError]]]]

runner = CliRunner()
WEEK = "2026-01-07"
GROKS_PITCH = "USO"  # what the fake committee's grok pitches this week (tests/fakes/committee_answers.pitch_for)
# Parses and passes `config validate`; fails to render only for the reviews of one pitch.
BROKEN = (
    "Review {{ label }}:\n"
    f'{{% if pitch.instrument == "{GROKS_PITCH}" %}}{{{{ pitch.no_such_field }}}}{{% endif %}}\n'
    "{{ pitch | json }}\n"
)


def _reviews_asked(fake: FakeLLM, since: int = 0) -> int:
    return sum(
        ((body.get("response_format") or {}).get("json_schema") or {}).get("name") == "ReviewAnswer"
        for body in fake.requests[since:]
    )


def test_reviews_held_when_one_reviews_prompt_failed_are_asked_again_once_the_template_is_edited(
    live: FakeLLM, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrade.cli import app

    url = cli_env["DATABASE_URL"]
    folder = tmp_path / "prompts"
    folder.mkdir()
    override = folder / "peer_review.user.j2"
    override.write_text(BROKEN)
    monkeypatch.setenv("LLMTRADE_PROMPTS_DIR", str(folder))
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)

    first = runner.invoke(app, ["-q", "run-weekly"])

    assert first.exit_code == 2, first.output  # the stop itself is unchanged: the user's template, exit 2
    assert f"prompt template {override}, line 2: " in first.stderr
    assert "peer_review: kept 9 answer(s) for the rerun" in first.stderr
    assert _reviews_asked(live) == 9  # the three reviews of grok's pitch never rendered, so were never sent
    held = [AnswerHeld.from_event(e) for e in stored_events(url, stream=f"week:{WEEK}:reviews:held")]
    assert len(held) == 9 and all(f"{WEEK}:grok:by:" not in h.key for h in held)
    assert not stored_events(url, stream=f"week:{WEEK}:reviews")  # nothing final
    assert not stored_events(url, type="OrderSubmitted")  # nothing traded after the failed prompt

    held_with = {h.basis for h in held}
    assert len(held_with) == 1 and None not in held_with  # what they were asked with is kept

    override.unlink()  # fixed
    before = len(live.requests)
    second = runner.invoke(app, ["-q", "run-weekly"])

    assert second.exit_code == 0, second.output
    # The nine were answers to the broken template's prompt: a week's reviews under two prompts would mix without a
    # word, so the fixed template asks all twelve (review, a reviewer's finding: before, 3, the nine reused).
    assert _reviews_asked(live, before) == 12
    reviews = stored_events(url, stream=f"week:{WEEK}:reviews", type="ReviewSubmitted")
    assert len(reviews) == 12


def test_a_held_answer_is_reused_only_by_a_run_asking_with_what_it_was_asked_with(storage: Storage) -> None:
    """The held answers of a stop are kept for the rerun that asks the same (a budget raised): not for one whose
    templates or models changed (a template edited after its PromptError), which asks them again."""
    streams = [f"week:{WEEK}:reflections"]
    asked: list[list[str]] = []
    budget = {"spent": True}

    async def member(key: str) -> str:
        if key == "b" and budget["spent"]:
            raise BudgetExceeded("b's call not sent: the run's budget is spent")
        return key

    def run(basis: str) -> object:
        return _settle(storage, streams[-1], _asker(member, asked), basis)

    with pytest.raises(BudgetExceeded):
        run("templates v1")
    with pytest.raises(BudgetExceeded):
        run("templates v2")  # edited since: a and c are asked again, and held again under v2
    budget["spent"] = False
    run("templates v2")  # the budget raised, nothing edited: only b is asked
    assert asked == [["a", "b", "c"], ["a", "b", "c"], ["b"]]

    # One held at schema 1 (a temporary failure's, before `basis` was kept) reads, and is reused as it was.
    old = f"week:{WEEK}:old"
    answer = PostmortemReflected(account_id="a", reflection=None)
    payload = {"stage": "reflect", "key": "a", "answer_type": answer.event_type(), "answer_version": 1}
    storage.events.append(
        [
            NewEvent(
                type="AnswerHeld",
                stream=held_stream(old),
                payload={**payload, "answer": answer.model_dump(mode="json")},
                week_id=date.fromisoformat(WEEK),
                schema_version=1,
            )
        ]
    )
    asked.clear()
    streams.append(old)
    run("templates v2")
    assert asked == [["b", "c"]]


def test_a_budget_stop_in_a_fan_out_holds_the_answers_given_and_the_rerun_asks_only_the_stopped(
    storage: Storage,
) -> None:
    stream = f"week:{WEEK}:reflections"
    asked: list[list[str]] = []

    async def member(key: str) -> str:
        if key == "b":
            raise BudgetExceeded("b's call not sent: the run's budget is spent")
        return key

    def run() -> object:
        return _settle(storage, stream, _asker(member, asked))

    with pytest.raises(BudgetExceeded) as stopped:
        run()
    assert "reflect: kept 2 answer(s) for the rerun" in " ".join(stopped.value.__notes__)
    held = [AnswerHeld.from_event(e) for e in storage.events.read(stream=held_stream(stream))]
    assert [h.key for h in held] == ["a", "c"]

    with pytest.raises(BudgetExceeded):
        run()  # still no budget: only b is asked again, and nothing is held twice
    assert asked == [["a", "b", "c"], ["b"]]
    assert len(storage.events.read(stream=held_stream(stream))) == 2


def _asker(member: Callable[[str], Awaitable[str]], asked: list[list[str]]) -> Asker:
    """A fan-out over `member` as the reflections' stage asks it, noting each set of keys asked in `asked`."""

    async def ask(keys: list[str]) -> tuple[dict[str, PostmortemReflected], dict[str, LlmtradeError]]:
        asked.append(keys)
        answered, failed = await gather_settled(keys, [member(k) for k in keys], hold_on_stop=True)
        return {k: PostmortemReflected(account_id=k, reflection=None) for k, _ in answered}, dict(failed)

    return ask


def _settle(storage: Storage, stream: str, ask: Asker, basis: str | None = None) -> object:
    """`settle` of three members a, b, c on `stream`, the reflections' way; `basis`: what they are asked with."""
    return asyncio.run(
        settle(
            storage.events,
            stage="reflect",
            stream=stream,
            keys=["a", "b", "c"],
            answer_type=PostmortemReflected,
            ask=ask,
            window=Window(None, datetime(2026, 1, 7, 13, tzinfo=UTC)),
            week_id=date.fromisoformat(WEEK),
            run_id="run-1",
            **({} if basis is None else {"basis": lambda: basis}),
        )
    )
