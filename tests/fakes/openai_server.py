"""A fake OpenAI-compatible chat-completions server that answers after a fixed latency.

Benchmarks need an LLM whose cost is a known constant, so what they measure is our own overhead
and concurrency, not a provider's mood. Structured-output requests get a JSON instance generated
from the request's own schema, so the code under test parses and validates a realistic answer.
It binds to loopback only and uses nothing outside the standard library, so importing it is cheap.

    python -m tests.fakes.openai_server --latency 0.5 --port 8099
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

COMPLETION_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})

# Distinct initials, so even strings clipped to one character differ from item to item.
_WORDS = (
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
)
_SENTENCE_WORDS = 3
_FORMATTED_STRINGS = {
    "date-time": "2026-01-07T13:00:00Z",
    "date": "2026-01-07",
    "time": "13:00:00",
    "duration": "PT1H",
    "email": "pm@example.com",
    "uri": "https://example.com/",
}
_DEFAULT_INTEGER = 1
_DEFAULT_NUMBER = 0.5


def instance_for_schema(schema: dict[str, Any], *, root: dict[str, Any] | None = None, index: int = 0) -> Any:
    """Return a JSON value valid against `schema`, for the subset pydantic v2 `model_json_schema()` emits.

    `index` is the position of this value in an enclosing array. Enums pick value number `index` (mod
    their length) so that arrays of enum labels, or of objects carrying one, hold distinct entries: a
    ranking of three labels comes out as a permutation rather than the first label three times.
    `$ref`s resolve against `root`, which defaults to `schema` itself.
    """
    return _Generator(schema if root is None else root).generate(schema, index, frozenset())


class _Generator:
    """Walks a schema; `refs` holds the `$ref`s being expanded, so recursive models stop after one level."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def generate(self, schema: dict[str, Any], index: int, refs: frozenset[str]) -> Any:
        if "$ref" in schema:
            ref = schema["$ref"]
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            return self.generate({**self._resolve(ref), **siblings}, index, refs | {ref})
        if "allOf" in schema:
            return self.generate(self._merge_all_of(schema), index, refs)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][index % len(schema["enum"])]
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return self.generate(self._pick_option(schema[keyword], refs), index, refs)
        kind = _schema_type(schema)
        if kind == "object":
            return self._object(schema, index, refs)
        if kind == "array":
            return self._array(schema, refs)
        if kind == "string":
            return _FORMATTED_STRINGS.get(schema.get("format", ""), _text(schema, index))
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        return None  # "null", or an unconstrained `{}` that accepts anything

    def _resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            raise ValueError(f"only local $refs are supported, got {ref!r}")
        node: Any = self.root
        for part in ref[1:].split("/")[1:]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
        for part in schema["allOf"]:
            while "$ref" in part:
                part = {**self._resolve(part["$ref"]), **{k: v for k, v in part.items() if k != "$ref"}}
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged[key] = value
        return merged

    @staticmethod
    def _pick_option(options: list[dict[str, Any]], refs: frozenset[str]) -> dict[str, Any]:
        """The first option that is neither null nor a step back into a model being expanded."""
        for option in options:
            if _schema_type(option) != "null" and option.get("$ref") not in refs:
                return option
        return next((option for option in options if _schema_type(option) == "null"), options[0])

    def _object(self, schema: dict[str, Any], index: int, refs: frozenset[str]) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        value = {name: self.generate(sub, index, refs) for name, sub in properties.items()}
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, dict):  # a mapping such as dict[str, int]
            count = min(max(schema.get("minProperties", 0), 1), schema.get("maxProperties", math.inf))
            names = schema.get("propertyNames", {"type": "string"})
            for i in range(count):
                value[self.generate(names, i, refs)] = self.generate(extra, i, refs)
        return value

    def _array(self, schema: dict[str, Any], refs: frozenset[str]) -> list[Any]:
        prefix: list[dict[str, Any]] = schema.get("prefixItems", [])
        items: dict[str, Any] = schema.get("items", {})
        min_items = schema.get("minItems", 0)
        wanted = max(min_items, 1, len(prefix))
        if items.get("$ref") in refs:  # a model's list of itself: stop recursing
            wanted = min_items
        count = min(wanted, schema.get("maxItems", wanted))
        return [self.generate(prefix[i] if i < len(prefix) else items, i, refs) for i in range(count)]


def _schema_type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
    return kind


