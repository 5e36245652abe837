"""Checkpointer: the account's owner (its PM, or the chairman) updates its conviction mid-week.

It sees only the frozen thesis, the indicators against their frozen thresholds, and its P/L.
Offline, the rules cut conviction by one step for every watched indicator that broke its
threshold, exit on a loss beyond 3%, and otherwise stay.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Annotated, Any, Literal

from pydantic import Field, create_model

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import ModelRef
from llmtrade.domain.checkpoints import CheckpointAnswer, CheckpointReply
from llmtrade.domain.committee import NUMBER_ONLY, WatchedIndicator
from llmtrade.domain.market import PriceAge
from llmtrade.domain.records import Record
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.memo import IdentityMemo
from llmtrade.prompts.renderer import PromptRenderer, RenderedPrompt, num, pct
from llmtrade.risk.stale import stale

ROLE = "checkpoint"
STOP_LOSS = -0.03


async def check(
    gateway: LLMGateway,
    prompts: PromptRenderer,
    owner: ModelRef,
    *,
    instrument: str,
    direction: str,
    conviction: int,
    thesis: list[str],
    watched: list[WatchedIndicator],
    values: dict[str, float | None],
    pnl_pct: float,
    time: str,
    site: CallSite,
    memory: Sequence[str] = (),
    templates: Templates | None = None,
    close_only: bool = False,
    outside: bool = False,
    age: PriceAge | None = None,
) -> CheckpointAnswer:
    """`memory`: the "Similar past setups" lines for the position (none: no such section in the prompt);
    `templates`: the templates as `read_templates` read them for this checkpoint (None: read now);
    `close_only`: the instrument is in the week's universe only because an account holds it (Instrument.held_only),
    or in no universe at all though held, where the risk gate lets a trade close or cut it and nothing else: the
    prompt says so and the answer's schema offers no FLIP and no rise in conviction, so a strict model cannot answer
    what the gate would refuse. `outside` (with `close_only`): the held instrument is in no universe this week at all,
    which the prompt says instead of the held-only line. `age`: how old the instrument's price is when it is a last
    close not of the last session (a quiet symbol): the prompt says its day and age when the gate would size nothing
    off it (risk/stale.py), and is as it was otherwise."""
    variables: dict[str, Any] = {
        "instrument": instrument,
        "direction": direction,
        "conviction": conviction,
        "thesis": thesis,
        "watched": watched,
        "values": values,
        "pnl_pct": pnl_pct,
        "time": time,
        "memory": tuple(memory),
        "close_only": close_only,
        "outside": close_only and outside,
        "stale": age if stale(age) else None,
    }
    prompt = _packaged(prompts, variables, templates) or prompts.render(ROLE, **variables)
    schema = answer_schema(conviction, close_only=close_only)
    answer = await gateway.ask(
        owner,
        as_messages(prompt),
        site,
        output=schema,
        rules=lambda rng: reply_text(offline_check(conviction, watched, values, pnl_pct, rng)),
    )
    return _ANSWERS.of(answer.value, _answer_of)


# The reply -> its CheckpointAnswer: the offline rules' replies are shared, validated once per text (llm/offline_path.py
# `parsed`), and each was turned into a new answer at every checkpoint. Both are frozen records of plain values.
_ANSWERS: IdentityMemo[CheckpointReply, CheckpointAnswer] = IdentityMemo(256)


def _answer_of(reply: CheckpointReply) -> CheckpointAnswer:
    return reply.to_answer()


# The sha256 of the packaged checkpoint.user.j2 and the partials it includes, which `_user_text` writes without
# Jinja. A position is re-judged some 19 times a week per account, and Jinja's runtime was most of each render
# (~0.1 ms, a tenth of the ask); any other text (an override, an edit) goes through the renderer, so the prompt
# is the template's.
_PACKAGED = {
    "checkpoint.user.j2": "31fd0fb5199c93b1359fcd23da9eae3cc2b88ca78a841d83e8a8c75f5bbf8efd",
    "_memory.j2": "d94abf5f07948b86fd72c650229f65d3a7b06048accf11fc885b0935af8b48b2",
    "_close_only.j2": "91b95831c34e2c1ff56d7d41e623c327af285669f6717f9210a988a8c465d6fb",
    "_close_only_outside.j2": "fd7f6494681b9523096d522493566b35bdef592faf5a4211c3df8396e736649b",
}
_MEMORY_HEADER = (
    "Similar past setups from the committee's memory (most similar first, each cited by its memory id; "
    "only outcomes known before this run):"
)


# The packaged _close_only.j2's text (its digest is checked with the others: an override goes through the renderer).
_CLOSE_ONLY = (
    "close-only: in the universe only because an account holds it; it may be closed or cut, never opened, added to or "
    "flipped"
)
# The packaged _close_only_outside.j2's text: a held instrument in no universe at all.
_OUTSIDE = (
    "close-only: in no universe this week, judged only because an account holds it; it may be closed or cut, never "
    "opened, added to or flipped"
)


# The packaged checkpoint.system.j2 (plain text: the same prompt whatever the variables).
_PACKAGED_SYSTEM = ("checkpoint.system.j2", "ecb03e6aad2310ab8411dfdca10077f49f95e6048056df31b03427088e135daf")


@dataclass(frozen=True)
class Templates:
    """The checkpoint prompt's templates as read for one checkpoint: `packaged` when checkpoint.user.j2 and
    _memory.j2 are the ones `_user_text` follows; `system` the system prompt's text when it is the packaged
    one, else None (rendered with each ask's variables). Read once for the checkpoint's every owner, where each
    ask looked every template up again (three file checks an ask, ~5% of a backtest's checkpoint)."""

    packaged: bool
    system: str | None


def read_templates(prompts: PromptRenderer) -> Templates:
    """The templates as `prompts` has them now. PromptError when one is missing or does not render."""
    packaged = all(prompts.source_digest(name) == digest for name, digest in _PACKAGED.items())
    name, digest = _PACKAGED_SYSTEM
    system = prompts.render_template(name) if packaged and prompts.source_digest(name) == digest else None
    return Templates(packaged, system)


def _packaged(
    prompts: PromptRenderer, variables: dict[str, Any], templates: Templates | None = None
) -> RenderedPrompt | None:
    """The prompt `prompts.render(ROLE, **variables)` gives, when the renderer's templates are the packaged
    ones `_user_text` follows; else None (the renderer renders it). `templates`: as read for this checkpoint
    (None: read now)."""
    templates = templates if templates is not None else read_templates(prompts)
    if not templates.packaged:
        return None
    system = templates.system or prompts.render_template(f"{ROLE}.system.j2", **variables)
    return RenderedPrompt(system=system, user=_user_text(variables))


def _user_text(v: Mapping[str, Any]) -> str:
    """checkpoint.user.j2 (with _memory.j2) as the renderer renders it from `check`'s variables `v`: trimmed
    blocks, each `{{ }}` as `str`."""
    watched: list[WatchedIndicator] = v["watched"]
    values: Mapping[str, float | None] = v["values"]
    lines = [
        f"Checkpoint {v['time']} New York.",
        f"Position: {v['direction']} {v['instrument']} at conviction {v['conviction']}; "
        f"P/L on the position {pct(v['pnl_pct'])}.",
        *([] if (old := v.get("stale")) is None else [_stale_line(v["instrument"], old)]),
        "",
        "Your thesis:",
        *(f"- {bullet}" for bullet in v["thesis"]),
        "",
        "Watched indicators (frozen thresholds) and their values now:",
        *(f"{head}{num(values.get(indicator))}{tail}" for head, indicator, tail in map(_watched_line, watched)),
        "",
    ]
    if v["memory"]:
        lines += [_MEMORY_HEADER, *(f"- {line}" for line in v["memory"])]
    if v["close_only"]:
        lines += [f"{v['instrument']}: {_OUTSIDE if v['outside'] else _CLOSE_ONLY}.", "Decide: STAY, REDUCE or EXIT."]
    else:
        lines.append("Decide: STAY, REDUCE, EXIT or FLIP.")
    return "\n".join(lines).strip()


def _stale_line(instrument: str, age: PriceAge) -> str:
    """The packaged checkpoint.user.j2's line of a price that is a close `age` old."""
    return (
        f"{instrument}'s price now is its last close, of {age.day}, {age.sessions} sessions before the last complete "
        f"session ({age.session}): no trade of it on the feed since (a thin name, a halt); it is not a current price, "
        "and no position is opened in or added to at it."
    )


def _watched_line(watched: WatchedIndicator) -> tuple[str, str, str]:
    """A watched indicator's line around its value now: (text before, the indicator, text after)."""
    return _WATCHED.of(watched, _watched_parts)


def _watched_parts(w: WatchedIndicator) -> tuple[str, str, str]:
    return f"- {w.name}: {w.threshold.describe()} — now ", w.threshold.indicator, f" ({w.why})"


# The frozen trade's watched indicators are the same objects at all of a week's checkpoints (workflows/frozen_trade.py):
# their lines' fixed parts are written once per object, not at every checkpoint. A frozen record, never changed.
_WATCHED: IdentityMemo[WatchedIndicator, tuple[str, str, str]] = IdentityMemo(256)


def reply_text(answer: CheckpointAnswer) -> str:
    """`answer` as the JSON text of its reply, as `answer_schema(before).model_validate(...).model_dump_json()` writes
    it: members in the fields' order, no spaces, each string as json writes it without ensure_ascii (pydantic's
    escapes: quote, backslash and control characters; UTF-8 kept). The gateway validates the text into the position's
    schema, as it does a model's answer: built there once, where the rules' reply was validated, dumped, and
    validated again from the dump."""
    move = f'{{"action":{_string(answer.action)},"conviction_after":{int.__repr__(answer.conviction_after)}}}'
    return f'{{"move":{move},"reason_delta":{_string(answer.reason_delta)}}}'


# A str as json.dumps(ensure_ascii=False) writes it.
_string = encode_basestring


@cache
def answer_schema(before: int, *, close_only: bool = False) -> type[CheckpointReply]:
    """The reply for a position held at conviction `before` (never 0 here).

    The action and the new conviction agree by construction: the model picks one of three moves,
    each an object whose enums allow only the convictions that move can take (an `anyOf`, which
    strict mode supports; `oneOf` and `if`/`then` it does not). `close_only` (a held-only symbol): two
    moves, the kept side no higher than `before` and no FLIP, which the risk gate would cut back.
    """
    side = 1 if before > 0 else -1
    kept: Any = Literal[side] if close_only and abs(before) == 1 else Literal[side, 2 * side]  # type: ignore[valid-type]
    keep: Any = Annotated[kept, NUMBER_ONLY]
    flip: Any = Annotated[Literal[-side, -2 * side], NUMBER_ONLY]  # type: ignore[valid-type]
    hold = create_model(
        "Hold",
        __base__=Record,
        action=(Literal["STAY", "REDUCE"], Field(description="STAY keeps the position, REDUCE halves it")),
        conviction_after=(keep, Field(description=f"the same side as {before:+d}")),
    )
    exit_ = create_model(
        "Exit",
        __base__=Record,
        action=(Literal["EXIT"], ...),
        conviction_after=(Annotated[Literal[0], NUMBER_ONLY], ...),
    )
    reverse = create_model(
        "Flip",
        __base__=Record,
        action=(Literal["FLIP"], ...),
        conviction_after=(flip, Field(description=f"the side opposite {before:+d}")),
    )
    move: Any = hold | exit_ if close_only else hold | exit_ | reverse
    return create_model("CheckpointDecision", __base__=CheckpointReply, move=(move, ...))


def offline_check(
    conviction: int,
    watched: list[WatchedIndicator],
    values: dict[str, float | None],
    pnl_pct: float,
    rng: random.Random,
) -> CheckpointAnswer:
    if pnl_pct <= STOP_LOSS:
        return CheckpointAnswer(
            action="EXIT", conviction_after=0, reason_delta=f"[offline rules] loss {pnl_pct:.1%} beyond the 3% stop"
        )
    broken = [
        w.threshold.describe()
        for w in watched
        if values.get(w.threshold.indicator) is not None and not w.threshold.holds(values[w.threshold.indicator])
    ]
    if broken and abs(conviction) > 1:
        step = 1 if conviction > 0 else -1
        return CheckpointAnswer(
            action="REDUCE",
            conviction_after=conviction - step,
            reason_delta="[offline rules] no longer true: " + "; ".join(broken),
        )
    if broken:
        return CheckpointAnswer(
            action="EXIT", conviction_after=0, reason_delta="[offline rules] thesis broken: " + "; ".join(broken)
        )
    return CheckpointAnswer(
        action="STAY", conviction_after=conviction, reason_delta="[offline rules] every watched indicator holds"
    )
