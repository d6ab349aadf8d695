"""Loads and validates the pipeline configuration file (YAML).

The file's shape is declared once, as pydantic dataclasses (`ConfigFile` and its sections): the same declaration
checks every key and value and is published as a JSON Schema (`kfx config schema`). Every problem is reported as one
`ConfigError` naming the file, the dotted key, the bad value and the fix. Relative paths in the file are relative to
the file's own directory.

Column names must be text: YAML reads an unquoted `2023` as a number and `yes` as a boolean, so such names are
refused with a hint to quote them. Cell values (`label.one_of`, `label.negative`, `data.missing_values`) may be whole
numbers, taken as their text (`1` is "1").
"""

import codecs
import dataclasses
import os
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import Field, StrictFloat, StrictInt, StrictStr

from components.champion_evaluator import policy as champion_policy
from models.features import (
    FeatureConfig,
    LabelRule,
    bucket_name,
    name_clashes,
    safe_name,
    vocabulary_id_name,
    z_score_name,
)
from models.hparams import HParams
from pipeline import config_errors
from pipeline.config_checks import DriftConfig, SkewConfig
from pipeline.config_label import LabelSection
from pipeline.config_rollout import RolloutConfig
from pipeline.config_tuning import TuningConfig
from pipeline.config_types import Column, Count, Share, Value, section

# Evaluation metrics a threshold can name, mapped to their TFMA metric class.
METRICS = {"auc": "AUC", "accuracy": "BinaryAccuracy", "precision": "Precision", "recall": "Recall"}
# Cells that mean "missing" (case-sensitive): pandas' default NA strings, plus "None", which pandas 2 also reads as
# missing (the pinned pandas 1.5 does not).
MISSING_VALUES = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


Metric = Literal[tuple(METRICS)]


@section
class SplitConfig:
    """Hash buckets of the deterministic train/eval split done by ExampleGen."""

    train: Count = Field(2, description="Hash buckets of the train split.")
    eval: Count = Field(1, description="Hash buckets of the eval split (held-out rows).")


@section
class DataConfig:
    """Where the CSV data is and how it is read and split."""

    path: Annotated[StrictStr, Field(min_length=1, description="A CSV file, a folder of CSVs or of span-<N>/ folders.")]
    delimiter: Literal["auto", ",", ";", "\t", "|"] = Field(
        "auto", description="Field separator; auto: detected from the first file's first lines (else ',')."
    )
    encoding: StrictStr = Field(
        "auto",
        min_length=1,
        description="Text encoding, a Python codec name; auto: UTF-8 if the start decodes, else cp1252.",
    )
    schema: StrictStr | None = Field(None, min_length=1, description="Curated schema (.pbtxt); none: inferred.")
    split: SplitConfig = SplitConfig()
    window: Count = Field(1, description="Train on the latest N spans.")
    missing_values: tuple[Value, ...] = Field(MISSING_VALUES, description="Cells that mean 'missing'.")
    max_missing_label_fraction: StrictFloat = Field(
        0.05, ge=0, lt=1, description="Rows without a label are left out; above this share the run stops."
    )
    min_rows_per_class: Count = Field(
        10, description="Fewer rows of either label class in the train or eval split stop the run before training."
    )

    def __post_init__(self) -> None:
        if self.encoding != "auto":
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(
                    f"encoding {self.encoding!r} is not a codec Python knows; use auto, utf-8, cp1252 or latin-1"
                ) from None


@section
class FeaturesSection:
    """Raw columns the model reads, by encoding."""

    numeric: tuple[Column, ...] = Field((), description="Z-scored and quantile-bucketized.")
    bucketized: tuple[Column, ...] = Field((), description="Quantile-bucketized only (e.g. coordinates).")
    categorical: tuple[Column, ...] = Field((), description="Strings or integers, with a vocabulary.")
    num_buckets: StrictInt = Field(FeatureConfig.num_buckets, ge=2, description="Quantile buckets per column.")
    max_vocabulary_size: Count = Field(FeatureConfig.max_vocabulary_size, description="Largest vocabulary kept.")

    def __post_init__(self) -> None:
        columns = self.numeric + self.bucketized + self.categorical
        if not columns:
            raise ValueError("list at least one column under numeric, bucketized or categorical")
        duplicates = sorted({column for column in columns if columns.count(column) > 1})
        if duplicates:
            raise ValueError(f"columns {duplicates} are listed more than once; keep each in one group")


