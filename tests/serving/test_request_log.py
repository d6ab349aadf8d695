"""Request logging configured as TF Serving configures it: `logging_config` per model in the model config file.

Sampled requests and responses must come back as valid `tensorflow.serving.PredictionLog` records naming the
version that answered, in complete (renamed) TFRecord files, rotated by size.
"""

import glob
import json
import urllib.request

import numpy as np
import tensorflow as tf
from server_process import builtin_server
from tensorflow_serving.apis import prediction_log_pb2
from toy_model import save_toy_model

from serving.client import GrpcClient, RestClient


def _config(base, logs, rates: dict[str, float]) -> str:
    models = "".join(
        f"""
  config {{
    name: "{name}" base_path: "{base}" model_platform: "tensorflow"
    logging_config {{
      log_collector_config {{ type: "tfrecord" filename_prefix: "{logs / name}" }}
      sampling_config {{ sampling_rate: {rate} }}
    }}
  }}"""
        for name, rate in rates.items()
    )
    return f"model_config_list {{{models}\n}}\n"


def _read(prefix) -> list[prediction_log_pb2.PredictionLog]:
    files = sorted(glob.glob(f"{prefix}-*.tfrecord"))
    return [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files)], files


def _post(server, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"http://{server.rest}{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def test_sampled_requests_become_prediction_logs(tmp_path):
    base, logs = tmp_path / "toy", tmp_path / "logs"
    save_toy_model(str(base / "7"), offset=7.0)
    config = tmp_path / "models.config"
    config.write_text(_config(base, logs, {"toy": 1.0, "sampled": 0.5, "quiet": 0.0}))
    flags = (f"--model_config_file={config}", "--request_log_max_file_bytes=1000")
    ready = ("toy", "sampled", "quiet")
    server = builtin_server(*flags, log_path=str(tmp_path / "server.log"), ready_models=ready).start()
    grpc_client, rest_client = GrpcClient(server.grpc), RestClient(server.rest)
    sent = []
    for i in range(10):
        row = {"x": np.array([float(i)], np.float32), "name": np.array([f"row{i}".encode()], object)}
        (grpc_client if i % 2 else rest_client).predict("toy", row)
        sent.append(row)
    _post(server, "/v1/models/toy:classify", {"signature_name": "classify", "examples": [{"x": 1.0}, {"x": 2.0}]})
    _post(server, "/v1/models/toy:regress", {"signature_name": "regress", "examples": [{"x": 3.0}]})
    for _ in range(200):
        rest_client.predict("sampled", {"x": np.array([1.0], np.float32), "name": np.array([b"s"], object)})
        rest_client.predict("quiet", {"x": np.array([1.0], np.float32), "name": np.array([b"q"], object)})
    assert server.stop() == 0, server.output()  # SIGTERM writes out what is queued

    records, files = _read(logs / "toy")
    assert len(files) > 1  # rotated at 1,000 bytes
    assert not glob.glob(str(logs / "*.tmp"))
    kinds = [r.WhichOneof("log_type") for r in records]
    assert kinds == ["predict_log"] * 10 + ["classify_log", "regress_log"]
    for record, row in zip(records[:10], sent, strict=True):
        assert record.log_metadata.model_spec.name == "toy" and record.log_metadata.model_spec.version.value == 7
        assert record.log_metadata.model_spec.signature_name == "serving_default"
        assert record.log_metadata.sampling_config.sampling_rate == 1.0 and record.log_metadata.timestamp_secs > 0
        request, response = record.predict_log.request, record.predict_log.response
        np.testing.assert_array_equal(tf.make_ndarray(request.inputs["x"]), row["x"])
        assert list(tf.make_ndarray(request.inputs["name"])) == list(row["name"])
        np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), 2 * row["x"] + 7)
        assert response.model_spec.version.value == 7
    classify = records[10].classify_log
    assert len(classify.request.input.example_list.examples) == 2
    assert [c.label for c in classify.response.result.classifications[0].classes] == ["neg", "pos"]
    assert records[11].regress_log.response.result.regressions[0].value == 13.0

    sampled, _ = _read(logs / "sampled")
    assert 60 <= len(sampled) <= 140  # 200 requests at rate 0.5
    assert _read(logs / "quiet")[1] == []
