"""The strict scalar types and the frozen base every config model is built from."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, StrictInt

_IDENT = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Identifier = Annotated[str, Field(pattern=_IDENT, max_length=32)]
# Strict scalars: pydantic's lax mode reads "yes", "on", 1 and "true" as True, and true or "5" as a
# number. A safety switch (live_trading_enabled) must be a real YAML boolean, and a setting that
# sizes money must be a real YAML number: a quoted or boolean value is a mistake to report, not to
# guess at. Integers are still accepted where a float is expected; inf and nan never are (a starting
# cash of .inf passes `gt=0`).
Flag = StrictBool
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Count = StrictInt
Fraction = Annotated[Number, Field(gt=0, le=1)]
