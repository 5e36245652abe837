"""The TLS context every provider client of the process shares, and the warm-up that builds it (and imports what httpx
imports on its first request) on a background thread before the first model call needs it."""

from __future__ import annotations

import ssl
import threading

import httpx

_tls_lock = threading.Lock()
_tls_context: ssl.SSLContext | None = None


def shared_tls_context() -> ssl.SSLContext:
    """One TLS context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR) for every client of the process.

    Loading the CA bundle takes 30-50 ms; httpx does it again for every AsyncClient built without a
    context, and each provider client builds one, on its first call, inside the run's critical path.
    """
    global _tls_context
    with _tls_lock:
        if _tls_context is None:
            _tls_context = httpx.create_ssl_context(trust_env=True)
        return _tls_context


def warm_up(*, tls: bool = False) -> None:
    """Import what httpx imports on its first request and, with `tls`, build the shared TLS context,
    on a background thread while the run does other work (the database, the market snapshot), so
    the first model call does not wait for them."""
    threading.Thread(target=_warm, args=(tls,), name="llmtrade-http-warm-up", daemon=True).start()


def _warm(tls: bool) -> None:
    import anyio._backends._asyncio  # noqa: F401 - httpcore's async backend, imported lazily by the first request

    if tls:
        shared_tls_context()
