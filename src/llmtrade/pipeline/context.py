"""PipelineContext: the frozen bag of typed values handed from stage to stage.

A stage never mutates the context; `with_value` returns a new one. Keys are typed objects, not
strings, so a stage asks for `RESEARCH_PACKS` and gets a `list[ResearchPack]`, and reading a key
no earlier stage set raises MissingContextKey instead of returning None.
"""

from __future__ import annotations

import typing
from datetime import date
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmtrade.domain.records import assembled
from llmtrade.errors import MissingContextKey

T = TypeVar("T")


class ContextKey(Generic[T]):
    """A named, typed slot in the context. Two keys with the same name are the same slot."""

    def __init__(self, name: str, value_type: Any):
        self.name = name
        self.value_type = value_type
        # isinstance works on classes, not on list[Pitch]; check the container type for those.
        self._runtime_type = typing.get_origin(value_type) or value_type

    def check(self, value: object) -> None:
        if isinstance(self._runtime_type, type) and not isinstance(value, self._runtime_type):
            raise TypeError(f"context key {self.name!r} holds {self.value_type!r}, not {type(value).__name__}")

    def __repr__(self) -> str:
        return f"ContextKey({self.name!r})"


class StageReport(BaseModel):
    """How one stage of a run went: it did its work now (`ran`) or found its output stored (`loaded`)."""

    model_config = ConfigDict(frozen=True)

    name: str
    outcome: Literal["ran", "loaded"]
    seconds: float


class PipelineContext(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    run_id: str
    week_id: date | None = None
    values: MappingProxyType[str, Any] = Field(default_factory=lambda: MappingProxyType({}))
    # Names of the stages that found their output stored (set by the stages themselves) ...
    loaded: tuple[str, ...] = ()
    # ... and one report per finished stage, in order (appended by the Pipeline).
    reports: tuple[StageReport, ...] = ()

    @field_validator("values", mode="before")
    @classmethod
    def _read_only(cls, value: Any) -> MappingProxyType[str, Any]:
        return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))

    def get(self, key: ContextKey[T]) -> T:
        try:
            return self.values[key.name]
        except KeyError:
            raise MissingContextKey(key.name, list(self.values)) from None

    def has(self, key: ContextKey[Any]) -> bool:
        return key.name in self.values

    def with_value(self, key: ContextKey[T], value: T) -> PipelineContext:
        key.check(value)
        return self._updated({"values": MappingProxyType({**self.values, key.name: value})})

    def with_loaded(self, stage: str) -> PipelineContext:
        """This context, noting that `stage` loaded its stored output instead of working again."""
        if stage in self.loaded:
            return self
        return self._updated({"loaded": (*self.loaded, stage)})

    def with_report(self, report: StageReport) -> PipelineContext:
        return self._updated({"reports": (*self.reports, report)})

    def only(self, keys: tuple[ContextKey[Any], ...]) -> PipelineContext:
        """This context holding just `keys`: what a stage that declared them as its reads is shown."""
        wanted = {key.name for key in keys}
        return self._updated({"values": MappingProxyType({k: v for k, v in self.values.items() if k in wanted})})

    def merged(
        self, outputs: PipelineContext, keys: tuple[ContextKey[Any], ...], report: StageReport | None = None
    ) -> PipelineContext:
        """This context plus `outputs`' values for `keys` (and its loaded marks), and `report` when given."""
        written = {key.name: outputs.values[key.name] for key in keys}
        update: dict[str, Any] = {"values": MappingProxyType({**self.values, **written}), "loaded": outputs.loaded}
        if report is not None:
            update["reports"] = (*self.reports, report)
        return self._updated(update)

    def _updated(self, update: dict[str, Any]) -> PipelineContext:
        """`model_copy(update=update)` (no validation either) without its generic copying: a context is copied
        some ten times per stage, and model_copy's shallow copies of every attribute were most of that."""
        return assembled(type(self), {**self.__dict__, **update}, self.__pydantic_fields_set__ | update.keys())

    def keys(self) -> frozenset[str]:
        return frozenset(self.values)

    def with_values(self, *pairs: tuple[ContextKey[Any], Any]) -> PipelineContext:
        """This context with every (key, value) of `pairs` set, in order (a later pair of the same key wins):
        one copy for them all, each value checked as `with_value` checks it."""
        values = dict(self.values)
        for key, value in pairs:
            key.check(value)
            values[key.name] = value
        return self._updated({"values": MappingProxyType(values)})
