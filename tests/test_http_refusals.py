"""One reading of a provider's error status for both OpenAI-compatible clients (llm/http_errors.py `refusal`): the
chat client and the embeddings client raise the same kind of error for the same answer, so a key, a quota or an
out-of-credits account is told apart the same way whether the week's chat or the memory's embedder met it."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx

from llmtrade.errors import (
    LLMAuthRejected,
    LLMLocationRefused,
    LLMNoEndpoint,
    LLMOutOfCredits,
    LLMRateLimited,
    LLMRequestRejected,
    LLMUnavailable,
)
from llmtrade.llm.embeddings import EmbeddingClient
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage, ChatRequest

BASE = "http://provider.test/v1"
REQUEST = ChatRequest(model="m/one", messages=(ChatMessage(role="user", content="hi"),))

GOOGLE_KEY_INVALID = {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT",
    "details": [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
    ],
}

GOOGLE_LOCATION = {
    "code": 400,
    "message": "User location is not supported for the API use.",
    "status": "FAILED_PRECONDITION",
}

CASES = [
    (httpx.Response(401, json={"error": {"message": "No auth credentials found"}}), LLMAuthRejected),
    (httpx.Response(403, json={"error": {"message": "key disabled"}}), LLMAuthRejected),
    (httpx.Response(404, json={"error": {"message": "No endpoints found for m/one"}}), LLMNoEndpoint),
    (httpx.Response(402, json={"error": {"message": "Insufficient credits"}}), LLMOutOfCredits),
    (httpx.Response(429, json={"error": {"message": "free-models-per-day limit"}}), LLMRateLimited),
    (httpx.Response(429, headers={"Retry-After": "3600"}, json={"error": {"message": "slow"}}), LLMRateLimited),
    (httpx.Response(400, json={"error": {"message": "bad parameter: temperature"}}), LLMRequestRejected),
    (httpx.Response(503, json={"error": {"message": "overloaded"}}), LLMUnavailable),
    (httpx.Response(408, json={"error": {"message": "timed out upstream"}}), LLMUnavailable),
    # OpenRouter relays an upstream failure inside a 200: its code decides as the status would.
    (httpx.Response(200, json={"error": {"code": 402, "message": "Insufficient credits"}}), LLMOutOfCredits),
    (httpx.Response(200, json={"error": {"code": 401, "message": "User not found."}}), LLMAuthRejected),
    # Google refuses a bad key with a 400, not a 401 (its OpenAI-compatible endpoint wraps the error in a list): a
    # refused key all the same, never held for the rerun after the key is fixed (pipeline/retry.holdable).
    (httpx.Response(400, json=[{"error": GOOGLE_KEY_INVALID}]), LLMAuthRejected),
    (
        httpx.Response(
            400, json={"error": {**GOOGLE_KEY_INVALID, "message": "API key expired. Please renew the API key."}}
        ),
        LLMAuthRejected,
    ),
    # Google refuses a call from a region it does not serve with a 400 FAILED_PRECONDITION: the account's place, not
    # the request, mended by calling from elsewhere; never held for the rerun after the move.
    (httpx.Response(400, json=[{"error": GOOGLE_LOCATION}]), LLMLocationRefused),
]


async def _no_wait(seconds: float) -> None:
    return None


def _chat(response: httpx.Response) -> BaseException:
    client = OpenAICompatibleClient("prov", BASE, "k", max_retries=1, sleep=_no_wait)
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=response)
        with pytest.raises(Exception) as raised:
            asyncio.run(client.send(REQUEST))
    return raised.value


def _embed(response: httpx.Response) -> BaseException:
    client = EmbeddingClient("prov", BASE, "k", max_retries=1, sleep=lambda seconds: None)
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/embeddings").mock(return_value=response)
        with pytest.raises(Exception) as raised:
            client.post("m/one", ["text"])
    client.close()
    return raised.value


@pytest.mark.parametrize(("response", "kind"), CASES, ids=lambda c: getattr(c, "status_code", None) or c.__name__)
def test_both_clients_read_an_error_status_as_the_same_kind_of_failure(
    response: httpx.Response, kind: type[Exception]
) -> None:
    chat, embed = _chat(response), _embed(response)
    assert type(chat) is kind, chat
    assert type(embed) is kind, embed
    assert "prov" in str(chat) and "prov" in str(embed)
    if kind is LLMAuthRejected:  # a refused location says what mends it instead (the test below)
        assert "API key" in str(chat) and "API key" in str(embed)


# Cloudflare's error page as OpenRouter's edge serves it: the reason is in the title, past the doctype and the
# conditional comments that fill a message's first 200 characters.
CLOUDFLARE_502 = """<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<!--[if IE 7]>    <html class="no-js ie7 oldie" lang="en-US"> <![endif]-->
<!--[if IE 8]>    <html class="no-js ie8 oldie" lang="en-US"> <![endif]-->
<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->
<head>
<title>openrouter.ai | 524: A timeout occurred</title>
<meta charset="UTF-8" />
</head>
<body><div id="cf-wrapper"><header>
<h1><span class="inline-block">A timeout occurred</span> <span class="code-label">Error code 524</span></h1>
</header></div></body></html>
"""


@pytest.mark.parametrize("status", [524, 200])
def test_a_proxys_html_error_page_is_told_by_its_title_by_every_client(status: int) -> None:
    page = httpx.Response(status, text=CLOUDFLARE_502, headers={"Content-Type": "text/html; charset=UTF-8"})
    chat, embed = _chat(page), _embed(page)
    for error in (chat, embed):
        assert type(error) is LLMUnavailable, error  # a 5xx, or a 200 a proxy mangled: retried, temporary
        said = str(error)
        assert "openrouter.ai | 524: A timeout occurred" in said and "Error code 524" in said, said
        assert "DOCTYPE" not in said and "[if lt IE 7]" not in said, said


def test_a_body_that_is_neither_json_nor_html_is_shown_as_it_came() -> None:
    chat = _chat(httpx.Response(502, text="upstream connect error or disconnect/reset before headers"))
    assert "upstream connect error or disconnect/reset before headers" in str(chat)


def test_a_refused_location_says_what_it_is_and_what_mends_it_whoever_relays_it() -> None:
    """Held as a final rejected request ("refused the request for m/one: HTTP 400: User location is not supported"),
    it read as a bad request and outlived the move to a supported region. Relayed by OpenRouter it comes in its
    metadata.raw."""
    relayed = {
        "error": {
            "code": 400,
            "message": "Provider returned error",
            "metadata": {"provider_name": "Google AI Studio", "raw": json.dumps({"error": GOOGLE_LOCATION})},
        }
    }
    for response in (httpx.Response(400, json=[{"error": GOOGLE_LOCATION}]), httpx.Response(400, json=relayed)):
        error = _chat(response)
        assert type(error) is LLMLocationRefused and isinstance(error, LLMAuthRejected), error
        said = str(error)
        assert "User location is not supported" in said and "region" in said and "base_url" in said, said
        assert "API key" not in said and error.exit_code == 1, said
