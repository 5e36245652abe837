"""`llmtrade schema COMMAND`: the JSON Schema of a command's `--json` output."""

from __future__ import annotations

from typing import Annotated

import typer

from llmtrade.commands.context import Reads
from llmtrade.errors import UsageError


def schema(
    command: Annotated[list[str], typer.Argument(help="The command, e.g. run-weekly, status, market snapshot.")],
) -> None:
    """Print the JSON Schema of COMMAND's `--json` output (a public contract)."""
    import json  # lazy: see package docstring

    from pydantic import TypeAdapter

    from llmtrade.app import (
        ask_results,
        backtest_books_results,
        discovery_results,
        evaluation_results,
        housekeeping,
        inquiry_results,
        memory_results,
        position_results,
        results,
    )
    from llmtrade.observe.timeline import RunTrace
    from llmtrade.sweep import results as sweep_results

    documents = {
        **results.DOCUMENTS,
        **position_results.DOCUMENTS,
        **inquiry_results.DOCUMENTS,
        **housekeeping.DOCUMENTS,
        **evaluation_results.DOCUMENTS,
        **discovery_results.DOCUMENTS,
        **memory_results.DOCUMENTS,
        **ask_results.DOCUMENTS,
        **backtest_books_results.DOCUMENTS,
        **sweep_results.DOCUMENTS,
        "trace": RunTrace,
    }
    name = " ".join(command)
    document = documents.get(name)
    if document is None:
        from difflib import get_close_matches  # lazy: only a name that names none needs it

        # The near one first (`schema statsu`: status), as the thirty listed after it hid it.
        near = get_close_matches(name, list(documents), n=1, cutoff=0.7)
        hint = f"did you mean {near[0]}? " if near else ""
        raise UsageError(f"no JSON schema for {name!r}: {hint}commands with one are {', '.join(sorted(documents))}")
    published = TypeAdapter(document).json_schema(mode="serialization")
    published = {"$schema": "https://json-schema.org/draft/2020-12/schema", **published}
    published.setdefault("title", name)
    typer.echo(json.dumps(published, indent=2))


def register(app: typer.Typer) -> None:
    # A document published under a command and its option (`backtest delete --sweep`) is named as the command is
    # typed: the option is a word of the name here, not one of schema's own.
    app.command(cls=Reads, context_settings={"ignore_unknown_options": True})(schema)
