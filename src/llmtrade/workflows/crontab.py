"""The crontab lines that wake `llmtrade run-due`, and the checkpoints a cron interval would never reach."""

from __future__ import annotations

import shlex
from datetime import date, timedelta
from pathlib import Path

from llmtrade.config.models import ScheduleConfig
from llmtrade.market.calendar import TradingCalendar


def crontab_lines(
    executable: str,
    every_minutes: int = 5,
    log: str = "~/llmtrade-cron.log",
    *,
    workdir: Path | None = None,
    config_dir: Path | None = None,
    home: Path | None = None,
) -> list[str]:
    """Crontab lines that wake `<executable> run-due` every few minutes on weekdays.

    run-due decides what is due in New York time, so the cron zone only affects when cron wakes up. Cron starts the
    command in the home folder with an almost empty environment, so what the shell that asked had and cron would not
    is written in: `workdir`, the folder whose `.env` holds the keys (cd there: without it a live setup runs offline,
    and with --quiet says nothing of it); `config_dir` (--config); `home` (LLMTRADE_HOME: another database).

    Raises ValueError for an interval cron cannot step by, an empty `log`, and a path holding a line break.
    """
    _check_interval(every_minutes)
    if not log:
        raise ValueError("--log is empty: give the file cron's output goes to (cron's shell cannot create '')")
    for said, value in (
        ("--log", log),
        ("--config", config_dir),
        ("the folder of .env", workdir),
        ("LLMTRADE_HOME", home),
    ):
        if value is not None and ("\n" in str(value) or "\r" in str(value)):
            # A crontab entry is one line: the rest of the path would be read as a line of its own.
            raise ValueError(f"{said} {str(value)!r} holds a line break, which no crontab line can: use another path")
    # */60 is not a cron step (its minutes field runs 0-59): an hourly wake-up is minute 0.
    minutes = "*" if every_minutes == 1 else "0" if every_minutes == 60 else f"*/{every_minutes}"
    command = _cron_word(shlex.quote(executable))
    if config_dir is not None:
        command += f" --config {_cron_word(shlex.quote(str(config_dir)))}"
    # --quiet: the log (or cron's mail) gets what needs a look, not a line per wake-up (`status` lists the runs).
    command += f" --quiet run-due >> {_cron_word(_quote_path(log))} 2>&1"
    if workdir is not None:
        command = f"cd {_cron_word(shlex.quote(str(workdir)))} && {command}"
    return [
        f"# llmtrade: wake every {every_minutes} min on weekdays; `run-due` decides what is due (weekly run,",
        "# checkpoints, postmortem) in America/New_York time and does nothing otherwise; with --quiet only",
        "# warnings and errors reach the log. Weekends are skipped because nothing fires then. CRON_TZ is",
        "# honoured by cronie; a cron that ignores it uses the machine's zone, which is fine unless that zone",
        "# is far from New York (Friday afternoon there may be Saturday).",
        "CRON_TZ=America/New_York",
        *([f"LLMTRADE_HOME={home}"] if home is not None else []),
        f"{minutes} * * * 1-5 {command}",
    ]


def _check_interval(every_minutes: int) -> None:
    """Minutes from 1 to 59 (a `*/N` step), or 60 (minute 0 of each hour)."""
    if not (1 <= every_minutes <= 59 or every_minutes == 60):
        raise ValueError(f"every_minutes must be between 1 and 59, or 60, got {every_minutes}")


def missed_checkpoints(
    schedule: ScheduleConfig, calendar: TradingCalendar, every_minutes: int, start: date
) -> list[tuple[str, str]]:
    """The checkpoints a cron waking at minutes 0, N, 2N... of each hour (`*/N`) would never run, each as its time and
    the end of its window ("15:50", "16:00"), in time order.

    A checkpoint runs only from its time until the next checkpoint of the day or the session's close (`due_jobs`), so
    it needs a wake-up in that window: with */15 the 15:50 checkpoint's last chance before the 16:00 close is 15:45,
    too early, and every later wake-up finds the session closed. Checked against every close time of the year from
    `start` (the regular one and the early closes); a checkpoint at or after a close is not held that day anyway."""
    _check_interval(every_minutes)
    wakes = [hour * 60 + minute for hour in range(24) for minute in range(0, 60, every_minutes)]
    times = sorted(_minutes(hhmm) for hhmm in schedule.checkpoints)
    closes = sorted(
        {
            _minutes(f"{calendar.session_close(day):%H:%M}")
            for day in calendar.sessions_between(start, start + timedelta(days=365))
        }
    )
    missed: list[tuple[str, str]] = []
    for close in closes:
        held = [t for t in times if t < close]
        for at, end in zip(held, [*held[1:], close], strict=True):
            if not any(at <= wake < end for wake in wakes):
                missed.append((_hhmm(at), _hhmm(end)))
    return sorted(set(missed))


def _minutes(hhmm: str) -> int:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return hour * 60 + minute


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _quote_path(path: str) -> str:
    # Keep a leading ~/ unquoted so the shell cron runs still expands it to the home folder.
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)


def _cron_word(word: str) -> str:
    # In a crontab command an unescaped % ends the command and feeds the rest to stdin.
    return word.replace("%", r"\%")
