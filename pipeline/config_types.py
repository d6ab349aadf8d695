"""The value types and the strict section decorator that the configuration file's sections are declared with."""

from typing import Annotated, Literal

import pydantic
from pydantic import BeforeValidator, Field, StrictFloat, StrictInt, StrictStr, WithJsonSchema

Column = Annotated[StrictStr, Field(min_length=1)]
Value = Annotated[
    StrictStr,
    BeforeValidator(lambda value: str(value) if type(value) is int else value),  # bools stay refused
    WithJsonSchema({"type": ["string", "integer"]}),
]
Count = Annotated[StrictInt, Field(ge=1)]
Share = Annotated[StrictFloat, Field(ge=0, le=1)]
Measure = Annotated[StrictFloat, Field(gt=0, le=1)]  # TFDV's comparators: 0 would flag every difference
Change = Annotated[StrictFloat, Field(gt=0)]  # a relative change, which may pass 1 (x2.5 is a change of 1.5)
Action = Literal["block", "warn"]

# Strict sections: unknown keys are errors, and so are NaN and infinite numbers.
section = pydantic.dataclasses.dataclass(frozen=True, config=pydantic.ConfigDict(extra="forbid", allow_inf_nan=False))
