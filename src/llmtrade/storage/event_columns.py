"""The columns of an event row: as stored (what an insert returns) and as read (old payloads brought up to date)."""

from __future__ import annotations

COLUMNS = "id, type, stream, version, week_id, account_id, run_id, occurred_at, payload, schema_version"
# An event's payload as read: a StageFailed through migration 0017's upcast (a stage's wait recorded before
# errors.Waiting, error_type TemporaryError after a StageDeferred of its stage, reads as error_type Waiting; 0019: a
# checkpoint's StageDeferred of `prepare` stands for its `complete` stage, as its price wait wrote it), a RunFailed
# through 0018's (that wait's run end, "stage '...' failed: <the wait>", reads as the wait's own text); both
# need the run's other events and so run in SQL; the other upcasts need only the payload (domain/events.py
# `from_event`). Only those two types call a function: a call per row of a backtest's reads would cost.
PAYLOAD_AS_READ = (
    "CASE WHEN type = 'StageFailed' THEN stage_failed_as_read(payload, schema_version, run_id)"
    " WHEN type = 'RunFailed' THEN run_failed_as_read(payload, run_id) ELSE payload END"
)
# The columns a read selects (an insert returns COLUMNS: what it wrote is the current shape).
READ = COLUMNS.replace(" payload,", f" {PAYLOAD_AS_READ} AS payload,")
