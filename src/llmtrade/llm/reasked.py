"""A 400 that says the request fits the model in another form: the call asks again at once so (llm/http_client.py),
not billed (nothing was generated). A parameter the model takes in another form (http_errors.refused_parameter), a
max_tokens above the most it writes (error_pages.most_output_tokens), or past the room its prompt leaves in the
context window (error_pages.room_left)."""

from __future__ import annotations

from llmtrade.llm.error_pages import most_output_tokens, room_left


class AskedOtherwise(Exception):
    """The request goes again at once in the form a 400 named. `note`: what the call's event should say of it (its
    max_tokens lowered); `most`: the model's most output tokens, remembered for the command; `max_tokens`: this call's
    max_tokens from now on (the room its prompt leaves), not remembered: another call's prompt leaves another."""

    def __init__(self, param: str, note: str | None = None, *, most: int | None = None, max_tokens: int | None = None):
        super().__init__(param)
        self.note = note
        self.most = most
        self.max_tokens = max_tokens


def max_tokens_refused(
    status: int, reason: str, sent: int | None, model: str, *, may_fit: bool
) -> AskedOtherwise | None:
    """The max_tokens a 400 (`reason`) says `sent` should have been, else None. A truncation's repair asks twice the
    max_tokens: more than a model capped lower writes, or than the window has room for beside a long prompt (asked so
    once per call: `may_fit`)."""
    if sent is None:
        return None
    most = most_output_tokens(status, reason)
    if most is not None and most < sent:
        return AskedOtherwise(
            "max_tokens", f"max_tokens {sent} above the {most} {model} takes: asked at {most}", most=most
        )
    room = room_left(status, reason, sent) if may_fit else None
    if room is not None:
        note = f"max_tokens {sent} past the context window beside the prompt: asked at {room}"
        return AskedOtherwise("max_tokens", note, max_tokens=room)
    return None
