"""Which raw columns the model uses, how each is encoded, and how the label is derived.

Pure Python, no TensorFlow: the pipeline builds a `FeatureConfig` from the configuration file and hands it to
Transform and Trainer as a plain dict (`custom_config`), so the same description drives preprocessing, training
and the serving signatures.
"""

import collections
import dataclasses
import re
from collections.abc import Iterable
from typing import Any

# Keys of the `custom_config` dict that Transform and Trainer receive.
FEATURES_KEY = "features"
HPARAMS_KEY = "hparams"
SEARCH_KEY = "search"  # the Tuner's search: algorithm, budget and space (pipeline/config_tuning.py)

# What str.strip and tf.strings.strip (absl's StripAsciiWhitespace) both remove.
ASCII_WHITESPACE = " \t\n\v\f\r"

# Token that stands for a missing categorical value, so "missing" gets its own vocabulary entry.
MISSING_TOKEN = "__missing__"

# Names TensorFlow accepts everywhere (Keras inputs and layers, SavedModel signature keys) and keeps as written.
SAFE_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
_SAFE_NAME = re.compile(SAFE_NAME_PATTERN)
_UNSAFE_CHARACTER = re.compile(r"[^A-Za-z0-9_]")


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


def safe_name(column: str) -> str:
    """The TensorFlow name of a raw column: the column itself when it matches SAFE_NAME_PATTERN, else every
    character outside [A-Za-z0-9_] replaced by "_", prefixed by "c_" unless it then starts with a letter
    ("mean radius" -> "mean_radius", "flc.grp" -> "flc_grp", "2023" -> "c_2023", "Sex (M/F)" -> "Sex__M_F_").

    serving/input_names.py holds a copy (serving/ does not import models/); a test keeps the two equal.
    """
    if _SAFE_NAME.match(column):
        return column
    name = _UNSAFE_CHARACTER.sub("_", column)
    return name if name[:1].isalpha() else f"c_{name}"  # only ASCII is left: isalpha is [A-Za-z]


def name_clashes(columns: Iterable[str]) -> list[tuple[str, ...]]:
    """Groups of distinct columns that share one safe name, each group in the columns' order. Case is ignored: a
    SavedModel signature refuses inputs whose names differ only in case ("Sex" and "sex")."""
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for column in dict.fromkeys(columns):
        groups[safe_name(column).lower()].append(column)
    return [tuple(group) for group in groups.values() if len(group) > 1]


def z_score_name(column: str) -> str:
    """Transformed feature holding the clipped z-score of a numeric column (a safe name: a Keras input)."""
    return f"{safe_name(column)}_z"


def bucket_name(column: str) -> str:
    """Transformed feature holding the quantile bucket id of a numeric or bucketized column (a safe name)."""
    return f"{safe_name(column)}_bucket"


def vocabulary_id_name(column: str) -> str:
    """Transformed feature holding the vocabulary id of a categorical column (a safe name)."""
    return f"{safe_name(column)}_id"
