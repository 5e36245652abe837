"""An OpenAI-compatible provider mocked at the httpx transport with respx (no sockets at all).

By default every request gets a schema-valid answer from `completion_for`; a test can script
the next answers (an error status, a timeout, a given content) and can add a fixed delay to see
whether calls overlap. It records every request body and the peak number in flight.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import respx

from tests.fakes.llm_faults import Fault
from tests.fakes.openai_server import completion_for

BASE_URL = "https://llm.test/v1"

# A step from tests/fakes/llm_faults.py returns a Fault; a plain callable may return a Response.
Script = httpx.Response | Exception | str | Fault | Callable[[dict[str, Any]], httpx.Response | Fault]


class FakeLLM:
    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._script: deque[Script] = deque()
        self.answer: Callable[[dict[str, Any]], dict[str, Any]] = completion_for
        # What every request gets once the script is empty, when set (e.g. a provider refusing json_schema).
        self.behaviour: Callable[[dict[str, Any]], httpx.Response | Fault] | None = None

    def then(self, *steps: Script) -> FakeLLM:
        """Queue what the next requests get: a Response, an exception to raise, or answer content."""
        self._script.extend(steps)
        return self

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        self.authorizations.append(request.headers.get("authorization", ""))
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            step = self._script.popleft() if self._script else self.behaviour
            if isinstance(step, Exception):
                raise step
            if isinstance(step, httpx.Response):
                return step
            if isinstance(step, Fault):
                return _response(step)
            if isinstance(step, str):
                reply = completion_for(body)
                reply["choices"][0]["message"]["content"] = step
                return httpx.Response(200, json=reply)
            if callable(step):
                result = step(body)
                return _response(result) if isinstance(result, Fault) else result
            return httpx.Response(200, json=self.answer(body))
        finally:
            self.in_flight -= 1

    def prompts_text(self) -> list[str]:
        return ["\n".join(m["content"] for m in body["messages"]) for body in self.requests]


def _response(fault: Fault) -> httpx.Response:
    headers = {"content-type": "application/json", **fault.headers}
    return httpx.Response(fault.status, content=fault.payload(), headers=headers)


@contextmanager
def fake_llm(base_url: str = BASE_URL, delay: float = 0.0) -> Iterator[FakeLLM]:
    fake = FakeLLM(delay)
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{base_url}/chat/completions").mock(side_effect=fake)
        yield fake
