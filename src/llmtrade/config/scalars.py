"""The strict scalar types and the frozen base every config model is built from."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, StrictInt, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

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


def either(said: str) -> WrapValidator:
    """A union's one error, `must be {said}` (the value is named after it): pydantic reports each member's failure
    apart, under a path of its own (`retry_until.literal['next_job']: Input should be 'next_job'` above
    `retry_until.constrained-int: must be a whole number`), which a trial read as two settings. Every union in the
    config carries one (tests/test_config_strict.py checks)."""

    def check(value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError:
            quoted = isinstance(value, str) and value.strip().lstrip("+-").isdigit()
            hint = ", a number written without quotes" if quoted else ""
            raise PydanticCustomError("either", f"must be {said}{hint}") from None

    check.either = said  # type: ignore[attr-defined]
    return WrapValidator(check)
