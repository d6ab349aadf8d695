"""Two models' AUC and accuracy on eval rows, overall and per slice, and the difference B - A with its interval.

Each model is loaded from its SavedModel and scores serialized tf.Examples through the `from_examples` signature;
the label comes from the `transform_features` signature (the rule the model was trained with), the slice values from
the raw examples. When both were evaluated on the same eval rows (byte for byte) the comparison is paired: DeLong's
test on the same rows for AUC (components/champion_evaluator/delong.py) and the mean of per-row differences for
accuracy. Otherwise each model is scored on its own run's eval rows and the intervals are unpaired: the variances of
two independent estimates add (DeLong's variance of each AUC; the binomial variance of each accuracy). Unpaired
intervals are wider, and a difference in them mixes the models with the rows.
"""

import dataclasses
import glob
import hashlib
import math
import os
from typing import Any

import numpy as np
from ml_metadata.proto import metadata_store_pb2

from components.champion_evaluator import delong
from models.signatures import EXAMPLES_INPUT, EXAMPLES_SIGNATURE, SCORE_OUTPUT, TRANSFORM_SIGNATURE

EVAL_SPLIT = "eval"
MISSING = "(missing)"
SHOWN_VALUES = 25  # values of one slice feature compared, the most frequent first
_BATCH = 1024
PAIRED, UNPAIRED = "paired", "unpaired"


@dataclasses.dataclass
class Scored:
    """One model's scores on a set of eval rows, the rows' labels and their value of each slice feature."""

    labels: np.ndarray
    scores: np.ndarray
    slices: dict[str, np.ndarray]


@dataclasses.dataclass
class MetricRow:
    """A and B on one slice (feature "" and value "overall": every row); None where a value cannot be computed."""

    feature: str
    value: str
    rows_a: int
    rows_b: int
    auc_a: float | None
    auc_b: float | None
    auc_difference: float | None  # B - A
    auc_lower: float | None
    auc_upper: float | None
    accuracy_a: float | None
    accuracy_b: float | None
    accuracy_difference: float | None
    accuracy_lower: float | None
    accuracy_upper: float | None
    judged: bool  # large enough for an interval: min_slice_size rows and both classes on each side


@dataclasses.dataclass
class Metrics:
    """The comparison of the two models' predictions."""

    pairing: str  # PAIRED or UNPAIRED
    method: str  # in words, for the reader
    confidence: float
    min_slice_size: int
    overall: MetricRow
    slices: list[MetricRow]


