"""The council chairman's words name the model behind each answer it cites, for the reader.

A new user's trial: `llmtrade council "Should I buy gold?"` printed the answers in models.yaml's order and a peer
ranking with x-ai/grok-4 first, then the chairman's "The council ranked Answer 2 first (mean rank 1.67)": the neutral
label the chairman was shown, shuffled for it, which the reader took for the second answer printed (gemini's). The
weekly run's chairman already says "Pitch 4 (gpt)"; the council's output and its --json now say "Answer 2
(x-ai/grok-4)", and the recorded CouncilConcluded keeps what the chairman said."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.events import NewEvent
from llmtrade.storage.bootstrap import Storage
from tests.support import stored_events

runner = CliRunner()
QUERY = "Should I buy gold?"
CITED = re.compile(r"ranked Answer \d+ \(([\w./-]+)\) first")


def test_a_neutral_answer_label_is_followed_by_its_model() -> None:
    from llmtrade.council.anonymize import unmasked

    names = {"Answer 1": "openai/gpt-5.1", "Answer 2": "x-ai/grok-4"}
    said = "Answer 2 is best; answer 1 close. Answer 21 is no label, nor Answer 3; Pitch 1 is another kind."
    assert unmasked(said, names, word="Answer") == (
        "Answer 2 (x-ai/grok-4) is best; answer 1 (openai/gpt-5.1) close. Answer 21 is no label, nor Answer 3; "
        "Pitch 1 is another kind."
    )


def test_the_council_chairman_names_the_model_of_the_answer_it_cites(cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["council", QUERY, "--offline", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    best = report["standings"][0]["model"]
    # The offline chairman adopts the best-ranked answer: the label it cites stands for the ranking's first model.
    assert CITED.findall(report["verdict"]) == [best], report["verdict"]
    for label_and_model in re.findall(r"Answer \d+(?: \([^)]*\))?", report["verdict"]):
        assert "(" in label_and_model, report["verdict"]  # every label it cites is named, not only the first

    shown = runner.invoke(app, ["council", QUERY, "--offline"])
    assert shown.exit_code == 0, shown.output
    assert CITED.findall(shown.stdout) == [best], shown.stdout

    [concluded, *_] = stored_events(cli_env["DATABASE_URL"], type="CouncilConcluded")
    said = concluded.payload["answer"]
    assert re.search(r"ranked Answer \d+ first", said) and not CITED.search(said)  # the record: as it was said


def test_the_recorded_conclusion_keeps_the_labels_the_chairman_saw(cli_env: dict[str, str]) -> None:
    """The record was incomplete: "ranked Answer 2 first" with nothing in the events to say whose Answer 2 was."""
    from llmtrade.domain.council import CouncilConcluded

    result = runner.invoke(app, ["council", QUERY, "--offline", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [stored] = stored_events(cli_env["DATABASE_URL"], type="CouncilConcluded")
    concluded = CouncilConcluded.from_event(stored)
    assert concluded.labels is not None
    assert sorted(concluded.labels.values()) == sorted(a["model"] for a in report["answers"])
    assert sorted(concluded.labels) == [f"Answer {n}" for n in range(1, len(report["answers"]) + 1)]
    # What the reader is shown is the record's own answer, each label it cites followed by its model.
    [label] = re.findall(r"ranked (Answer \d+) first", concluded.answer)
    assert f"{label} ({concluded.labels[label]})" in report["verdict"]


def test_a_conclusion_stored_before_its_labels_were_still_reads(storage: Storage) -> None:
    from llmtrade.domain.council import CouncilConcluded

    old = {"chairman": "openai/gpt-5.1", "answer": "Answer 2 is best."}
    storage.events.append([NewEvent(type="CouncilConcluded", stream="council:old", payload=old, schema_version=1)])
    [stored] = storage.events.read_stream("council:old")
    assert CouncilConcluded.from_event(stored) == CouncilConcluded(
        chairman="openai/gpt-5.1", answer="Answer 2 is best.", labels=None
    )
