"""Loads and validates the pipeline configuration file (YAML).

Every problem is reported as one `ConfigError` naming the file, the key and the fix. Relative paths in the file
are relative to the file's own directory.
"""

import dataclasses
import difflib
import os
import re
import types
import typing
from typing import Any

import yaml

from models.features import FeatureConfig, LabelRule
from models.hparams import HParams

# Evaluation metrics a threshold can name, mapped to their TFMA metric class.
METRICS = {"auc": "AUC", "accuracy": "BinaryAccuracy", "precision": "Precision", "recall": "Recall"}
# Kubeflow Pipelines' rule for pipeline names (tfx/orchestration/kubeflow/v2/pipeline_builder.py).
_PIPELINE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """Hash buckets of the deterministic train/eval split done by ExampleGen."""

    train: int = 2
    eval: int = 1


@dataclasses.dataclass(frozen=True)
class DataConfig:
    path: str
    schema: str | None = None
    split: SplitConfig = SplitConfig()
    window: int = 1  # train on the latest N spans


@dataclasses.dataclass(frozen=True)
class FeatureDrift:
    """Thresholds of TFDV's comparators for one feature (None: not checked) and what crossing them does."""

    jensen_shannon: float | None = None
    infinity_norm: float | None = None
    action: str | None = None


@dataclasses.dataclass(frozen=True)
class LabelDrift:
    max_rate_change: float = 0.1
    action: str = "block"


@dataclasses.dataclass(frozen=True)
class RowCountDrift:
    min_fraction: float = 0.1
    max_fraction: float = 10.0
    action: str = "warn"


@dataclasses.dataclass(frozen=True)
class DriftConfig:
    """The newest span against the previous one, checked before Transform."""

    default: FeatureDrift = FeatureDrift()  # unset values: see pipeline/drift.py DEFAULTS
    features: dict[str, FeatureDrift] = dataclasses.field(default_factory=dict)
    label: LabelDrift = LabelDrift()
    row_count: RowCountDrift = RowCountDrift()


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    train_steps: int
    hparams: HParams


@dataclasses.dataclass(frozen=True)
class SkewCheck:
    """Thresholds of TFDV's skew comparators for one feature (None: the default's)."""

    jensen_shannon: float | None = None
    infinity_norm: float | None = None


@dataclasses.dataclass(frozen=True)
class SkewConfig:
    """Serving requests against the training data of the version that answered them (`kfx monitor`)."""

    default: SkewCheck = SkewCheck(jensen_shannon=0.3, infinity_norm=0.2)
    features: dict[str, SkewCheck] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    slices: tuple[str, ...] = ()
    thresholds: dict[str, float] = dataclasses.field(default_factory=lambda: {"auc": 0.5})
    no_regression: tuple[str, ...] = ("auc",)
    # The candidate must beat the served model by more than this (absolute) to be pushed.
    min_improvement: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    model_name: str


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    path: str
    pipeline_name: str
    data: DataConfig
    features: FeatureConfig
    training: TrainingConfig
    evaluation: EvaluationConfig
    serving: ServingConfig
    drift: DriftConfig = DriftConfig()
    skew: SkewConfig = SkewConfig()


_SECTIONS = ("pipeline_name", "data", "label", "features", "training", "evaluation", "serving", "drift", "skew")
_OPTIONAL_SECTIONS = ("drift", "skew")


def load(path: str) -> PipelineConfig:
    """Reads and validates the configuration file at `path`."""
    if not os.path.isfile(path):
        raise ConfigError(f"configuration file '{path}' does not exist; pass --config with the path of a YAML file")
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return parse(raw, path)


