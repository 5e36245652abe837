"""docs/alerts.rules.yml's LlmtradeMetricsStale against the crontab `llmtrade schedule crontab` writes (every 5 minutes,
Monday to Friday, New York): "the file is over 3 h old" fired every weekend, when cron does not wake. Its age threshold
and weekday gate are read from the expression and played over a weekend (EST and EDT) and a weekday outage."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

_NEW_YORK = ZoneInfo("America/New_York")


def _stale_expr() -> str:
    rules = Path(__file__).resolve().parents[1] / "docs" / "alerts.rules.yml"
    loaded = yaml.safe_load(rules.read_text())
    [expr] = [r["expr"] for g in loaded["groups"] for r in g["rules"] if r["alert"] == "LlmtradeMetricsStale"]
    return str(expr)


def _fires(expr: str, now: datetime, written: datetime) -> bool:
    """What the rule says at `now` of a file last written at `written`: its threshold (`> N * 3600`) and, when it has
    one, its weekday gate (`day_of_week(vector(time() - S * 3600))` kept to days 1-5; PromQL's 0 is Sunday)."""
    found = re.search(r"> (\d+) \* 3600", expr)
    assert found is not None, expr
    gate = re.search(r"day_of_week\(vector\(time\(\) - (\d+) \* 3600\)\)", expr)
    if gate is not None:
        shifted = now.astimezone(UTC) - timedelta(hours=int(gate.group(1)))
        if shifted.isoweekday() in (6, 7):
            return False
    return (now - written).total_seconds() > int(found.group(1)) * 3600


def test_the_stale_metrics_rule_is_quiet_over_a_weekend_and_fires_on_a_weekday() -> None:
    expr = _stale_expr()
    for friday in (date(2026, 1, 9), date(2026, 7, 10)):  # EST, EDT
        last = datetime.combine(friday, time(23, 55), _NEW_YORK)  # cron's last wake-up of the week
        monday = datetime.combine(friday + timedelta(days=3), time(0, 0), _NEW_YORK)  # its first of the next
        now = last
        while now < monday:
            assert not _fires(expr, now, last), now
            now += timedelta(minutes=5)
        # llmtrade stopped at Monday noon: said within a few hours
        noon = datetime.combine(friday + timedelta(days=3), time(12, 0), _NEW_YORK)
        assert _fires(expr, noon + timedelta(hours=4), noon)
