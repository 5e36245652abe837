"""The base of every domain record, and the few value types several records share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

# A trade's side as the committee speaks of it (DESIGN.md section 4); FLAT holds nothing.
Direction = Literal["LONG", "SHORT", "FLAT"]


class Record(BaseModel):
    """Frozen, and strict about its fields: a record is a fact, so an update returns a new one."""

    model_config = ConfigDict(frozen=True, extra="forbid")