@section
class TrainingConfig:
    """The step budget and the hyperparameters of `models.hparams.HParams` (defaults from there)."""

    train_steps: Count = Field(2000, description="Upper bound on training steps; early stopping may end sooner.")
    seed: StrictInt = Field(HParams.seed, ge=0, lt=2**31, description="Same seed + same data = same model.")
    batch_size: Count = Field(HParams.batch_size, description="Rows per training step.")
    steps_per_evaluation: Count = Field(HParams.steps_per_evaluation, description="Eval AUC is checked this often.")
    validation_rows: Count = Field(
        HParams.validation_rows,
        description="Eval rows scored at each check (the first ones of the eval split); the Evaluator scores all.",
    )
    early_stopping_patience: StrictInt = Field(
        HParams.early_stopping_patience, ge=0, description="Evaluations without improvement before stopping."
    )
    learning_rate: StrictFloat = Field(HParams.learning_rate, gt=0, description="Adam's learning rate.")
    hidden_units: tuple[Count, ...] = Field(HParams.hidden_units, description="Sizes of the hidden layers.")
    dropout: StrictFloat = Field(HParams.dropout, ge=0, lt=1, description="Share of units dropped in training.")
    embedding_dim: Count = Field(HParams.embedding_dim, description="Size of categorical embeddings.")
    bucket_embedding_dim: Count = Field(HParams.bucket_embedding_dim, description="Size of bucket embeddings.")

    @property
    def hparams(self) -> HParams:
        """What the Trainer's `run_fn` receives: everything here but the step budget."""
        values = dataclasses.asdict(self)
        del values["train_steps"]
        return HParams(**values)


@section
class ComparisonConfig:
    """How a candidate is compared with the served model: AUC on the same eval rows, with DeLong's interval."""

    policy: Literal[champion_policy.POLICIES] = Field(
        "non_inferiority",
        description="non_inferiority: push a newer model unless it may be worse by more than `margin`; "
        "superiority: push only a model better by more than `margin`, with the interval above 0.",
    )
    margin: StrictFloat = Field(
        0.01, ge=0, le=1, description="AUC. non_inferiority: the loss tolerated; superiority: the gain required."
    )
    confidence: StrictFloat = Field(0.95, ge=0.5, lt=1, description="Level of the AUC difference's interval.")
    min_slice_size: Count = Field(
        30, description="Slices with fewer eval rows are listed, but neither charted nor judged."
    )


# The Evaluator's default bound on the eval rows it scores (two models: ~60 s on 2 cores; the DeLong interval of the
# AUC difference was 0.0013 wide each side on the taxi data, an eighth of the default margin), and the smallest bound.
MAX_EVAL_ROWS = 10_000
MIN_EVAL_ROWS = 1_000

# Keys of earlier versions of the evaluation section, and what replaced them.
_REPLACED = {
    "min_improvement": "comparison: {policy: superiority, margin: <the AUC gain required>}",
    "no_regression": "comparison: {policy: non_inferiority, margin: <the AUC loss tolerated>}",
}


@section
class EvaluationConfig:
    """What TFMA computes and what a candidate must reach to be pushed."""

    slices: tuple[Column, ...] = Field((), description="Feature columns to compute metrics per value of.")
    thresholds: dict[Metric, Share] = Field(
        default_factory=lambda: {"auc": 0.5},
        min_length=1,
        description="Lower bounds on the eval split; below any: not pushed. At least one (TFX blesses nothing "
        "without).",
    )
    comparison: ComparisonConfig = ComparisonConfig()
    max_rows: StrictInt | None = Field(
        MAX_EVAL_ROWS,
        description="Most eval rows scored: beyond it, a deterministic hash sample of this many (the same rows for "
        "both models, intervals of the sample). 0 or null: every row.",
    )

    @pydantic.field_validator("max_rows")
    @classmethod
    def _max_rows(cls, value: int | None) -> int | None:
        if value is not None and value != 0 and value < MIN_EVAL_ROWS:
            raise ValueError(
                f"must be 0 or null (every eval row) or at least {MIN_EVAL_ROWS:,} (the most eval rows scored), "
                f"got {value}"
            )
        return value

    @pydantic.model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, raw: Any) -> Any:
        for key in _REPLACED if isinstance(raw, dict) else ():
            if key in raw:
                raise ValueError(f"'{key}' is no longer read; write {_REPLACED[key]} (README: 'Pushing a new model')")
        return raw


@section
class ServingConfig:
    """Where the Pusher puts blessed models: <serving dir>/<model_name>/<version>/."""

    model_name: Annotated[
        StrictStr,
        Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="a plain directory name, e.g. 'chicago_taxi'"),
    ]