def _text(schema: dict[str, Any], index: int) -> str:
    """A few lowercase words starting at word `index`, stretched or clipped to the length bounds."""
    min_length = schema.get("minLength", 0)
    max_length = schema.get("maxLength")
    words: list[str] = []
    while len(words) < _SENTENCE_WORDS or len(" ".join(words)) < min_length:
        words.append(_WORDS[(index + len(words)) % len(_WORDS)])
    text = " ".join(words)
    if max_length is not None and len(text) > max_length:
        text = text[:max_length].rstrip()
    return text.ljust(min_length, "s")


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    """The midpoint when bounded on both sides (upper middle for integers), else near the one bound."""
    low, low_strict = _bound(schema, "minimum", "exclusiveMinimum")
    high, high_strict = _bound(schema, "maximum", "exclusiveMaximum")
    if integer:
        if low is not None:
            low, low_strict = (math.floor(low) + 1 if low_strict else math.ceil(low)), False
        if high is not None:
            high, high_strict = (math.ceil(high) - 1 if high_strict else math.floor(high)), False
    if low is not None and high is not None:
        return (low + high + 1) // 2 if integer else (low + high) / 2
    value: int | float = _DEFAULT_INTEGER if integer else _DEFAULT_NUMBER
    if low is not None:
        value = max(value, low)
        if low_strict and value <= low:
            value = low + 1
    if high is not None:
        value = min(value, high)
        if high_strict and value >= high:
            value = high - 1
    return value


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str) -> tuple[float | None, bool]:
    """The tighter of a side's inclusive and exclusive bounds, and whether it is exclusive (which wins a tie)."""
    candidates = [(schema[key], key == exclusive) for key in (inclusive, exclusive) if key in schema]
    if not candidates:
        return None, False
    lower = inclusive == "minimum"
    return max(candidates, key=lambda bound: (bound[0] if lower else -bound[0], bound[1]))


