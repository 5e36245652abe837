"""Replies the way real OpenAI-compatible providers misbehave, for the respx fake and the loopback server.

Each builder returns a Step: a function of the request body giving a Fault (status, JSON or raw
body, headers), so a fault can carry a schema-valid answer for the request it answers. The shapes
follow the public formats and bug reports:
- OpenAI: `content` null with `refusal`; `finish_reason` length / content_filter / tool_calls;
- OpenRouter: errors inside HTTP 200 (`{"error": ...}` with no choices, or `finish_reason: "error"`
  with `choices[].error`), 4xx bodies whose real reason is in `error.metadata.raw` and
  `metadata.provider_name`, `reasoning` on the message, `native_finish_reason`, 429 for daily
  free-model quotas with a Retry-After of hours;
- vLLM: `reasoning_content`; DeepSeek-R1 / Qwen3: `<think>...</think>` before the answer;
- Google's OpenAI-compatible endpoint: Gemini's own FinishReason as `finish_reason` (SAFETY, RECITATION,
  MAX_TOKENS, OTHER) with part of an answer; OpenRouter: `finish_reason` "stop" beside a native reason that
  says otherwise (Anthropic's "refusal", Gemini's "RECITATION");
- OpenAI's reasoning models (gpt-5, o-series) asked directly: 400 "Unsupported parameter: 'max_tokens' is not
  supported with this model. Use 'max_completion_tokens' instead." (param max_tokens, code unsupported_parameter)
  and "Unsupported value: 'temperature' does not support 0.7 with this model. Only the default (1) value is
  supported." (param temperature, code unsupported_value);
- Google's 429 RESOURCE_EXHAUSTED: "You exceeded your current quota, please check your plan and billing details"
  for a per-minute and a per-day quota alike, told apart only by the QuotaFailure's quotaId, with the wait in a
  RetryInfo `retryDelay` and no Retry-After header; its OpenAI-compatible endpoint wraps the error in a list, and
  OpenRouter relays the whole Google body as a JSON string in `metadata.raw`;
- providers that refuse `response_format: json_schema` (or json_object) with a 400, or only a bound keyword of its
  schema: Anthropic's strict mode ("output_format.schema: For 'string' type, property 'maxLength' is not supported",
  relayed by OpenRouter in metadata.raw), OpenAI's on a fine-tuned model ("'minLength' is not permitted").
Standard library only, like openai_server.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.openai_server import completion_for


@dataclass(frozen=True)
class Fault:
    status: int
    body: dict[str, Any] | str  # a str is sent as is: a body that is not JSON
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        return (self.body if isinstance(self.body, str) else json.dumps(self.body)).encode()


Step = Callable[[dict[str, Any]], Fault]


def good_content(request: dict[str, Any]) -> str:
    """What a well-behaved model would answer this request with (schema-valid JSON when one is asked)."""
    return completion_for(request)["choices"][0]["message"]["content"]


def _reply(
    request: dict[str, Any],
    *,
    content: Any,
    finish: str | None = "stop",
    **message_extra: Any,
) -> dict[str, Any]:
    body = completion_for(request)
    choice = body["choices"][0]
    choice["message"] = {"role": "assistant", "content": content, **message_extra}
    choice["finish_reason"] = finish
    return body


def answer(content: str | None = None) -> Step:
    """A normal answer: `content`, or the good answer for the request."""
    return lambda req: Fault(200, _reply(req, content=good_content(req) if content is None else content))


def nothing_generated() -> Step:
    """OpenRouter's "no content generated" (openrouter.ai/docs/api-reference/errors): a model warming up or its provider
    scaling answers a 200 with empty content and no completion token, the prompt billed."""

    def step(req: dict[str, Any]) -> Fault:
        body = _reply(req, content="")
        body["usage"] = {**body["usage"], "completion_tokens": 0, "total_tokens": body["usage"]["prompt_tokens"]}
        return Fault(200, body)

    return step


def reasoning_only(text: str | None = None, *, key: str = "reasoning") -> Step:
    """content null, the text only in `reasoning` (OpenRouter) or `reasoning_content` (vLLM, DeepSeek)."""
    return lambda req: Fault(200, _reply(req, content=None, **{key: good_content(req) if text is None else text}))


def content_parts(*texts: str) -> Step:
    """content as a list of parts; with no texts, the good answer split in two parts."""

    def step(req: dict[str, Any]) -> Fault:
        chunks = list(texts)
        if not chunks:
            good = good_content(req)
            chunks = [good[: len(good) // 2], good[len(good) // 2 :]]
        parts = [{"type": "text", "text": t} for t in chunks]
        return Fault(200, _reply(req, content=parts))

    return step


def think_then(thinking: str = "Let me weigh this carefully first.", text: str | None = None) -> Step:
    """A <think> block before the answer, as DeepSeek-R1 / Qwen3 emit without a reasoning parser."""
    return lambda req: Fault(
        200, _reply(req, content=f"<think>\n{thinking}\n</think>\n\n{good_content(req) if text is None else text}")
    )


def truncated(fraction: float = 0.5) -> Step:
    """The answer cut at max_tokens: the first part of the good answer, finish_reason length."""

    def step(req: dict[str, Any]) -> Fault:
        good = good_content(req)
        return Fault(200, _reply(req, content=good[: max(1, int(len(good) * fraction))], finish="length"))

    return step


def error_mid_answer(
    partial: str = "The outlook is",
    provider: str = "Chutes",
    code: int | str | None = 502,
    message: str = "Upstream error from provider",
    raw: str = "connection reset by peer",
) -> Step:
    """OpenRouter: HTTP 200, finish_reason "error", partial text and the upstream error on the choice, whose `code`
    mirrors the upstream's status (a number, or a word as OpenAI's "context_length_exceeded"; None: no code)."""

    def step(req: dict[str, Any]) -> Fault:
        body = _reply(req, content=partial, finish="error")
        body["choices"][0]["native_finish_reason"] = "error"
        error: dict[str, Any] = {"message": message, "metadata": {"provider_name": provider, "raw": raw}}
        if code is not None:
            error["code"] = code
        body["choices"][0]["error"] = error
        return Fault(200, body)

    return step


def stopped(finish: str | None, native: str | None = None, fraction: float = 0.4) -> Step:
    """Part of the good answer ended by `finish` (and OpenRouter's `native_finish_reason`, when given): a provider's
    own stop reason passed through, e.g. Gemini's "SAFETY" as the finish_reason, or "stop" beside a native
    "refusal"."""

    def step(req: dict[str, Any]) -> Fault:
        good = good_content(req)
        body = _reply(req, content=good[: max(1, int(len(good) * fraction))], finish=finish)
        if native is not None:
            body["choices"][0]["native_finish_reason"] = native
        return Fault(200, body)

    return step


def content_filter(partial: str = "") -> Step:
    return lambda req: Fault(200, _reply(req, content=partial or None, finish="content_filter"))


def refusal(text: str = "I can't help with that.", *, with_content: bool = False) -> Step:
    """OpenAI structured outputs: content null and the model's refusal in `message.refusal`; `with_content`: the
    good answer's content beside it, as OpenAI may send both."""
    return lambda req: Fault(200, _reply(req, content=good_content(req) if with_content else None, refusal=text))


def tool_call_only() -> Step:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]
    return lambda req: Fault(200, _reply(req, content=None, finish="tool_calls", tool_calls=calls))