@section
class ConfigFile:
    """The pipeline configuration file, e.g. configs/chicago_taxi.yaml."""

    pipeline_name: Annotated[
        StrictStr,
        Field(
            pattern=r"^[a-z0-9][a-z0-9-]{0,127}$",  # tfx/orchestration/kubeflow/v2/pipeline_builder.py
            description="lowercase letters, digits and '-' (Kubeflow's rule), e.g. 'chicago-taxi'",
        ),
    ]
    data: DataConfig
    label: LabelSection
    features: FeaturesSection
    training: TrainingConfig
    evaluation: EvaluationConfig
    serving: ServingConfig
    drift: DriftConfig = DriftConfig()
    skew: SkewConfig = SkewConfig()
    rollout: RolloutConfig = RolloutConfig()
    tuning: TuningConfig = TuningConfig()

    def __post_init__(self) -> None:
        model_inputs = self.features.numeric + self.features.bucketized + self.features.categorical
        if self.label.column in model_inputs:
            raise ValueError(
                f"label.column '{self.label.column}' is also listed under features; the column the label is "
                "computed from must not be a model input (it would leak the answer)"
            )
        columns = model_inputs + (self.label.column, self.label.times)
        clashes = name_clashes(column for column in columns if column)
        if clashes:
            names = " and ".join(f"'{column}'" for column in clashes[0])
            raise ValueError(
                f"columns {names} both map to the TensorFlow name '{safe_name(clashes[0][0])}' (characters other "
                "than letters, digits and '_' become '_', and case is ignored); rename one of them in the CSV and here"
            )
        transformed = (
            [z_score_name(c) for c in self.features.numeric]
            + [bucket_name(c) for c in self.features.numeric + self.features.bucketized]
            + [vocabulary_id_name(c) for c in self.features.categorical]
        )
        if self.label.name in transformed:
            raise ValueError(
                f"label.name '{self.label.name}' is also the name of a transformed feature (numeric features get "
                "<name>_z and <name>_bucket, bucketized <name>_bucket, categorical <name>_id); choose another name"
            )
        for key, names, allowed, what in (
            ("evaluation.slices", self.evaluation.slices, columns, "configured features; slice by feature columns"),
            ("drift.features", self.drift.features, columns, "configured features or label columns"),
            ("skew.features", self.skew.features, model_inputs, "model features (the serving inputs)"),
        ):
            unknown = [name for name in names if name not in allowed]
            if unknown:
                raise ValueError(f"{key} {unknown} are not {what}")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """The configuration as the pipeline uses it: absolute paths, and the label rule inside `features`."""

    path: str
    pipeline_name: str
    data: DataConfig
    features: FeatureConfig
    training: TrainingConfig
    evaluation: EvaluationConfig
    serving: ServingConfig
    drift: DriftConfig
    skew: SkewConfig
    rollout: RolloutConfig = RolloutConfig()
    tuning: TuningConfig = TuningConfig()


_FILE = pydantic.TypeAdapter(ConfigFile)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file, for editors (draft-07 keywords only, as YAML language servers)."""
    return {"$schema": "http://json-schema.org/draft-07/schema#", **_FILE.json_schema()}


def load(path: str) -> PipelineConfig:
    """Reads and validates the configuration file at `path`."""
    if not os.path.isfile(path):
        what = "is a folder, not a file" if os.path.isdir(path) else "does not exist"
        raise ConfigError(f"configuration file '{path}' {what}; pass --config with the path of a YAML file")
    try:
        with open(path, encoding="utf-8-sig") as f:  # -sig: a byte-order mark some editors write is skipped
            raw = yaml.load(f, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {config_errors.yaml_problem(error)}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {error.object[error.start]:#x} at offset {error.start})"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    return parse(raw, path)


def parse(raw: Any, path: str) -> PipelineConfig:
    """Validates an already-parsed YAML document; `path` names the file in errors and anchors relative paths."""
    if raw is None:
        raise ConfigError(f"{path}: the file is empty; start from a copy of configs/chicago_taxi.yaml")
    if isinstance(raw, dict):  # a section left empty (`drift:` with its lines commented out) takes its defaults
        raw = {key: {} if value is None else value for key, value in raw.items()}
    try:
        file = _FILE.validate_python(raw)
    except pydantic.ValidationError as error:
        raise ConfigError(f"{path}: {config_errors.describe(error.errors(), json_schema())}") from None
    base = os.path.dirname(os.path.abspath(path))
    data = dataclasses.replace(
        file.data,
        path=os.path.normpath(os.path.join(base, file.data.path)),
        schema=os.path.normpath(os.path.join(base, file.data.schema)) if file.data.schema else None,
    )
    return PipelineConfig(
        path=os.path.abspath(path),
        pipeline_name=file.pipeline_name,
        data=data,
        features=FeatureConfig(label=LabelRule(**dataclasses.asdict(file.label)), **dataclasses.asdict(file.features)),
        training=file.training,
        evaluation=file.evaluation,
        serving=file.serving,
        drift=file.drift,
        skew=file.skew,
        rollout=file.rollout,
        tuning=file.tuning,
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain loading silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":  # YAML merge keys may repeat
                continue
            if key_node.value in seen:
                problem = f"key '{key_node.value}' is given twice in one mapping; keep one"
                raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)
