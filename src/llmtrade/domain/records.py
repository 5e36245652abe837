"""The base of every domain record, and the few value types several records share."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

# A trade's side as the committee speaks of it (DESIGN.md section 4); FLAT holds nothing.
Direction = Literal["LONG", "SHORT", "FLAT"]


class Record(BaseModel):
    """Frozen, and strict about its fields: a record is a fact, so an update returns a new one."""

    model_config = ConfigDict(frozen=True, extra="forbid")


M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


def assembled(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """A `cls` holding `values` (its __dict__, taken as is) with `fields_set` marked set, no extra and no private
    state: what validation gives for a model without extra or private attributes, for values the caller already
    knows to be of their fields' types (a copy or a dump of our own validated records). Nothing is checked."""
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", fields_set)
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model
