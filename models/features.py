"""Which raw columns the model uses, how each is encoded, and how the label is derived.

Pure Python, no TensorFlow: the pipeline builds a `FeatureConfig` from the configuration file and hands it to
Transform and Trainer as a plain dict (`custom_config`), so the same description drives preprocessing, training
and the serving signatures.
"""

import dataclasses
from typing import Any

# Keys of the `custom_config` dict that Transform and Trainer receive.
FEATURES_KEY = "features"
HPARAMS_KEY = "hparams"

# What str.strip and tf.strings.strip (absl's StripAsciiWhitespace) both remove.
ASCII_WHITESPACE = " \t\n\v\f\r"

# Token that stands for a missing categorical value, so "missing" gets its own vocabulary entry.
MISSING_TOKEN = "__missing__"


@dataclasses.dataclass(frozen=True)
class LabelRule:
    """A binary label computed from raw columns: positive when `column` > `greater_than` (× `times`), or
    when `column` is one of `one_of` (negative: one of `negative` if given, else any other value; with `fold_case`
    values are compared as `fold` makes them). Columns used only by the label never reach the model's inputs. Built
    from the configuration's label section, field for field (pipeline/config.py), as the row reader's rows.Label is."""

    name: str
    column: str
    greater_than: float | None = None
    times: str | None = None
    one_of: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()  # none: every value not in one_of is negative
    other: str = "stop"  # values in neither one_of nor negative: "stop" the run, or "drop" their rows
    fold_case: bool = False  # compare fold(value)s

    @property
    def columns(self) -> tuple[str, ...]:
        """Raw columns the label is computed from."""
        return (self.column, self.times) if self.times else (self.column,)

    @staticmethod
    def fold(value: str) -> str:
        """A value as fold_case compares it: lowercased, without surrounding ASCII whitespace, as the graph's
        tf.strings.lower and tf.strings.strip make it (rows.Label.fold is the same rule)."""
        return value.strip(ASCII_WHITESPACE).lower()


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Feature groups: `numeric` are z-scored and quantile-bucketized, `bucketized` only bucketized (e.g.
    coordinates), `categorical` (strings or integers) get a vocabulary."""

    label: LabelRule
    numeric: tuple[str, ...] = ()
    bucketized: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    num_buckets: int = 20
    max_vocabulary_size: int = 1000

    @property
    def raw_features(self) -> tuple[str, ...]:
        """Raw columns the model reads, in a stable order: the inputs of the serving signature."""
        return self.numeric + self.bucketized + self.categorical

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Every raw column the pipeline reads: model inputs plus label columns."""
        extra = tuple(c for c in self.label.columns if c not in self.raw_features)
        return self.raw_features + extra

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureConfig":
        label = dict(data["label"])
        label["one_of"] = tuple(label.get("one_of") or ())
        label["negative"] = tuple(label.get("negative") or ())
        fields = {k: tuple(data.get(k) or ()) for k in ("numeric", "bucketized", "categorical")}
        return cls(
            label=LabelRule(**label),
            num_buckets=data.get("num_buckets", 20),
            max_vocabulary_size=data.get("max_vocabulary_size", 1000),
            **fields,
        )


def z_score_name(column: str) -> str:
    """Transformed feature holding the clipped z-score of a numeric column."""
    return f"{column}_z"


def bucket_name(column: str) -> str:
    """Transformed feature holding the quantile bucket id of a numeric or bucketized column."""
    return f"{column}_bucket"


def vocabulary_id_name(column: str) -> str:
    """Transformed feature holding the vocabulary id of a categorical column."""
    return f"{column}_id"
