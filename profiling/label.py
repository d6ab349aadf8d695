"""The label rule `kfx init` writes: which values of the label column are positive, which negative, and why.

`--label COLUMN=V1,V2` names the positive values (`--negative` optionally the negative ones), `--label COLUMN>X` a
numeric rule, and `--label COLUMN` alone works for a column with two values: the one that reads as "yes" (1, yes,
true, y, t, positive), else the rarer one, is positive. Every value seen is then either positive or negative in the
rule written, so a value the sample never showed stops the run rather than silently counting as negative. Values that
differ from a named one only in case or surrounding spaces ('Male ', 'male' beside 'MALE') turn `fold_case` on; with
only positive values named, cells of punctuation alone ('.', '?': no class) are left out (`other: drop`), and every
other value is negative, said when there are several.
"""

import dataclasses
import math
import re

import pandas as pd

from components.window_example_gen import rows as rows_lib
from models import features
from pipeline.data import DataError

POSITIVE_WORDS = ("1", "yes", "true", "y", "t", "positive", "pos")
_SHOWN_VALUES = 12  # values listed in an error


@dataclasses.dataclass(frozen=True)
class LabelChoice:
    """A label rule and the counts behind it."""

    column: str
    reason: str
    counts: dict[str, int]  # non-missing values of the column in the sample, most common first
    missing: int
    one_of: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    other: str = "stop"  # values in neither set: stop the run, or drop their rows
    greater_than: float | None = None
    fold_case: bool = False  # values compared lowercased and stripped, as label.fold_case does

    @property
    def name(self) -> str:
        """The computed label's name: the column's safe TensorFlow name, with `_label`."""
        return features.safe_name(self.column) + "_label"

    def labels(self, values: pd.Series) -> pd.Series:
        """1.0 positive, 0.0 negative, NaN missing or dropped, for each cell of the label column."""
        if self.greater_than is not None:
            numbers = pd.to_numeric(values, errors="coerce")
            return (numbers > self.greater_than).astype("float64").where(numbers.notna())
        rule = rows_lib.Label(
            self.name, self.column, one_of=self.one_of, negative=self.negative, fold_case=self.fold_case
        )  # the row reader's own classification, as the run applies it
        classes = {True: 1.0, False: 0.0}
        return values.map(
            lambda value: classes.get(rule.classify(value), math.nan) if isinstance(value, str) else math.nan
        )


def choose(
    frame: pd.DataFrame,
    column: str,
    positive: tuple[str, ...] = (),
    negative: tuple[str, ...] = (),
    greater_than: float | None = None,
) -> LabelChoice:
    """The label rule for `column` of a sample, from what `--label` and `--negative` say; DataError when the data does
    not allow it (no such column, values not seen, a column of more than two values without COLUMN=V)."""
    if column not in frame.columns:
        raise DataError(f"--label {column!r}: no such column; the header is: {', '.join(frame.columns)}")
    values = frame[column]
    counts = {str(k): int(v) for k, v in values.value_counts(sort=True).items()}
    missing = int(values.isna().sum())
    listed = _listing(counts)
    if greater_than is not None:
        if negative:
            raise DataError("--negative applies to --label COLUMN=V1,V2, not to a numeric rule COLUMN>X")
        numbers = pd.to_numeric(values.dropna(), errors="coerce")
        if numbers.isna().any():
            text = _listing(values.dropna()[numbers.isna()].value_counts().to_dict())
            raise DataError(f"--label {column}>{greater_than:g}: '{column}' holds text ({text}); use COLUMN=V1,V2")
        above = int((numbers > greater_than).sum())
        reason = f"{column} > {greater_than:g}: {above:,} positive, {len(numbers) - above:,} negative in the sample"
        return LabelChoice(column, reason, counts, missing, greater_than=greater_than)
    if len(counts) < 2:
        raise DataError(f"label column '{column}' has {len(counts)} value(s) in the sample ({listed}); need two")
    if not positive:
        if negative:
            raise DataError("--negative needs the positive values too: --label COLUMN=V1,V2 --negative V3")
        if len(counts) > 2:
            numeric = pd.to_numeric(values.dropna(), errors="coerce").notna().all()
            rule = f", or a numeric rule: --label '{column}>X'" if numeric else ""
            raise DataError(
                f"label column '{column}' has {len(counts)} values ({listed}); name the positive ones: "
                f"--label '{column}=V1,V2' (and --negative V3 to leave the rest out){rule}"
            )
        positive, why = _pick_positive(counts)
    else:
        why = "as given"
    unseen = [value for value in positive + negative if value not in counts]
    if unseen:
        raise DataError(f"label value(s) {unseen} do not occur in '{column}' in the sample; its values: {listed}")
    named = {features.LabelRule.fold(value) for value in positive + negative}
    variants = [v for v in counts if v not in positive + negative and features.LabelRule.fold(v) in named]
    fold = features.LabelRule.fold if variants else str
    if variants:
        why += f"; {', '.join(map(repr, variants))} differ from a named value only in case or spaces: fold_case"
    covered = {fold(value) for value in positive + negative}
    left = {value: n for value, n in counts.items() if fold(value) not in covered}
    other = "stop"
    if not negative:
        marks = {value: n for value, n in left.items() if re.fullmatch(r"[^\w\s]+", value)}
        negative = tuple({fold(value): value for value in reversed(left) if value not in marks}.values())[::-1]
        left = marks
        if len(negative) > 1:
            why += "; every other value is negative (--negative V names the negatives and leaves the rest out)"
    if left and negative:
        other = "drop"
        why += f"; rows of other values are left out ({_listing(left)})"
    n_positive = sum(n for value, n in counts.items() if fold(value) in {fold(v) for v in positive})
    n_negative = sum(n for value, n in counts.items() if fold(value) in {fold(v) for v in negative})
    reason = (
        f"positive {', '.join(map(repr, positive))} ({n_positive:,}), negative {', '.join(map(repr, negative))} "
        f"({n_negative:,}): {why}"
    )
    return LabelChoice(
        column, reason, counts, missing, one_of=positive, negative=negative, other=other, fold_case=bool(variants)
    )


def _pick_positive(counts: dict[str, int]) -> tuple[tuple[str, ...], str]:
    """Of two values, the one that reads as yes, else the rarer (the first in sorted order on a tie)."""
    yes = [value for value in counts if value.strip().casefold() in POSITIVE_WORDS]
    if len(yes) == 1:
        return (yes[0],), f"{yes[0]!r} reads as yes"
    rarer = min(sorted(counts), key=lambda value: counts[value])
    return (rarer,), f"{rarer!r} is the rarer value"


def _listing(counts: dict) -> str:
    shown = [f"{value!r} {n:,}" for value, n in list(counts.items())[:_SHOWN_VALUES]]
    more = f", ... {len(counts) - _SHOWN_VALUES} more" if len(counts) > _SHOWN_VALUES else ""
    return ", ".join(shown) + more
