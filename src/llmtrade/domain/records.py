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
# BaseModel's own slots (and its __dict__), set through their descriptors: object.__setattr__ looks each name up along
# the class's MRO first, which was a third of an `assembled` call (some 3,000 a backtest week: every stored event, a
# picker's suggestions, quotes). The same stores, on the same instance attributes.
_SLOTS = BaseModel.__dict__
_set_dict = _SLOTS["__dict__"].__set__
_set_fields_set = _SLOTS["__pydantic_fields_set__"].__set__
_set_extra = _SLOTS["__pydantic_extra__"].__set__
_set_private = _SLOTS["__pydantic_private__"].__set__


def assembled(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """A `cls` holding `values` (its __dict__, taken as is) with `fields_set` marked set, no extra and no private
    state: what validation gives for a model without extra or private attributes, for values the caller already
    knows to be of their fields' types (a copy or a dump of our own validated records). Nothing is checked."""
    model = cls.__new__(cls)
    _set_dict(model, values)
    _set_fields_set(model, fields_set)
    _set_extra(model, None)
    _set_private(model, None)
    return model