def parse(raw: Any, path: str) -> PipelineConfig:
    """Validates an already-parsed YAML document; `path` names the file in errors and anchors relative paths."""
    where = _Where(path)
    raw = where.mapping(raw, "")
    where.known_keys(raw, _SECTIONS, "")
    for section in _SECTIONS:
        if section not in raw and section not in _OPTIONAL_SECTIONS:
            raise ConfigError(f"{path}: missing required key '{section}'")

    pipeline_name = where.typed(raw["pipeline_name"], str, "pipeline_name")
    if not _PIPELINE_NAME.match(pipeline_name):
        raise ConfigError(
            f"{path}: pipeline_name '{pipeline_name}' is invalid; use lowercase letters, digits and '-' "
            "(Kubeflow's rule), e.g. 'chicago-taxi'"
        )

    data = where.build(DataConfig, raw["data"], "data")
    base = os.path.dirname(os.path.abspath(path))
    data = dataclasses.replace(
        data,
        path=os.path.normpath(os.path.join(base, data.path)),
        schema=os.path.normpath(os.path.join(base, data.schema)) if data.schema else None,
    )
    if data.split.train < 1 or data.split.eval < 1:
        raise ConfigError(f"{path}: data.split: train and eval need at least 1 hash bucket each")
    if data.window < 1:
        raise ConfigError(f"{path}: data.window must be at least 1 (the number of latest spans to train on)")

    label = where.build(LabelRule, raw["label"], "label")
    if (label.greater_than is None) == (not label.one_of):
        raise ConfigError(f"{path}: label: set exactly one of 'greater_than' (numeric column) or 'one_of' (values)")
    if label.times and label.greater_than is None:
        raise ConfigError(f"{path}: label.times only applies together with label.greater_than")
    features = where.build(FeatureConfig, raw["features"], "features", given={"label": label})
    _check_features(features, where)

    training_raw = dict(where.mapping(raw["training"], "training"))
    train_steps = where.typed(training_raw.pop("train_steps", 2000), int, "training.train_steps")
    hparams = where.build(HParams, training_raw, "training")
    if train_steps < 1 or hparams.batch_size < 1 or hparams.steps_per_evaluation < 1:
        raise ConfigError(f"{path}: training: train_steps, batch_size and steps_per_evaluation must be >= 1")
    if not 0 <= hparams.dropout < 1:
        raise ConfigError(f"{path}: training.dropout must be in [0, 1)")

    evaluation = where.build(EvaluationConfig, raw["evaluation"], "evaluation")
    for metric in list(evaluation.thresholds) + list(evaluation.no_regression) + list(evaluation.min_improvement):
        if metric not in METRICS:
            raise ConfigError(
                f"{path}: evaluation: unknown metric '{metric}'; choose from {', '.join(sorted(METRICS))}"
            )
    if any(value < 0 for value in evaluation.min_improvement.values()):
        raise ConfigError(f"{path}: evaluation.min_improvement values must be >= 0 (0: any improvement)")
    unknown_slices = [s for s in evaluation.slices if s not in features.required_columns]
    if unknown_slices:
        raise ConfigError(
            f"{path}: evaluation.slices {unknown_slices} are not configured features; slice by feature columns"
        )

    serving = where.build(ServingConfig, raw["serving"], "serving")
    if not _MODEL_NAME.match(serving.model_name):
        raise ConfigError(f"{path}: serving.model_name '{serving.model_name}' must be a plain directory name")

    drift = where.build(DriftConfig, raw.get("drift"), "drift")
    _check_drift(drift, features, where)
    skew = where.build(SkewConfig, raw.get("skew"), "skew")
    for key, check in {
        "skew.default": skew.default,
        **{f"skew.features.{k}": v for k, v in skew.features.items()},
    }.items():
        for name in ("jensen_shannon", "infinity_norm"):
            value = getattr(check, name)
            if value is not None and not 0 < value <= 1:
                raise ConfigError(f"{path}: {key}.{name} must be in (0, 1], got {value}")
    unknown = [name for name in skew.features if name not in features.raw_features]
    if unknown:
        raise ConfigError(f"{path}: skew.features {unknown} are not model features (the serving inputs)")

    return PipelineConfig(
        path=os.path.abspath(path),
        pipeline_name=pipeline_name,
        data=data,
        features=features,
        training=TrainingConfig(train_steps=train_steps, hparams=hparams),
        evaluation=evaluation,
        serving=serving,
        drift=drift,
        skew=skew,
    )


