"""Request logging as TF Serving configures it (`logging_config` per model), with a collector that writes files.

Open-source TF Serving registers no log collector type, so this server registers one, `tfrecord`:

    logging_config {
      log_collector_config { type: "tfrecord" filename_prefix: "/var/log/serving/chicago_taxi" }
      sampling_config { sampling_rate: 0.1 }
    }

Each sampled request and its response become one `tensorflow.serving.PredictionLog` (predict_log, classify_log or
regress_log; `log_metadata.model_spec` names the version that answered, `request_origin` holds the request id and
`request_criticality` the route: TF Serving's LogMetadata has no fields of their own) in TFRecord files named
`<filename_prefix>-<UTC start time>-<pid>-<n>.tfrecord`. A file is written as `.tfrecord.tmp` and renamed when it
reaches the size limit, is a minute old, or the server stops, so readers only ever see complete files.
Whether a request is logged is decided from its id (bucket("log:" + id) < sampling_rate), so the answer and the
shadow's copy of one request are both logged or both not, whatever the process.
A request never waits for the disk: entries go through a bounded queue to a writer thread; when the queue is full the
entry is dropped and counted (`:tensorflow:serving:request_log_count{status="RESOURCE_EXHAUSTED"}`).
"""

import datetime
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
from tensorflow_serving.config import logging_config_pb2

from serving import routing, tensors
from serving.metrics import Metrics
from serving.request_id import Call
from serving.servable import fill_classification_result, fill_regression_result

logger = logging.getLogger(__name__)
QUEUE_SIZE = 10_000
ROTATE_SECONDS = 60.0
_IDLE = object()  # no entry arrived for a second: time to check the file's age
_FILE_NUMBERS = itertools.count(1)  # process-wide, so loggers that replace each other never reuse a file name


