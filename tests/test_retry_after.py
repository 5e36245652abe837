"""One reading of Retry-After (llmtrade/retry_after.py) for the model providers' clients and Alpaca's market data:
seconds or an HTTP date, and nothing usable said as None. The model clients' own reading crashed on a date given as
-0000 (a naive datetime set against an aware one) and took "nan" as a wait."""

from __future__ import annotations

import time

import httpx
import pytest

from llmtrade.llm.http_errors import retry_after
from llmtrade.market.alpaca_limits import asked_wait
from llmtrade.retry_after import retry_after_seconds

NOW = 1_445_412_000.0  # Wed, 21 Oct 2015 07:20:00 GMT


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 480.0),
        ("Wed, 21 Oct 2015 07:28:00 -0000", 480.0),  # RFC 2822's "no zone known": read as GMT, as HTTP dates are
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_a_retry_after_is_seconds_or_a_date_or_nothing(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


def test_the_model_clients_and_alpacas_read_the_same_wait() -> None:
    later = time.strftime("%a, %d %b %Y %H:%M:%S -0000", time.gmtime(time.time() + 120))
    for value in (later, "nan", "45"):
        response = httpx.Response(429, headers={"Retry-After": value})
        llm = retry_after(response)
        market = asked_wait({"Retry-After": value}, time.time())
        if llm is None:
            assert market is None, value
        else:
            assert market is not None and abs(market - 0.5 - llm) < 2.0, (value, llm, market)  # Alpaca's 0.5 s margin
