"""The LLM picker: ranks discovery candidates from their indicators and the market condition.

The schema the model is sent lists the candidates' tickers as an enum; a provider that does not
enforce it may still answer with a name or a lower-case ticker, so every pick is resolved to a
candidate (exact ticker, then the closest ticker or name by difflib's ratio) or dropped, and a
symbol is never invented. Offline, the rules pick by risk-adjusted momentum among liquid names.
"""

from __future__ import annotations

import difflib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import ModelRef
from llmtrade.discovery.features import MOMENTUM_SESSIONS
from llmtrade.domain.discovery import CandidateFeatures, PickerPick, PickerReply, picker_reply_schema
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer

ROLE = "picker"
CUTOFF = 0.8  # difflib ratio below which a name resolves to nothing


@dataclass(frozen=True)
class Picks:
    """The resolved picks (ticker, reason), best first; what was dropped; the model; what every call made for
    them cost in USD (repairs included), None when no call was priced; `rules`: the offline rules answered in the
    model's place (offline, no model asked)."""

    picks: list[tuple[str, str]]
    dropped: list[str]
    market_view: str
    model: str
    cost_usd: float | None
    rules: bool = False


async def pick(
    gateway: LLMGateway,
    prompts: PromptRenderer,
    ref: ModelRef,
    candidates: Sequence[CandidateFeatures],
    *,
    condition: str,
    asof: datetime,
    session: date,
    most: int,
    site: CallSite,
    similar_conditions: Sequence[str] = (),
) -> Picks:
    """Ask the model for at most `most` ranked picks among `candidates`; resolve each to a candidate."""
    schema = picker_reply_schema([c.symbol for c in candidates], most)
    prompt = prompts.render(
        ROLE,
        candidates=list(candidates),
        candidate_table=candidate_table(candidates),
        condition=condition,
        similar_conditions=list(similar_conditions),
        asof=asof,
        session=session,
        most=most,
        momentum_sessions=MOMENTUM_SESSIONS,
    )
    # Every call the answer took counts (a truncated or invalid first answer and its repair, a reply the
    # provider billed but could not be used): the gateway's totals see each one, the answer's usage not all.
    totals = gateway.totals
    cost_before, unpriced_before, calls_before, rules_before = (
        totals.cost_usd,
        totals.unpriced_calls,
        totals.calls,
        totals.rules,
    )
    answer = await gateway.ask(
        ref, as_messages(prompt), site, output=schema, rules=lambda rng: offline_picks(schema, candidates, most, rng)
    )
    priced = (totals.calls - calls_before) - (totals.unpriced_calls - unpriced_before)
    cost = totals.cost_usd - cost_before if priced else None
    picks, dropped = resolve(answer.value.picks, candidates)
    rules = totals.calls - calls_before == totals.rules - rules_before
    return Picks(picks, dropped, answer.value.market_view, answer.model, cost, rules)


def candidate_table(candidates: Sequence[CandidateFeatures]) -> str:
    """The prompt's candidate lines, each ending in a newline: ticker | asset class | sector | price | average volume
    | spread | volatility | momentum. Made here rather than by a loop in the template: a backtest renders some hundred
    lines a week, and Jinja's per-value filters cost ten times these formats (the same text)."""
    return "".join(
        [
            f"- {c.symbol} | {c.asset_class} | {c.sector} | {c.price:.2f} | {c.avg_volume:,.0f} | "
            f"{c.spread * 100:.2f}% | {c.volatility * 100:.1f}% | {c.momentum * 100:+.1f}%\n"
            for c in candidates
        ]
    )


def resolve(
    picks: Sequence[PickerPick], candidates: Sequence[CandidateFeatures]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Each pick as a candidate's ticker, in order, each ticker once; the picks that matched none."""
    tickers = {c.symbol: c.symbol for c in candidates}
    names = {c.name.lower(): c.symbol for c in candidates if c.name}
    out: dict[str, str] = {}
    dropped: list[str] = []
    for p in picks:
        text = p.symbol.strip()
        symbol = tickers.get(text.upper()) or _closest(text.upper(), tickers) or _closest(text.lower(), names)
        if symbol is None:
            dropped.append(p.symbol)
        elif symbol not in out:
            out[symbol] = p.reason
    return list(out.items()), dropped


def _closest(text: str, table: dict[str, str]) -> str | None:
    found = difflib.get_close_matches(text, list(table), n=1, cutoff=CUTOFF)
    return table[found[0]] if found else None


def offline_picks(
    schema: type[PickerReply], candidates: Sequence[CandidateFeatures], most: int, rng: random.Random
) -> PickerReply:
    """Rules: among names trading 1M shares a session or more, the best momentum per unit of volatility."""

    def strength(c: CandidateFeatures) -> float:
        return c.momentum / max(c.volatility * math.sqrt(MOMENTUM_SESSIONS / 252), 1e-6)

    liquid = [c for c in candidates if c.avg_volume >= 1_000_000] or list(candidates)
    best = sorted(liquid, key=lambda c: (-strength(c), c.symbol))[:most]
    pick_model = schema.model_fields["picks"].annotation.__args__[0]  # type: ignore[union-attr]
    return schema(
        market_view="Offline rules: risk-adjusted momentum among liquid candidates.",
        picks=[
            pick_model(symbol=c.symbol, reason=f"momentum {c.momentum:+.1%} at {c.volatility:.0%} volatility")
            for c in best
        ],
    )