def error_body(
    status: int = 200,
    code: int | None = 502,
    message: str = "Provider returned error",
    provider: str = "",
    raw: str = "",
) -> Step:
    """An OpenRouter error body; with status 200 it is the 'error inside a 200' case (no choices); `code` None: an
    error object with no code at all (an upstream's failure relayed by a proxy that names no status)."""
    error: dict[str, Any] = {"message": message} if code is None else {"code": code, "message": message}
    if provider or raw:
        error["metadata"] = {"provider_name": provider, "raw": raw}
    return lambda req: Fault(status, {"error": error})


def rate_limited(retry_after: str | None = "86400", message: str = "Rate limit exceeded: free-models-per-day") -> Step:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return lambda req: Fault(429, {"error": {"code": 429, "message": message}}, headers)


def google_quota(
    quota_id: str = "GenerateContentInputTokensPerModelPerMinute-FreeTier",
    retry_delay: str | None = "26s",
    message: str = "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    *,
    via: str = "openrouter",
) -> Step:
    """Google's 429 (google.rpc.Status with QuotaFailure and RetryInfo details), as OpenRouter relays it (`via`
    "openrouter": the Google body as a JSON string in metadata.raw) or as Google's OpenAI-compatible endpoint answers
    it ("google": the error wrapped in a list)."""
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": quota_id,
                }
            ],
        }
    ]
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    google = {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": details}}
    if via == "google":
        return lambda req: Fault(429, json.dumps([google], indent=2))
    metadata = {"raw": json.dumps(google, indent=2), "provider_name": "Google AI Studio"}
    return lambda req: Fault(429, {"error": {"message": "Provider returned error", "code": 429, "metadata": metadata}})


def malformed(text: str = "<html><body>502 Bad Gateway</body></html>") -> Step:
    """HTTP 200 whose body is not JSON (a proxy's error page)."""
    return lambda req: Fault(200, text)


BOUNDS = ("minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum")


def _bounds_in(node: Any) -> list[str]:
    """Every bound keyword in a schema (a minItems of 0 or 1 is taken by every strict mode)."""
    if isinstance(node, list):
        return [k for value in node for k in _bounds_in(value)]
    if not isinstance(node, dict):
        return []
    own = [k for k, v in node.items() if k in BOUNDS and not (k == "minItems" and v in (0, 1))]
    return own + [k for key, value in node.items() if key not in BOUNDS for k in _bounds_in(value)]


def refuses_bounds(style: str = "anthropic", content: str | None = None) -> Step:
    """A strict mode that refuses a json_schema holding a bound keyword, in `style`'s words: "anthropic" (relayed by
    OpenRouter, Anthropic's raw error in metadata.raw) or "openai" (its own 400); answers the rest with `content`, or
    the good answer."""

    def step(req: dict[str, Any]) -> Fault:
        fmt = req.get("response_format") or {}
        found = _bounds_in(fmt.get("json_schema", {}).get("schema")) if fmt.get("type") == "json_schema" else []
        if not found:
            return answer(content)(req)
        if style == "openai":
            message = f"Invalid schema for response_format 'answer': In context=(), '{found[0]}' is not permitted."
            error = {"message": message, "type": "invalid_request_error", "param": "response_format", "code": None}
            return Fault(400, {"error": error})
        raw = {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": f"output_format.schema: For 'string' type, property '{found[0]}' is not supported",
            },
        }
        return error_body(400, 400, "Provider returned error", "Anthropic", json.dumps(raw))(req)

    return step


