"""What a checkpoint's prepare stage reads once for all its accounts instead of once per account: the week's
frozen pitches (or the chairman's decision). Every account must still be judged by its own frozen trade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import llmtrade.workflows.checkpoint_prepare as checkpoint_prepare
from llmtrade.config.loader import load_config
from llmtrade.config.models import AccountRole
from llmtrade.storage.database import backtest_database
from llmtrade.workflows.checkpoint_prepare import PrepareStage
from tests.test_backtest import _events, _run, _unique, _url


def test_a_checkpoint_reads_the_weeks_frozen_events_once_per_role_and_judges_each_account_by_its_own(
    database_url: str, pg_admin_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    reads: list[list[bool]] = []
    real_run, real_read = PrepareStage.run, checkpoint_prepare.frozen_events

    async def run(self: PrepareStage, context: Any) -> Any:
        reads.append([])
        return await real_run(self, context)

    def read(events: Any, week_id: Any, role: AccountRole) -> Any:
        reads[-1].append(role is AccountRole.CHAIRMAN)
        return real_read(events, week_id, role)

    monkeypatch.setattr(PrepareStage, "run", run)
    monkeypatch.setattr(checkpoint_prepare, "frozen_events", read)
    name = _unique()
    _run(database_url, tmp_path, name, audit=0)
    judged = [r for r in reads if r]
    assert judged and all(len(r) == len(set(r)) for r in judged)  # each role's events read at most once a checkpoint
    assert any(sorted(r) == [False, True] for r in judged)  # a checkpoint that judged PMs' and the chairman's accounts

    url = _url(pg_admin_url, backtest_database(name))
    chairman = next(a.id for a in load_config(None).config.accounts.accounts if a.role is AccountRole.CHAIRMAN)
    frozen = {
        (p["pitch"]["week_id"], p["pitch"]["account_id"]): p["pitch"]["instrument"]
        for p in _events(url, "PitchSubmitted")
    }
    frozen |= {
        (p["decision"]["week_id"], chairman): p["decision"]["selected_trade"]["instrument"]
        for p in _events(url, "DecisionMade")
    }
    taken = [p["checkpoint"] for p in _events(url, "CheckpointTaken")]
    assert {c["account_id"] for c in taken} >= {chairman, "acct_1"}
    assert all(c["instrument"] == frozen[(c["week_id"], c["account_id"])] for c in taken)
