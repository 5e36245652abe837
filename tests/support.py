"""Constants and helpers shared by several test modules."""

from __future__ import annotations

from datetime import UTC, datetime

FIXED_NOW = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)  # Wednesday 08:00 New York