def reasoning_model_params(content: str | None = None) -> Step:
    """OpenAI's reasoning models: refuse `max_tokens` and any `temperature` but 1, in OpenAI's words; answer the
    rest."""

    def step(req: dict[str, Any]) -> Fault:
        if "max_tokens" in req:
            message = (
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead."
            )
            error = {
                "message": message,
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "unsupported_parameter",
            }
            return Fault(400, {"error": error})
        if req.get("temperature", 1) != 1:
            message = (
                f"Unsupported value: 'temperature' does not support {req['temperature']} with this model. "
                "Only the default (1) value is supported."
            )
            error = {
                "message": message,
                "type": "invalid_request_error",
                "param": "temperature",
                "code": "unsupported_value",
            }
            return Fault(400, {"error": error})
        return answer(content)(req)

    return step


def refuses_format(*modes: str, status: int = 400, provider: str = "DeepInfra") -> Step:
    """Refuse requests whose response_format type is in `modes` the way OpenRouter relays it; answer the rest."""

    def step(req: dict[str, Any]) -> Fault:
        kind = (req.get("response_format") or {}).get("type")
        if kind in modes:
            raw = json.dumps({"error": {"message": f"response_format of type {kind} is not supported for this model"}})
            return error_body(status, status, "Provider returned error", provider, raw)(req)
        return answer()(req)

    return step


def routed(*honoured: str, temperature: bool = True) -> Step:
    """OpenRouter's routing of a model served by several providers, some of which ignore response_format
    (openrouter.ai/docs/features/provider-routing): a request with a format and without `provider.require_parameters`
    may reach one that ignores it, and gets prose; with it, only a provider honouring the format type (`honoured`) is
    asked, and none gives the 404 OpenRouter sends then. `temperature` False: a reasoning model whose endpoints do not
    list temperature among their supported parameters (Claude 5, OpenAI's o-series), so require_parameters with a
    temperature in the request matches none of them: the same 404 (CultivateLabs/raif#507)."""

    def step(req: dict[str, Any]) -> Fault:
        kind = (req.get("response_format") or {}).get("type")
        if kind is None:
            return answer()(req)
        if not (req.get("provider") or {}).get("require_parameters"):
            return answer("Here is my pitch: I would buy SPY with moderate conviction.")(req)
        if kind not in honoured or (not temperature and "temperature" in req):
            return error_body(404, 404, "No endpoints found that can handle the requested parameters.")(req)
        return answer()(req)

    return step


def streamed(
    content: str | None = None,
    *,
    pieces: int = 4,
    finish: str | None = "stop",
    done: bool = True,
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> Step:
    """A 200 sent as server-sent events though no stream was asked (some proxies and providers stream anyway), in
    OpenAI's chat.completion.chunk format as OpenRouter sends it: a `: OPENROUTER PROCESSING` comment, a role chunk,
    the content in `pieces`, tool calls in pieces by index, a finish chunk (`finish`), a usage chunk with no choices,
    `data: [DONE]` (unless `done` is False: a stream cut off). `error`: OpenRouter's mid-stream error, top-level
    beside finish_reason "error"."""

    def step(req: dict[str, Any]) -> Fault:
        text = good_content(req) if content is None else content
        size = max(1, -(-len(text) // pieces))
        head = {"id": "gen-1", "object": "chat.completion.chunk", "created": 1, "model": req["model"]}

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return "data: " + json.dumps({**head, "choices": [choice], **extra}) + "\n\n"

        events = [": OPENROUTER PROCESSING\n\n", chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": text[i : i + size]}) for i in range(0, len(text), size)]
        for index, call in enumerate(tool_calls or []):
            name = {"index": index, "id": call["id"], "type": "function", "function": {"name": call["name"]}}
            events.append(chunk({"tool_calls": [name]}))
            half = len(call["arguments"]) // 2
            for part in (call["arguments"][:half], call["arguments"][half:]):
                events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
        if error is not None:
            events.append(chunk({"content": ""}, "error", error=error))
        elif finish is not None:
            events.append(chunk({}, finish))
        if usage is not None:
            events.append("data: " + json.dumps({**head, "choices": [], "usage": usage}) + "\n\n")
        if done:
            events.append("data: [DONE]\n\n")
        return Fault(200, "".join(events), {"content-type": "text/event-stream"})

    return step
