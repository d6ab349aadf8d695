"""The configuration file's `label` section: the binary label computed from raw columns, and its classes.

The one definition of the label: the graph's LabelRule (pipeline/config.py parse) and the row reader's rows.Label
(pipeline/data.py rules_of) are built from it field for field.
"""

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictStr

from models.features import SAFE_NAME_PATTERN, LabelRule
from pipeline.config_types import Column, Value, section


@section
class LabelSection:
    """A binary label computed from raw columns: `column` > `greater_than` (x `times`), or `column` in `one_of`
    (negative: in `negative` if given, else any other value)."""

    name: Annotated[
        StrictStr,
        Field(
            pattern=SAFE_NAME_PATTERN,  # the label is a tf.Transform output and Keras target: a TensorFlow name
            description="a name of letters, digits and '_' starting with a letter, e.g. 'big_tipper' (the computed "
            "label's name)",
        ),
    ]
    column: Annotated[Column, Field(description="Raw column the label comes from; never a model input.")]
    greater_than: StrictFloat | None = Field(None, description="Numeric rule: positive when column > this.")
    times: Column | None = Field(None, description="With greater_than: compare with greater_than x this column.")
    one_of: tuple[Value, ...] = Field((), description="Categorical rule: positive when column is one of these.")
    negative: tuple[Value, ...] = Field(
        (), description="With one_of: the negative values; none: every other value is negative."
    )
    other: Literal["stop", "drop"] = Field(
        "stop",
        description="With negative: values in neither list stop the run (stop) or their rows are left out (drop).",
    )
    fold_case: StrictBool = Field(
        False, description="With one_of: compare values ignoring case and surrounding spaces ('Male ' is 'MALE')."
    )

    def __post_init__(self) -> None:
        if (self.greater_than is None) == (not self.one_of):
            raise ValueError("set exactly one of 'greater_than' (numeric column) or 'one_of' (values)")
        if self.times and self.greater_than is None:
            raise ValueError("'times' only applies together with 'greater_than'")
        for key, used in (
            ("negative", bool(self.negative)),
            ("other", self.other != "stop"),
            ("fold_case", self.fold_case),
        ):
            if used and not self.one_of:
                raise ValueError(f"'{key}' only applies together with 'one_of' (a categorical label)")
        if self.other != "stop" and not self.negative:
            raise ValueError(
                "'other' only applies together with 'negative': without it every value not in one_of is negative"
            )
        fold = LabelRule.fold if self.fold_case else str
        both = sorted({fold(value) for value in self.one_of} & {fold(value) for value in self.negative})
        if both:
            folded = " (case and surrounding spaces ignored: fold_case)" if self.fold_case else ""
            raise ValueError(
                f"{', '.join(map(repr, both))} in both 'one_of' and 'negative'{folded}; list each value in one of them"
            )
