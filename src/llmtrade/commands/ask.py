"""`llmtrade ask "QUESTION"`: questions answered from the event store (issue 16); see app/ask.py.

(`commands/asking.py` is another family: council, research and market, which ask the committee's models
about markets; this one asks about llmtrade's own record.)"""

from __future__ import annotations

from typing import Annotated

import typer

from llmtrade.commands.context import container, echo_json
from llmtrade.commands.options import Json, Offline
from llmtrade.console import Output
from llmtrade.domain.wording import market_time


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help='e.g. "why did acct_3 exit on Thursday?"')],
    offline: Offline = False,
    as_json: Json = False,
) -> None:
    """Answer a question from the recorded events through read-only queries, citing event ids; offline, list them."""
    from llmtrade.app.ask import ask as answer  # lazy: see package docstring

    result = answer(container(ctx, offline=offline), question)
    if as_json:
        echo_json(result)
        return
    out = Output()
    if result.answer is not None:
        out.line(result.answer)
        out.line("cited: " + (", ".join(f"#{n}" for n in result.cited) if result.cited else "no event"))
        return
    for killed in result.killed:  # said first: a killed run was cut off, or lost among the list
        out.line(killed)
    shown = ", ".join(f"{k}={v}" for k, v in result.filters.items() if k != "limit") or "no filter: the latest"
    out.line(f"offline: the events matching {shown} (newest first)")
    if not result.events:
        out.line("no matching event")
    for row in result.events:
        where = " ".join(x for x in (row["account_id"], row["run_id"]) if x)
        out.line(f"#{row['id']} {market_time(row['occurred_at'])} {row['type']} {row['stream']} {where}".rstrip())


def register(app: typer.Typer) -> None:
    app.command()(ask)