def completion_for(request: dict[str, Any]) -> dict[str, Any]:
    """A chat-completions response body for a parsed request body, shaped like OpenAI's."""
    model = request["model"]
    response_format = request.get("response_format") or {}
    prompted = schema_in_prompt(request)
    if response_format.get("type") == "json_schema":
        content = json.dumps(instance_for_schema(response_format["json_schema"]["schema"]))
    elif prompted is not None:  # json_object or plain text with the schema in the prompt: follow it
        content = json.dumps(instance_for_schema(prompted))
    else:
        content = f"This is a canned answer from the fake {model}."
    prompt = "".join(_message_text(message) for message in request.get("messages", []))
    prompt_tokens = max(len(prompt) // 4, 1)
    completion_tokens = max(len(content) // 4, 1)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"},
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# How llmtrade asks for JSON when the wire format carries no schema (llm/structured.schema_instruction).
_SCHEMA_MARKER = "JSON schema exactly, with no prose and no code fences:\n"


def schema_in_prompt(request: dict[str, Any]) -> dict[str, Any] | None:
    """The schema a json_object or plain-text request spells out in its prompt, as a model would read it."""
    for message in reversed(request.get("messages", [])):
        text = _message_text(message)
        if _SCHEMA_MARKER in text:
            try:
                schema = json.loads(text.split(_SCHEMA_MARKER, 1)[1])
            except ValueError:
                return None
            return schema if isinstance(schema, dict) else None
    return None


# How llm/structured.schema_instruction names the answer it spells out: "a JSON object (the PitchAnswer)".
_PROMPTED_NAME = re.compile(r"a JSON object \(the (\w+)\)")


def schema_name(request: dict[str, Any]) -> str:
    """The name of the answer a request asks for, in whichever mode it is asked: its json_schema response format's, or
    the one a json_object or plain-text prompt gives the schema it spells out; "" for free text. A fake that answers
    one role badly finds it so in every mode (the gateway asks a provider that ignored json_schema in json_object)."""
    fmt = (request.get("response_format") or {}).get("json_schema") or {}
    if fmt.get("name"):
        return str(fmt["name"])
    for message in reversed(request.get("messages", [])):
        match = _PROMPTED_NAME.search(_message_text(message))
        if match:
            return match.group(1)
    return ""


def _message_text(message: dict[str, Any]) -> str:
    """A message's text, whether its content is a string, a list of parts, or absent (tool calls)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _error_body(status: int, message: str) -> dict[str, Any]:
    """An OpenAI-style error body, so clients exercise the same parsing path as against the real API."""
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        kind = "rate_limit_error"
    elif status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        kind = "server_error"
    else:
        kind = "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


class _Server(ThreadingHTTPServer):
    """Threaded server with a backlog deep enough for bursts of concurrent clients, and quiet about hang-ups.

    Connections are kept alive between requests (HTTP/1.1, as real providers serve), so the server keeps
    track of them: stopping it closes every one, and a client's next request fails as it would against a
    provider that went away, instead of being answered by a handler thread that outlived its server."""

    daemon_threads = True
    request_queue_size = 128
    fake: FakeOpenAIServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> int:
        """Shut every open connection down (its handler sees the end of its input and returns); how many."""
        with self._connections_lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):  # closed by its client in the meantime
                connection.shutdown(socket.SHUT_RDWR)
        return len(open_now)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up is not a bug here
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Keep-alive: one connection carries many requests, so every answer has its Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle's algorithm on a kept-alive connection the body
    # waits for the client's delayed ACK of the headers (about 40 ms a reply), a stall no provider has.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        path = self.path.partition("?")[0]
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))  # read even when refused: keep-alive
        if path not in COMPLETION_PATHS:
            self._send_json(HTTPStatus.NOT_FOUND, _error_body(HTTPStatus.NOT_FOUND, f"no route for POST {path}"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_json(HTTPStatus.BAD_REQUEST, _error_body(HTTPStatus.BAD_REQUEST, "body is not JSON"))
            return
        status, headers, answer = self.server.fake._answer(body)
        if isinstance(answer, bytes):  # a scripted fault: sent byte for byte, JSON or not
            self._send_raw(status, answer, headers)
        else:
            self._send_json(status, answer, headers)

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        self.close_connection = True  # a body this route does not read must not be taken for the next request
        self._send_json(HTTPStatus.NOT_FOUND, _error_body(HTTPStatus.NOT_FOUND, f"no route for {self.command} {path}"))

    do_PUT = do_PATCH = do_DELETE = do_GET

    def _send_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(body).encode(), headers)

    def _send_raw(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a benchmark firing thousands of requests must not flood stderr."""


class FakeOpenAIServer:
    """An OpenAI-compatible chat-completions endpoint on 127.0.0.1, served from a background thread.

    Every request sleeps `latency` seconds on its own thread, so concurrent requests overlap the way
    they would against a real provider; `max_in_flight` records how many overlapped at the peak, which
    is what a concurrency benchmark wants to check.
    """

    def __init__(
        self,
        latency: float = 0.0,
        port: int = 0,
        answer: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.latency = latency
        self.port = port
        # What a request gets when it does not fail: completion_for unless a test needs smarter answers.
        self.answer = answer or completion_for
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._failures: deque[tuple[int, float | None]] = deque()
        # Scripted misbehaviour (tests/fakes/llm_faults.py): queued steps first, then `behaviour` if set.
        self._steps: deque[Callable[[dict[str, Any]], Any]] = deque()
        self.behaviour: Callable[[dict[str, Any]], Any] | None = None
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client as its base URL; the port is the real one even when bound to 0."""
        if self._server is None:
            raise RuntimeError("the fake OpenAI server is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAIServer:
        if self._server is not None:
            raise RuntimeError("the fake OpenAI server is already running")
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.fake = self
        # A short poll interval keeps stop() fast; the loop wakes this often to check for shutdown.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests and close every open connection, kept-alive or in the middle of a request
        (whose client then sees the connection drop, as from a provider that went away)."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget recorded requests, the concurrency peak and pending failures, e.g. between benchmark rounds."""
        with self._lock:
            self.requests.clear()
            self.max_in_flight = self._in_flight
            self._failures.clear()

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `times` requests with `status` and an OpenAI-style error, for retry drills."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def then(self, *steps: Callable[[dict[str, Any]], Any]) -> FakeOpenAIServer:
        """Queue faults for the next requests (builders from tests/fakes/llm_faults.py)."""
        with self._lock:
            self._steps.extend(steps)
        return self

    def _answer(self, body: Any) -> tuple[int, dict[str, str], dict[str, Any] | bytes]:
        """Status, extra headers and JSON body for one parsed request, `latency` seconds after it arrived.

        The answer is built first and the rest of the latency slept after, so a slow `answer` (random
        instances of a large schema) is part of the round trip, as generation is at a real provider.
        """
        arrived = time.perf_counter()
        with self._lock:
            if isinstance(body, dict):
                self.requests.append(body)
            failure = self._failures.popleft() if self._failures else None
            step = self._steps.popleft() if self._steps and failure is None else self.behaviour
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            result = self._result(body, failure, step)
            time.sleep(max(0.0, self.latency - (time.perf_counter() - arrived)))
        finally:
            with self._lock:
                self._in_flight -= 1
        return result

    def _result(
        self, body: Any, failure: tuple[int, float | None] | None, step: Callable[[dict[str, Any]], Any] | None
    ) -> tuple[int, dict[str, str], dict[str, Any] | bytes]:
        if failure is not None:
            status, retry_after = failure
            headers = {} if retry_after is None else {"Retry-After": _seconds(retry_after)}
            return status, headers, _error_body(status, f"fake failure: {HTTPStatus(status).phrase}")
        if not isinstance(body, dict) or "model" not in body:
            return HTTPStatus.BAD_REQUEST, {}, _error_body(HTTPStatus.BAD_REQUEST, "the body needs a model")
        if step is not None:
            fault = step(body)
            return fault.status, dict(fault.headers), fault.payload()
        return HTTPStatus.OK, {}, self.answer(body)


def _seconds(value: float) -> str:
    """Whole seconds without a decimal point, as most clients' Retry-After parsers expect."""
    return str(int(value)) if float(value).is_integer() else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI chat-completions API on 127.0.0.1.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each request waits before answering")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(latency=args.latency, port=args.port).start()
    print(f"fake OpenAI server at {server.base_url} (latency {args.latency:g}s); Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
