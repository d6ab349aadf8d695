"""Request log files as the model server writes them (serving/request_log.py), for tests that need no model.

Each entry is one `tensorflow.serving.PredictionLog` with the fields of issue 15's contract: the answering version in
`log_metadata.model_spec.version.value`, the request id in `request_origin`, the route in `request_criticality` and
the time in `timestamp_secs`; the scores as the `score` output of serving_default (predict_log), as the classes of a
classify_log, or as the values of a regress_log.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from serving import tensors

MODEL = "chicago_taxi"


@dataclasses.dataclass
class Logged:
    """One request: its id, who answered, by which route, when, and each row's score."""

    request_id: str
    version: int
    route: str
    scores: list[float]
    timestamp: int = 1_700_000_000
    kind: str = "predict"  # predict, classify or regress
    model: str = MODEL


def prediction_log(entry: Logged) -> prediction_log_pb2.PredictionLog:
    """The PredictionLog the server writes for `entry`."""
    log = prediction_log_pb2.PredictionLog()
    metadata = log.log_metadata
    metadata.model_spec.name = entry.model
    metadata.model_spec.version.value = entry.version
    metadata.model_spec.signature_name = "serving_default"
    metadata.request_origin = entry.request_id
    metadata.request_criticality = entry.route
    metadata.timestamp_secs = entry.timestamp
    if entry.kind == "predict":
        log.predict_log.request.model_spec.name = entry.model
        log.predict_log.request.inputs["fare"].CopyFrom(tensors.to_proto(np.ones(len(entry.scores), np.float32)))
        scores = np.array(entry.scores, np.float32)
        log.predict_log.response.outputs["score"].CopyFrom(tensors.to_proto(scores))
    elif entry.kind == "classify":
        for score in entry.scores:
            row = log.classify_log.response.result.classifications.add()
            row.classes.add(label="0", score=1 - score)
            row.classes.add(label="1", score=score)
    else:
        for score in entry.scores:
            log.regress_log.response.result.regressions.add(value=score)
    return log


def write_logs(folder: str, entries: list[Logged], name: str = "chicago_taxi-20260101T000000Z-1-1") -> str:
    """Writes `entries` as one complete log file `<folder>/<name>.tfrecord`; returns the folder."""
    os.makedirs(folder, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(folder, f"{name}.tfrecord")) as writer:
        for entry in entries:
            writer.write(prediction_log(entry).SerializeToString())
    return folder
