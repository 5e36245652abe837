"""The error a chat or embeddings reply carries instead of (or beside) its answer, and the words to say it with.

`body_error`: the error object of a body that is an error and no completion (an HTTP 200 or an error status alike);
`choice_error`: the error on the first choice, or at the top beside a choice that finish_reason "error" ended
(OpenRouter's shapes for an upstream failing mid-answer); `error_detail`: one line of an error object with the
provider's real reason (OpenRouter's metadata: provider_name, raw, reasons, limit_source), cut to 2 x RAW_LIMIT
characters. Pure reading: nothing here raises.
"""

from __future__ import annotations

import json
from typing import Any

RAW_LIMIT = 500  # characters of a provider's own words kept in a message: enough for a reason, never a whole page


def error_detail(error: Any) -> str:
    """An error object's message with the provider's real reason (OpenRouter's metadata.raw and
    metadata.provider_name), which is where the useful part is: the top-level message is often
    only "Provider returned error"."""
    if isinstance(error, str):
        return error[:RAW_LIMIT]
    if not isinstance(error, dict):
        return json.dumps(error, default=str)[:RAW_LIMIT]
    message = str(error.get("message") or error.get("type") or "no message")
    code = error.get("code")
    parts = [message if code in (None, "") else f"{message} (code {code})"]
    metadata = error.get("metadata")
    if isinstance(metadata, dict):
        provider = metadata.get("provider_name")
        raw = metadata.get("raw")
        reasons = metadata.get("reasons")
        if provider:
            parts.append(f"upstream provider {provider}")
        if raw not in (None, ""):
            parts.append(f"says: {_raw_text(raw)}")
        if reasons:
            parts.append(f"flagged: {reasons}")
        limit = metadata.get("limit_source")  # OpenRouter's 402: which limit ran out (credits, the key's limit)
        if limit:
            parts.append(f"limit_source {limit}")
    parts.extend(_google_details(error.get("details")))
    return "; ".join(parts)[: RAW_LIMIT * 2]


def _google_details(details: Any) -> list[str]:
    """What a google.rpc.Status's `details` say that its message does not (cloud.google.com/apis/design/errors): the
    ErrorInfo's reason (API_KEY_INVALID, SERVICE_DISABLED), the QuotaFailure's quota (a minute's or a day's: "You
    exceeded your current quota" words both alike) and its value, the RetryInfo's delay, the BadRequest's fields."""
    said: list[str] = []
    for detail in details if isinstance(details, list) else []:
        kind = str(detail.get("@type", "")).rsplit(".", 1)[-1] if isinstance(detail, dict) else ""
        if kind == "ErrorInfo" and detail.get("reason"):
            quota = (
                (detail.get("metadata") or {}).get("quota_limit") if isinstance(detail.get("metadata"), dict) else None
            )
            said.append(f"reason {detail['reason']}" + (f" (quota {quota})" if quota else ""))
        elif kind in ("QuotaFailure", "BadRequest"):
            for found in detail.get("violations") or detail.get("fieldViolations") or []:
                if not isinstance(found, dict):
                    continue
                if kind == "QuotaFailure" and (found.get("quotaId") or found.get("subject")):
                    value = f" (limit {found['quotaValue']})" if found.get("quotaValue") else ""
                    said.append(f"quota {found.get('quotaId') or found.get('subject')}{value}")
                elif kind == "BadRequest" and found.get("description"):
                    field = f"{found['field']}: " if found.get("field") else ""
                    said.append(f"{field}{found['description']}")
        elif kind == "RetryInfo" and detail.get("retryDelay"):
            said.append(f"retry in {detail['retryDelay']}")
    return said


def body_error(data: Any) -> Any | None:
    """The error object of a body that is an error rather than a completion, else None."""
    if isinstance(data, dict) and data.get("error") and not data.get("choices"):
        return data["error"]
    return None


def choice_error(data: Any) -> dict[str, Any] | None:
    """The error object on a body's first choice (OpenRouter's `choices[].error` beside finish_reason "error": the
    upstream failed mid-answer), or at the body's top beside a choice that finish_reason "error" ended (OpenRouter's
    shape for an error during generation, its chunk's in a stream), else None."""
    choices = data.get("choices") if isinstance(data, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    error = choice.get("error") if choice is not None else None
    if not error and choice is not None and str(choice.get("finish_reason")).lower() == "error":
        error = data.get("error")
    return error if isinstance(error, dict) and error else None


def _raw_text(raw: Any) -> str:
    """metadata.raw is often a JSON string of the upstream body; show its message when it has one."""
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return raw[:RAW_LIMIT]
        raw = parsed
    if isinstance(raw, dict):
        inner = raw.get("error", raw)
        if isinstance(inner, dict) and inner.get("message"):
            said = [str(inner["message"])[:RAW_LIMIT], *_google_details(inner.get("details"))]
            return "; ".join(said)
    return json.dumps(raw, default=str)[:RAW_LIMIT]
