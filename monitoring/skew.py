"""Training/serving skew: the model server's request logs against the training data of the version that answered.

Reads uncompressed `tensorflow.serving.PredictionLog` TFRecord files (our server's `tfrecord` log collector, or any
logger writing the same records), groups the rows by model and answering version, finds by lineage the statistics
of the data each version was trained on, and compares them with the statistics of the served rows
(skew_compare.py: TFDV's skew comparators, the change of the non-zero median of numeric inputs, and TFDV's anomalies
of the serving rows), against the thresholds of the `skew` section of the configuration.
Logs, statistics and reports are opened with tf.io.gfile, so gs:// (and s3:// with tensorflow-io) work as local paths.
"""

import collections
import dataclasses
import datetime
import json
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import pandas as pd
import tensorflow as tf
from ml_metadata import metadata_store
from tensorflow.core.example import example_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tensorflow_serving.apis import input_pb2, prediction_log_pb2
from tfx.types import artifact_utils, standard_artifacts

from models.features import safe_name
from models.signatures import EXAMPLES_INPUT, EXAMPLES_SIGNATURE
from monitoring import artifacts, lineage, online_output, request_logs, skew_compare
from monitoring.request_logs import LogError, absolute, log_files, one_line
from monitoring.skew_compare import Anomaly, Measurement
from pipeline.config import PipelineConfig
from serving import tensors

if TYPE_CHECKING:
    from monitoring.online import OnlineReport

TRAIN_SPLIT = "train"  # the split the model was trained on
SKEW_TEMPLATE = "skew.html.j2"  # in monitoring/templates/
_EXAMPLE_LOGS = ("classify_log", "regress_log", "multi_inference_log")  # requests carrying tf.Examples
_Stats = statistics_pb2.FeatureNameStatistics


@dataclasses.dataclass
class VersionSkew:
    """The requests one version answered, against the statistics of the data it was trained on."""

    model: str
    version: str
    requests: int
    rows: int
    training_statistics: str  # the folder of the train split in StatisticsGen's output
    skew: list[Measurement]
    anomalies: list[Anomaly]

    @property
    def over(self) -> list[Measurement]:
        """The measurements past their threshold."""
        return [m for m in self.skew if m.over]


@dataclasses.dataclass
class SkewReport:
    """What `kfx monitor` found: one entry per version of the configured model that answered logged requests."""

    logs: str
    files: list[str]
    config: str
    created: str
    versions: list[VersionSkew]
    ignored: dict[str, int]  # records not checked: other models, log types without request rows

    @property
    def skewed(self) -> bool:
        """True when any version has a measurement past its threshold."""
        return any(v.over for v in self.versions)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, with a `skewed` flag on the report and on each version."""
        data = dataclasses.asdict(self)
        data["skewed"] = self.skewed
        for version, entry in zip(self.versions, data["versions"], strict=True):
            entry["skewed"] = bool(version.over)
        return data


@dataclasses.dataclass
class _Requests:
    count: int = 0
    chunks: list[dict[str, np.ndarray]] = dataclasses.field(default_factory=list)


def read_requests(files: list[str]) -> tuple[dict[tuple[str, str], _Requests], dict[str, int]]:
    """Request rows grouped by (model, answering version), and the count of records without rows by kind."""
    groups: dict[tuple[str, str], _Requests] = collections.defaultdict(_Requests)
    ignored: collections.Counter = collections.Counter()
    for log in request_logs.records(files):
        columns = request_columns(log)
        if columns is None:
            ignored[log.WhichOneof("log_type") or "empty record"] += 1
            continue
        spec = log.log_metadata.model_spec
        group = groups[(spec.name, str(spec.version.value))]
        group.count += 1
        group.chunks.append(columns)
    return dict(groups), dict(ignored)


def request_columns(log: prediction_log_pb2.PredictionLog) -> dict[str, np.ndarray] | None:
    """Input name -> one value per row of the logged request; None for log types that carry no request rows."""
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        inputs = log.predict_log.request.inputs
        if log.log_metadata.model_spec.signature_name == EXAMPLES_SIGNATURE and EXAMPLES_INPUT in inputs:
            serialized = tensors.from_proto(inputs[EXAMPLES_INPUT]).reshape(-1)
            return _example_columns([example_pb2.Example.FromString(s) for s in serialized])
        columns = {name: _one_per_row(name, tensors.from_proto(tensor)) for name, tensor in inputs.items()}
        if len({len(values) for values in columns.values()}) > 1:
            raise LogError("a predict request whose inputs have different numbers of rows")
        return columns
    if kind in _EXAMPLE_LOGS:
        return _example_columns(_examples(getattr(log, kind).request.input))
    return None


def _one_per_row(name: str, values: np.ndarray) -> np.ndarray:
    if values.ndim == 0 or values.ndim == 1 or values.shape[1:] == (1,):
        return values.reshape(-1)
    raise LogError(f"input '{name}' has shape {list(values.shape)}; one value per row is expected")


def _examples(request_input: input_pb2.Input) -> list[example_pb2.Example]:
    if request_input.HasField("example_list"):
        return list(request_input.example_list.examples)
    context = request_input.example_list_with_context.context
    merged = []
    for example in request_input.example_list_with_context.examples:
        row = example_pb2.Example()
        row.CopyFrom(context)
        row.MergeFrom(example)
        merged.append(row)
    return merged


def _example_columns(examples: list[example_pb2.Example]) -> dict[str, np.ndarray]:
    names = sorted({name for example in examples for name in example.features.feature})
    columns = {name: np.full(len(examples), None, dtype=object) for name in names}
    for row, example in enumerate(examples):
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            values = list(getattr(feature, kind).value) if kind else []
            if len(values) > 1:
                raise LogError(f"tf.Example feature '{name}' has {len(values)} values; one per row is expected")
            columns[name][row] = values[0] if values else None
    return columns


def original_names(columns: dict[str, np.ndarray], raw_columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A request's columns keyed by the configured raw columns: serving_default's inputs are logged under their safe
    names ("mean_radius"), tf.Examples under the raw ones ("mean radius"), the training statistics' names."""
    raw_of = {safe_name(column): column for column in raw_columns}
    return {name if name in raw_columns else raw_of.get(name, name): values for name, values in columns.items()}


