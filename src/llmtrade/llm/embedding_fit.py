"""What an /embeddings refusal says about the request's size, and the shorter text to ask with instead.

A model takes inputs of a limited length (OpenAI's 8,192 tokens; 512 for the bge and MiniLM models vLLM, TEI and
Ollama serve) and the server refuses a longer one, in its own words: OpenAI's and vLLM's 400 "This model's maximum
context length is 512 tokens. However, you requested 1451 tokens ..." (vllm-project/vllm issue 19798), TEI's 413
"Input validation error: `inputs` must have less than 512 tokens. Given: 534" (text-embeddings-inference issue 356),
Gemini's "The input token count (N) exceeds the maximum number of tokens allowed (M)", Ollama's 400 "the input length
exceeds the context length" (no numbers). The memory's texts (a research note on an instrument: thesis, risks and
invalidation, up to some 18,000 characters) can be longer, and the same text is refused on every rerun: such an input
is embedded cut to fit instead (llm/embeddings.py). The tokenizer is the server's, unknown here: the text is cut by
characters, to the share the numbers named (with a margin), else to half, until the server takes it.
"""

from __future__ import annotations

import re

# (pattern, group of the model's limit, group of the input's tokens); the groups are None where the words name none.
_INPUT_TOO_LONG: tuple[tuple[re.Pattern[str], int | None, int | None], ...] = (
    (re.compile(r"maximum context length is (\d+) tokens\W+however,? you requested (\d+) tokens", re.I), 1, 2),
    (re.compile(r"must have less than (\d+) tokens\. Given: (\d+)", re.I), 1, 2),
    (re.compile(r"input token count \(?(\d+)\)? exceeds the maximum number of tokens allowed \(?(\d+)\)?", re.I), 2, 1),
    (re.compile(r"maximum context length is (\d+)|input length exceeds the context length", re.I), None, None),
)
_MARGIN = 0.9  # the tokens of a text's start are not proportional to its characters: cut a little more
_SHORTEST = 16  # characters: a text cut to fewer than this is not worth a vector, and the refusal stands


class InputTooLong(Exception):
    """A 4xx refusing one input of the request for its length. `refused`: what the refusal means otherwise
    (llm/http_errors.refusal), raised when no shorter text helps; `most`, `asked`: the model's input length and the
    input's tokens, where the words name them."""

    def __init__(self, refused: Exception, *, most: int | None, asked: int | None) -> None:
        super().__init__(str(refused))
        self.refused = refused
        self.most = most
        self.asked = asked


def input_too_long(status: int, reason: str, body: str, refused: Exception) -> InputTooLong | None:
    """The refusal (HTTP `status`, its `reason` shown and its whole `body`) as InputTooLong when it says an input is
    past the model's input length, else None."""
    if status not in (400, 413, 422):
        return None
    said = f"{reason}\n{body[:10000]}"
    for pattern, most, asked in _INPUT_TOO_LONG:
        found = pattern.search(said)
        if found:
            return InputTooLong(
                refused,
                most=int(found.group(most)) if most else None,
                asked=int(found.group(asked)) if asked else None,
            )
    return None


def shortened(text: str, refusal: InputTooLong) -> str | None:
    """`text`'s start, short enough by what `refusal` named (else half of it); None when that leaves too little."""
    share = 0.5
    if refusal.most and refusal.asked and refusal.asked > refusal.most:
        share = refusal.most / refusal.asked * _MARGIN
    keep = int(len(text) * share)
    return text[:keep] if keep >= _SHORTEST else None
