"""A failure's line is its message and the notes callers added on the way out (exits.py `with_notes`): each one a
sentence of its own, so a note that ends without a full stop does not run into the next one."""

from __future__ import annotations

from llmtrade.errors import TemporaryError
from llmtrade.exits import classify


def _raised_with_notes(*notes: str) -> TemporaryError:
    inner = TemporaryError("provider answered 503")
    inner.add_note(notes[0])
    try:
        try:
            raise inner
        except TemporaryError as exc:
            raise TemporaryError("the weekly run stopped") from exc
    except TemporaryError as outer:
        for note in notes[1:]:
            outer.add_note(note)
        return outer


def test_a_note_ending_without_a_full_stop_is_ended_before_the_next_note() -> None:
    failure = classify(_raised_with_notes("a rerun asks it again (the prompt changed first)", "backtest 'x' stopped"))
    assert failure is not None
    assert "(the prompt changed first). backtest 'x' stopped" in failure.message


def test_notes_already_ended_are_not_given_a_second_stop() -> None:
    failure = classify(_raised_with_notes("kept for the rerun.", "backtest 'x' stopped in week 2016-01-06."))
    assert failure is not None
    assert "kept for the rerun. backtest 'x' stopped in week 2016-01-06." in failure.message
    assert ".." not in failure.message