def _concatenate(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    names = sorted({name for chunk in chunks for name in chunk})
    sizes = [len(next(iter(chunk.values()), ())) for chunk in chunks]
    absent = [np.full(size, None, dtype=object) for size in sizes]  # a column a request did not send
    return {
        name: np.concatenate([chunk.get(name, empty) for chunk, empty in zip(chunks, absent, strict=True)])
        for name in names
    }


def serving_frame(columns: dict[str, np.ndarray], types: dict[str, int]) -> pd.DataFrame:
    """Request columns as TFDV must see them: NaN and "" become missing, each column gets its training type.

    `types` maps a column to its `FeatureNameStatistics.Type` in the training statistics. INT columns arrive as
    float64 (the serving signature's type) and become pandas' nullable Int64, truncated as the model's cast does.
    """
    return pd.DataFrame({name: _typed(_with_missing(values), types.get(name)) for name, values in columns.items()})


def _with_missing(values: np.ndarray) -> pd.Series:
    if values.dtype.kind in "fiub":
        return pd.Series(pd.array(values.astype(np.float64), dtype="Float64"))  # NaN -> <NA>
    present = [v for v in values if v is not None]
    if present and any(isinstance(v, bytes | str) for v in present):
        text = [v.decode("utf-8", "replace") if isinstance(v, bytes) else None if v is None else str(v) for v in values]
        return pd.Series([v if v else None for v in text], dtype="string")  # "" -> <NA>
    return pd.Series(pd.array(np.array([np.nan if v is None else v for v in values], np.float64), dtype="Float64"))


def _typed(series: pd.Series, feature_type: int | None) -> pd.Series:
    numeric = series.dtype == "Float64"
    if feature_type == _Stats.INT and numeric:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = ~np.isfinite(values)
        return pd.Series(pd.arrays.IntegerArray(np.trunc(np.where(missing, 0, values)).astype(np.int64), missing))
    if feature_type in (_Stats.STRING, _Stats.BYTES) and numeric and series.isna().all():
        return series.astype("string")
    # Anything else keeps what was sent: a string sent for a number is TFDV's type anomaly to report.
    return series


def feature_types(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, int]:
    """Column name -> `FeatureNameStatistics.Type` of the first dataset."""
    return {(f.path.step[0] if f.path.step else f.name): f.type for f in statistics.datasets[0].features}


def check(location: str, store: metadata_store.MetadataStore, config: PipelineConfig) -> SkewReport:
    """Reads the logs at `location` and checks each version of the configured model that answered requests."""
    files = log_files(location)
    groups, ignored = read_requests(files)
    model = config.serving.model_name
    for (name, _), requests in groups.items():
        if name != model:
            ignored[f"model {name}"] = ignored.get(f"model {name}", 0) + requests.count
    versions = sorted((v for name, v in groups if name == model), key=int)
    if not versions:
        raise LogError(f"{location}: no requests of model '{model}' in {len(files)} log files")
    # Every version must have its training data in this workspace before any statistics are computed.
    statistics = {version: artifacts.statistics(lineage.training_statistics(store, version)) for version in versions}
    results = []
    for version in versions:
        training = load_training_statistics(version, statistics[version])
        requests = groups[(model, version)]
        chunks = [original_names(chunk, config.features.raw_features) for chunk in requests.chunks]
        frame = serving_frame(_concatenate(chunks), feature_types(training))
        schema = skew_compare.skew_schema(training, config.features.raw_features, config.skew)
        serving = skew_compare.serving_statistics(frame, schema)
        skew, anomalies = skew_compare.compare(training, serving, schema, config.skew)
        split_uri = artifact_utils.get_split_uri([statistics[version]], TRAIN_SPLIT)
        results.append(VersionSkew(model, version, requests.count, len(frame), split_uri, skew, anomalies))
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return SkewReport(absolute(location), files, config.path, created, results, ignored)


def load_training_statistics(
    version: str, statistics: standard_artifacts.ExampleStatistics
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """The train split's statistics of a version (local or gs://); LineageError when they are missing or unreadable."""
    try:
        return artifacts.load_statistics(statistics, TRAIN_SPLIT)
    except tf.errors.NotFoundError:
        problem = "are missing"
    except (ValueError, tf.errors.OpError) as error:  # ValueError: the artifact has no train split
        problem = f"cannot be read: {one_line(error)}"
    raise lineage.LineageError(f"version {version}: the training statistics in {statistics.uri} {problem}")


def write_reports(report: SkewReport, json_path: str, html_path: str, online: "OnlineReport | None" = None) -> None:
    """Writes the report as JSON and as one self-contained HTML page (inline CSS, no scripts, no links); with
    `online`, both carry the online quality section too."""
    environment = jinja2.Environment(loader=jinja2.PackageLoader("monitoring", "templates"), autoescape=True)
    page = environment.get_template(SKEW_TEMPLATE).render(report=report, online=online, interval=online_output.interval)
    data = report.to_dict() | ({"online": online.to_dict()} if online is not None else {})
    online_output.write_texts({json_path: json.dumps(data, indent=2) + "\n", html_path: page})