def _check_drift(drift: DriftConfig, features: FeatureConfig, where: "_Where") -> None:
    actions = {"block", "warn"}
    checks = {"drift.default": drift.default, **{f"drift.features.{k}": v for k, v in drift.features.items()}}
    for key, check in checks.items():
        for name in ("jensen_shannon", "infinity_norm"):
            value = getattr(check, name)
            if value is not None and not 0 < value <= 1:
                raise ConfigError(f"{where.path}: {key}.{name} must be in (0, 1], got {value}")
        if check.action is not None and check.action not in actions:
            raise ConfigError(f"{where.path}: {key}.action must be 'block' or 'warn', got '{check.action}'")
    for key, action in (("drift.label", drift.label.action), ("drift.row_count", drift.row_count.action)):
        if action not in actions:
            raise ConfigError(f"{where.path}: {key}.action must be 'block' or 'warn', got '{action}'")
    unknown = [name for name in drift.features if name not in features.required_columns]
    if unknown:
        raise ConfigError(f"{where.path}: drift.features {unknown} are not configured features or label columns")
    if not 0 < drift.row_count.min_fraction <= 1 <= drift.row_count.max_fraction:
        raise ConfigError(f"{where.path}: drift.row_count needs 0 < min_fraction <= 1 <= max_fraction")


def _check_features(features: FeatureConfig, where: "_Where") -> None:
    columns = features.raw_features
    if not columns:
        raise ConfigError(f"{where.path}: features: list at least one column under numeric, bucketized or categorical")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise ConfigError(f"{where.path}: features: columns {duplicates} appear in more than one group; keep one")
    if features.label.column in columns:
        raise ConfigError(
            f"{where.path}: label.column '{features.label.column}' is also listed under features; the column the "
            "label is computed from must not be a model input (it would leak the answer)"
        )
    if features.num_buckets < 2 or features.max_vocabulary_size < 1:
        raise ConfigError(f"{where.path}: features: num_buckets must be >= 2 and max_vocabulary_size >= 1")


@dataclasses.dataclass
class _Where:
    """Builds typed values from YAML, with errors that name the file and the key."""

    path: str

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{self.path}: {key or 'the file'} must be a mapping of keys to values")
        return value

    def known_keys(self, value: dict[str, Any], allowed: typing.Iterable[str], key: str) -> None:
        allowed = list(allowed)
        for name in value:
            if name not in allowed:
                full = f"{key}.{name}" if key else name
                hint = difflib.get_close_matches(str(name), allowed, n=1)
                suggestion = f"did you mean '{hint[0]}'? " if hint else ""
                raise ConfigError(f"{self.path}: unknown key '{full}'; {suggestion}allowed here: {', '.join(allowed)}")

    def typed(self, value: Any, hint: Any, key: str) -> Any:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            if value is None:
                return None
            return self.typed(value, next(a for a in args if a is not type(None)), key)
        if origin is tuple:
            if not isinstance(value, list):
                raise ConfigError(f"{self.path}: {key} must be a list, e.g. [a, b]")
            return tuple(self.typed(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if origin is dict:
            items = self.mapping(value, key).items()
            return {self.typed(k, args[0], key): self.typed(v, args[1], f"{key}.{k}") for k, v in items}
        if dataclasses.is_dataclass(hint):
            return self.build(hint, value, key)
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(f"{self.path}: {key} must be {hint.__name__}, got {value!r}")
        return value

    def build(self, cls: type, value: Any, key: str, given: dict[str, Any] | None = None) -> Any:
        """Builds dataclass `cls` from YAML `value`; fields in `given` are set by the caller, not the file."""
        value = self.mapping(value, key)
        kwargs = dict(given or {})
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in kwargs}
        self.known_keys(value, fields, key)
        hints = typing.get_type_hints(cls)
        for name, field in fields.items():
            if name in value:
                kwargs[name] = self.typed(value[name], hints[name], f"{key}.{name}")
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{self.path}: missing required key '{key}.{name}'")
        return cls(**kwargs)
