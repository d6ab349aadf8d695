"""Reading the model server's request logs: uncompressed `tensorflow.serving.PredictionLog` TFRecord files.

Shared by the skew check (skew.py: the request rows) and online quality (online.py: the scores and who answered).
Per the request log contract of issue 15, each entry's `log_metadata` names the version that answered
(`model_spec.version.value`), the request id (`request_origin`), the route (`request_criticality`: stable, canary,
shadow, direct or latest) and the time of the request (`timestamp_secs`). Files are opened with tf.io.gfile, so
gs:// (and s3:// with tensorflow-io) work as local paths.
"""

import dataclasses
import glob
import os
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import prediction_log_pb2

from models.signatures import SCORE_OUTPUT
from serving import tensors

READ_BATCH = 1024  # records per call into TensorFlow: 20,000 entries read in 1.0-1.8 s instead of 5.7-11 s
POSITIVE_CLASSES = ("1", "true", "yes", "positive")  # a classify_log class label naming the positive class


class LogError(ValueError):
    """Request logs that cannot be used: none found, unreadable, or none for the configured model."""


@dataclasses.dataclass
class Entry:
    """One logged request as online quality needs it: who answered, for whom, when, and each row's score."""

    model: str
    version: str
    route: str  # "" in logs written before routes existed
    request_id: str  # "" in logs written before request ids existed
    timestamp: int  # seconds since the epoch
    scores: np.ndarray  # probability of the positive class, one per row of the request


def absolute(path: str) -> str:
    """A local path made absolute; a URI (gs://, s3://) as it is."""
    return path if "://" in path else os.path.abspath(path)


def one_line(error: Exception) -> str:
    """An error's message on one line (storage errors from gs:// span several)."""
    return " ".join(getattr(error, "message", str(error)).split())


def log_files(location: str) -> list[str]:
    """The complete log files in a folder (`*.tfrecord`) or of a `filename_prefix`; `.tmp` files are skipped."""
    try:
        pattern = os.path.join(glob.escape(location), "*.tfrecord")
        if not tf.io.gfile.isdir(location):
            pattern = f"{glob.escape(location)}-*.tfrecord"
        files = sorted(tf.io.gfile.glob(pattern))
    except tf.errors.OpError as error:
        raise LogError(f"cannot list the request logs at {location}: {one_line(error)}") from None
    if not files:
        raise LogError(f"no request log files match {pattern} (files still being written end in .tmp)")
    return files


def records(files: list[str]) -> Iterator[prediction_log_pb2.PredictionLog]:
    """Every entry of the files in order; a file that is not a PredictionLog TFRecord file is a LogError naming it.

    A LogError raised by the caller while it handles an entry is given the file's name too.
    """
    for path in files:
        try:
            for batch in tf.data.TFRecordDataset(path).batch(READ_BATCH):  # one eager call per record is slow
                for record in batch.numpy():
                    yield prediction_log_pb2.PredictionLog.FromString(record)
        except tf.errors.OpError as error:
            raise LogError(f"{path}: not a readable TFRecord file: {error.message}") from None
        except DecodeError:
            raise LogError(f"{path}: holds a record that is not a tensorflow.serving.PredictionLog") from None
        except LogError as error:
            raise LogError(f"{path}: {error}") from None


def scores(log: prediction_log_pb2.PredictionLog) -> np.ndarray | None:
    """The probability of the positive class per row of a logged response; None when the entry has none.

    predict_log: the `score` output (serving_default or from_examples); regress_log: the regression values;
    classify_log: the score of the class labelled 1/true/yes/positive, else of the second class (the positive one
    of a binary classifier), else of a single unlabelled class.
    """
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        outputs = log.predict_log.response.outputs
        if SCORE_OUTPUT not in outputs:
            return None
        values = tensors.from_proto(outputs[SCORE_OUTPUT])
        return values.reshape(values.shape[0] if values.ndim else 1, -1)[:, -1].astype(np.float64)
    if kind == "regress_log":
        return np.array([r.value for r in log.regress_log.response.result.regressions], dtype=np.float64)
    if kind == "classify_log":
        rows = log.classify_log.response.result.classifications
        return np.array([_positive_score(list(row.classes)) for row in rows], dtype=np.float64)
    return None


def _positive_score(classes: list) -> float:
    for entry in classes:
        if entry.label.strip().lower() in POSITIVE_CLASSES:
            return entry.score
    if len(classes) == 2:
        return classes[1].score
    if len(classes) == 1:
        return classes[0].score
    raise LogError(f"a classification with {len(classes)} classes and none labelled 1: no positive class")


def entries(files: list[str]) -> tuple[list[Entry], dict[str, int]]:
    """The entries with scores, and the count of those without (by log type) that were skipped."""
    found, skipped = [], {}
    for log in records(files):
        row_scores = scores(log)
        if row_scores is None:
            kind = log.WhichOneof("log_type") or "empty record"
            skipped[kind] = skipped.get(kind, 0) + 1
            continue
        metadata = log.log_metadata
        found.append(
            Entry(
                model=metadata.model_spec.name,
                version=str(metadata.model_spec.version.value),
                route=metadata.request_criticality,
                request_id=metadata.request_origin,
                timestamp=int(metadata.timestamp_secs),
                scores=row_scores,
            )
        )
    return found, skipped