class RequestLogger:
    """Samples one model's requests into PredictionLog TFRecord files on a background thread."""

    def __init__(
        self,
        model_name: str,
        config: logging_config_pb2.LoggingConfig,
        max_file_bytes: int,
        metrics: Metrics,
    ):
        self.model_name = model_name
        self.prefix = os.path.abspath(config.log_collector_config.filename_prefix)
        self.sampling_rate = config.sampling_config.sampling_rate
        self._max_file_bytes = max_file_bytes
        self._metrics = metrics
        self._queue: queue.Queue[Callable[[], prediction_log_pb2.PredictionLog] | None] = queue.Queue(QUEUE_SIZE)
        os.makedirs(os.path.dirname(self.prefix), exist_ok=True)
        self._thread = threading.Thread(target=self._write_loop, name=f"request-log-{model_name}", daemon=True)
        self._thread.start()

    def sampled(self, request_id: str) -> bool:
        return self.sampling_rate >= 1 or routing.bucket(f"log:{request_id}") < self.sampling_rate

    def log_predict(self, servable, signature_name: str, inputs: dict, outputs: dict, call: Call) -> None:
        def build() -> prediction_log_pb2.PredictionLog:
            request = predict_pb2.PredictRequest()
            _spec(request.model_spec, servable, signature_name, with_version=False)
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tensors.to_proto(value))
            response = predict_pb2.PredictResponse()
            _spec(response.model_spec, servable, signature_name)
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tensors.to_proto(value))
            log = self._log(servable, signature_name, call)
            log.predict_log.request.CopyFrom(request)
            log.predict_log.response.CopyFrom(response)
            return log

        self._enqueue(build)

    def log_classify(self, servable, signature_name: str, examples: list[bytes], outputs, call: Call) -> None:
        self._log_examples("classify_log", servable, signature_name, examples, fill_classification_result, outputs,
                           call)  # fmt: skip

    def log_regress(self, servable, signature_name: str, examples: list[bytes], values: np.ndarray, call: Call) -> None:
        self._log_examples("regress_log", servable, signature_name, examples, fill_regression_result, values, call)

    def _log_examples(self, kind: str, servable, signature_name: str, examples, fill, outputs, call: Call) -> None:
        def build() -> prediction_log_pb2.PredictionLog:
            log = self._log(servable, signature_name, call)
            request, response = getattr(log, kind).request, getattr(log, kind).response
            _spec(request.model_spec, servable, signature_name, with_version=False)
            _spec(response.model_spec, servable, signature_name)
            for serialized in examples:
                request.input.example_list.examples.add().ParseFromString(serialized)
            fill(response.result, outputs)
            return log

        self._enqueue(build)

    def close(self) -> None:
        """Writes what is queued and closes the current file."""
        self._queue.put(None)
        self._thread.join(timeout=60)

    def _log(self, servable, signature_name: str, call: Call) -> prediction_log_pb2.PredictionLog:
        log = prediction_log_pb2.PredictionLog()
        metadata = log.log_metadata
        _spec(metadata.model_spec, servable, signature_name)
        metadata.request_origin = call.request_id
        metadata.request_criticality = call.route
        metadata.sampling_config.sampling_rate = self.sampling_rate
        metadata.saved_model_tags.append("serve")
        metadata.timestamp_secs = int(time.time())
        return log

    def _enqueue(self, build: Callable[[], prediction_log_pb2.PredictionLog]) -> None:
        try:
            self._queue.put_nowait(build)
        except queue.Full:
            self._metrics.request_logged(self.model_name, "RESOURCE_EXHAUSTED")

    def _new_path(self) -> str:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return f"{self.prefix}-{stamp}-{os.getpid()}-{next(_FILE_NUMBERS)}.tfrecord"

    def _write_loop(self) -> None:
        writer, path, size, opened = None, "", 0, 0.0
        while True:
            try:
                build = self._queue.get(timeout=1.0)
            except queue.Empty:
                build = _IDLE
            if writer is not None and (
                build is None or size >= self._max_file_bytes or time.monotonic() - opened >= ROTATE_SECONDS
            ):
                writer.close()
                os.replace(path + ".tmp", path)
                writer = None
            if build is None:
                return
            if build is _IDLE:
                continue
            try:
                record = build().SerializeToString()
                if writer is None:
                    path, size, opened = self._new_path(), 0, time.monotonic()
                    writer = tf.io.TFRecordWriter(path + ".tmp")
                writer.write(record)
                writer.flush()
                size += len(record) + 16  # TFRecord framing: length, two CRCs
                status = "OK"
            except Exception:  # a log entry that cannot be written must not stop the writer
                logger.exception("request log for model %s: entry not written", self.model_name)
                status = "INTERNAL"
            self._metrics.request_logged(self.model_name, status)


def _spec(model_spec, servable, signature_name: str, with_version: bool = True) -> None:
    model_spec.name = servable.name
    model_spec.signature_name = signature_name or "serving_default"
    if with_version:
        model_spec.version.value = servable.version


class RequestLogs:
    """The request loggers of the configured models, rebuilt when the model config changes."""

    def __init__(self, max_file_bytes: int, metrics: Metrics):
        self._max_file_bytes = max_file_bytes
        self._metrics = metrics
        self._loggers: dict[str, RequestLogger] = {}
        self._lock = threading.Lock()

    def configure(self, model_configs) -> None:
        with self._lock:
            old, self._loggers = self._loggers, {}
            for model in model_configs:
                if model.HasField("logging_config") and model.logging_config.sampling_config.sampling_rate > 0:
                    self._loggers[model.name] = RequestLogger(
                        model.name, model.logging_config, self._max_file_bytes, self._metrics
                    )
        for request_logger in old.values():
            request_logger.close()

    def for_model(self, name: str, request_id: str) -> RequestLogger | None:
        """The model's logger if this request is to be logged, else None."""
        request_logger = self._loggers.get(name)
        return request_logger if request_logger is not None and request_logger.sampled(request_id) else None

    def close(self) -> None:
        self.configure([])
