"""When a run's end is a wait, not a failure: the one rule, free of pydantic (domain/tracing.py's log levels read it
while configuring the log stays light)."""

from __future__ import annotations

# EX_TEMPFAIL: errors.TemporaryError's exit code, which a wait (errors.Waiting) keeps.
_WAIT_EXIT = 75


def stopped_to_wait(end_type: str, exit_code: object, deferred: bool) -> bool:
    """A run ended by `end_type` with `exit_code` stopped to wait: a RunFailed with exit 75 after a StageDeferred of
    its own run (`deferred`: a checkpoint waiting for a price or an owner's provider, a stage for its roles'); the next
    wake-up asks again until the deadline. No failure. The metrics read it in SQL (migration 0016
    `metric_run_status`, where Python cannot run): a change here is a change there."""
    return end_type == "RunFailed" and exit_code == _WAIT_EXIT and deferred
