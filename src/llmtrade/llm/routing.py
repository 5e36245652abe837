"""OpenRouter's `provider.require_parameters` on a request with a response format, and what its 404 asks.

Without it OpenRouter may route a request to a provider of the model that ignores the format
(openrouter.ai/docs/features/provider-routing), whose free text then costs a repair. With it ("only use providers that
support all parameters in your request"), a model no provider serves in the format is refused with a 404 "No endpoints
found that can handle the requested parameters", which steps down to the next format (http_errors.FORMAT_REFUSED).
But it counts every parameter sent, temperature too: a reasoning model whose endpoints do not list temperature
(Claude 5, OpenAI's o-series: CultivateLabs/raif#507) matched none and lost its structured output to a sampling
setting. The format is what the requirement is sent for, so it wins: asked again without temperature (the model's
default), once a model; the same 404 without it was the format's, which then steps down with temperature sent again.
"""

from __future__ import annotations

from typing import Any

from llmtrade.llm.http_errors import NO_ROUTE
from llmtrade.llm.reasked import AskedOtherwise

_NOTE = (
    "temperature not sent: OpenRouter has no endpoint of {model} that takes it beside the response format "
    "(provider.require_parameters); asked at the model's default"
)


class RequiredParameters:
    """One client's require_parameters state: the models asked in a format without temperature."""

    def __init__(self) -> None:
        self._without: set[str] = set()  # asked without temperature in a format
        self._tried: set[str] = set()  # asked so once: never again after the format itself was refused

    def apply(self, body: dict[str, Any], model: str) -> None:
        """Require the parameters of a body with a response format (`body` changed in place)."""
        if "response_format" in body:
            body["provider"] = {"require_parameters": True}
            if model in self._without:
                body.pop("temperature", None)

    def unrouted(self, status: int, reason: str, body: dict[str, Any], model: str) -> AskedOtherwise | None:
        """The request again without temperature, for OpenRouter's 404 of no endpoint taking every parameter sent;
        None when that is not what the 404 can be mended by."""
        if status != 404 or "provider" not in body or not NO_ROUTE.search(reason):
            return None
        if "temperature" not in body:  # refused without it too: the format's, and temperature was no cause
            self._without.discard(model)
            return None
        if model in self._tried:
            return None
        self._tried.add(model)
        self._without.add(model)
        return AskedOtherwise("temperature", _NOTE.format(model=model))
