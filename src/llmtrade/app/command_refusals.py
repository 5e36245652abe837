"""A hand-made change of the books refused for its input, on record: `refusals_recorded` around `positions adopt`,
`release` and `settle` appends a CommandRefused (domain/runs.py) for the UsageError (exit 2) the command raises, then
raises it as it was. A settlement refused for a price 100 times the last close (a slipped decimal point) said so on
the terminal only, and the books kept no trace that anyone had tried.

Every refusal is recorded (these are typed by hand, not run by cron every few minutes). When the books cannot be
written (the database down, exit 75) the refusal is said and not recorded: the command's own error is what counts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress

from llmtrade.app.container import Container
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import CommandRefused
from llmtrade.domain.streams import COMMANDS_REFUSED
from llmtrade.errors import LlmtradeError, UsageError


@contextmanager
def refusals_recorded(app: Container, command: str, arguments: Mapping[str, object]) -> Iterator[None]:
    """Record a UsageError raised inside as a CommandRefused of `command` with `arguments` (None ones left out), then
    raise it unchanged."""
    try:
        yield
    except UsageError as exc:
        refused = CommandRefused(
            command=command,
            arguments={k: str(v) for k, v in arguments.items() if v is not None},
            error_type=type(exc).__name__,
            error=str(exc),
        )
        with suppress(LlmtradeError), app.storage() as storage:
            storage.events.append([NewEvent.of(refused, stream=COMMANDS_REFUSED)])
        raise