def read_eval_rows(examples: Any) -> list[bytes]:
    """The serialized tf.Examples of the eval split of an Examples artifact (a TFX artifact), in file order."""
    import tensorflow as tf
    from tfx.types import artifact_utils

    pattern = os.path.join(artifact_utils.get_split_uri([examples], EVAL_SPLIT), "*")
    files = sorted(glob.glob(pattern))
    return [record.numpy() for record in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def rows_digest(rows: list[bytes]) -> str:
    """sha256 over the rows in order: equal digests, the same eval rows."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(len(row).to_bytes(8, "little") + row)
    return digest.hexdigest()


def score(model_dir: str, rows: list[bytes], label: str, slice_features: list[str]) -> Scored:
    """The model's scores and labels on `rows`, and each row's value of every slice feature."""
    import tensorflow as tf

    loaded = tf.saved_model.load(model_dir)
    scores, labels = [], []
    for start in range(0, len(rows), _BATCH):
        batch = {EXAMPLES_INPUT: tf.constant(rows[start : start + _BATCH])}
        scores.append(loaded.signatures[EXAMPLES_SIGNATURE](**batch)[SCORE_OUTPUT].numpy().reshape(-1))
        labels.append(loaded.signatures[TRANSFORM_SIGNATURE](**batch)[label].numpy().reshape(-1))
    return Scored(
        labels=np.concatenate(labels) if labels else np.zeros(0),
        scores=np.concatenate(scores) if scores else np.zeros(0),
        slices=slice_values(rows, slice_features),
    )


def slice_values(rows: list[bytes], features: list[str]) -> dict[str, np.ndarray]:
    """Each feature's first value in every row as text, MISSING where the row has none."""
    from tensorflow.core.example import example_pb2

    values: dict[str, list[str]] = {feature: [] for feature in features}
    for row in rows:
        example = example_pb2.Example.FromString(row).features.feature
        for feature in features:
            kind = example[feature].WhichOneof("kind") if feature in example else None
            found = getattr(example[feature], kind).value if kind else []
            first = found[0] if len(found) else None
            text = first.decode("utf-8", "replace") if isinstance(first, bytes) else first
            values[feature].append(MISSING if text is None or text == "" else str(text))
    return {feature: np.array(found, dtype=object) for feature, found in values.items()}


def compare(a: Scored, b: Scored, paired: bool, confidence: float, min_slice_size: int, rows_note: str) -> Metrics:
    """B - A overall and per slice value (the SHOWN_VALUES most frequent values of each feature)."""
    z = delong.z_score(confidence)
    everything = (np.ones(len(a.labels), bool), np.ones(len(b.labels), bool))
    overall = _row("", "overall", a, b, everything, paired, z, min_slice_size)
    slices = []
    for feature in b.slices:
        counts: dict[str, int] = {}
        for value in [*a.slices.get(feature, []), *b.slices[feature]]:
            counts[value] = counts.get(value, 0) + 1
        for value in sorted(counts, key=lambda v: (-counts[v], v))[:SHOWN_VALUES]:
            masks = (a.slices[feature] == value, b.slices[feature] == value)
            slices.append(_row(feature, value, a, b, masks, paired, z, min_slice_size))
    if paired:
        method = f"paired: both models scored the same {len(b.labels):,} eval rows; AUC by DeLong's test"
    else:
        method = (
            f"unpaired: the eval rows differ ({rows_note}); A scored its {len(a.labels):,} rows and B its "
            f"{len(b.labels):,}; independent DeLong intervals, wider, and the difference mixes models and rows"
        )
    return Metrics(PAIRED if paired else UNPAIRED, method, confidence, min_slice_size, overall, slices)


def _row(feature, value, a: Scored, b: Scored, masks, paired: bool, z: float, min_size: int) -> MetricRow:
    labels_a, scores_a = a.labels[masks[0]], a.scores[masks[0]]
    labels_b, scores_b = b.labels[masks[1]], b.scores[masks[1]]
    auc_a, auc_b, auc_diff, auc_se = None, None, None, None
    if paired:
        found = delong.paired_auc(labels_b, scores_b, scores_a)
        if found is not None:
            auc_a, auc_b, auc_diff, auc_se = found.baseline, found.candidate, found.difference, found.std_error
    else:
        one, other = delong.auc_with_error(labels_a, scores_a), delong.auc_with_error(labels_b, scores_b)
        if one is not None and other is not None:
            auc_a, auc_b, auc_diff = one[0], other[0], other[0] - one[0]
            auc_se = math.hypot(one[1], other[1])
    right_a = ((scores_a >= 0.5) == (labels_a > 0.5)).astype(float)
    right_b = ((scores_b >= 0.5) == (labels_b > 0.5)).astype(float)
    accuracy_a = float(right_a.mean()) if len(right_a) else None
    accuracy_b = float(right_b.mean()) if len(right_b) else None
    accuracy_diff, accuracy_se = None, None
    if accuracy_a is not None and accuracy_b is not None:
        accuracy_diff = accuracy_b - accuracy_a
        if paired and len(right_b) > 1:
            accuracy_se = float(np.std(right_b - right_a, ddof=1) / math.sqrt(len(right_b)))
        elif not paired and len(right_a) > 1 and len(right_b) > 1:
            accuracy_se = math.sqrt(
                accuracy_a * (1 - accuracy_a) / len(right_a) + accuracy_b * (1 - accuracy_b) / len(right_b)
            )
    judged = auc_se is not None and min(len(labels_a), len(labels_b)) >= min_size
    return MetricRow(
        feature=feature,
        value=value,
        rows_a=len(labels_a),
        rows_b=len(labels_b),
        auc_a=auc_a,
        auc_b=auc_b,
        auc_difference=auc_diff,
        auc_lower=None if auc_se is None else auc_diff - z * auc_se,
        auc_upper=None if auc_se is None else auc_diff + z * auc_se,
        accuracy_a=accuracy_a,
        accuracy_b=accuracy_b,
        accuracy_difference=accuracy_diff,
        accuracy_lower=None if accuracy_se is None else accuracy_diff - z * accuracy_se,
        accuracy_upper=None if accuracy_se is None else accuracy_diff + z * accuracy_se,
        judged=judged,
    )


def as_tfx_examples(record: metadata_store_pb2.Artifact) -> Any:
    """An Examples record from ML Metadata as TFX's Examples artifact (to find its splits)."""
    from tfx.types import standard_artifacts

    from monitoring import artifacts

    return artifacts.tfx_artifact(record, standard_artifacts.Examples)
