"""TF Serving's runtime and example-count metrics on a real server's /monitoring/prometheus/metrics page, with the
names, types, labels and buckets of tensorflow_serving/servables/tensorflow/util.cc."""

import concurrent.futures
import http.client

import grpc
import numpy as np
from server_process import builtin_server
from tensorflow_serving.apis import inference_pb2, prediction_service_pb2_grpc
from toy_model import example, save_toy_model

from serving.client import GrpcClient, RestClient

ROW = {"x": np.array([1.0], np.float32), "name": np.array([b"m"], object)}
PREDICTS = 4


def _page(server) -> list[str]:
    connection = http.client.HTTPConnection(*server.rest.split(":"), timeout=30)
    connection.request("GET", "/monitoring/prometheus/metrics")
    return connection.getresponse().read().decode().splitlines()


def _multi_inference(server, examples: int) -> None:
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (("classify", "classify"), ("regress", "regress")):
        task = request.tasks.add(method_name=f"tensorflow/serving/{method}")
        task.model_spec.name, task.model_spec.signature_name = "toy", signature
    for x in range(examples):
        request.input.example_list.examples.add().ParseFromString(example(float(x)))
    with grpc.insecure_channel(server.grpc) as channel:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).MultiInference(request, timeout=30)


def test_runtime_latency_and_example_counts_as_tf_serving_names_them(tmp_path):
    save_toy_model(str(tmp_path / "toy" / "1"))
    (tmp_path / "monitoring.config").write_text("prometheus_config { enable: true }")
    (tmp_path / "batching.config").write_text("max_batch_size { value: 8 } batch_timeout_micros { value: 20000 }")
    server = builtin_server(f"--model_base_path={tmp_path / 'toy'}", "--model_name=toy",
                            f"--monitoring_config_file={tmp_path / 'monitoring.config'}", "--enable_batching",
                            f"--batching_parameters_file={tmp_path / 'batching.config'}",
                            log_path=str(tmp_path / "server.log"), ready_models=("toy",)).start()  # fmt: skip
    try:
        clients = [RestClient(server.rest) if i % 2 else GrpcClient(server.grpc) for i in range(PREDICTS)]
        with concurrent.futures.ThreadPoolExecutor(PREDICTS) as pool:  # batched together: still one run each
            assert [float(y["y"][0]) for y in pool.map(lambda c: c.predict("toy", ROW), clients)] == [3.0] * PREDICTS
        _multi_inference(server, examples=3)
        page = _page(server)
    finally:
        assert server.stop() == 0, server.output()
    runtime = ':tensorflow:serving:runtime_latency_count{model_name="toy",API="%s",runtime="TF1"} %d'
    assert "# TYPE :tensorflow:serving:runtime_latency histogram" in page
    assert runtime % ("Predict", 1 + PREDICTS) in page  # the warmup record's run counts, as in TF Serving
    assert runtime % ("Classify", 1) in page and runtime % ("Regress", 1) in page  # MultiInference's two tasks
    buckets = [line for line in page if line.startswith(':tensorflow:serving:runtime_latency_bucket{model_name="toy"')]
    assert buckets[0].startswith(
        ':tensorflow:serving:runtime_latency_bucket{model_name="toy",API="Predict",runtime="TF1",le="10"} '
    )
    assert len(buckets) == 3 * 34  # 33 bounds from 10 us by a factor 1.8, then +Inf
    assert "# TYPE :tensorflow:serving:request_example_counts histogram" in page
    counts = [line for line in page if line.startswith(":tensorflow:serving:request_example_counts")]
    assert counts[:3] == [
        ':tensorflow:serving:request_example_counts_bucket{model="toy",le="1"} 0',
        ':tensorflow:serving:request_example_counts_bucket{model="toy",le="2"} 0',
        ':tensorflow:serving:request_example_counts_bucket{model="toy",le="4"} 1',
    ]
    assert counts[14:16] == [
        ':tensorflow:serving:request_example_counts_bucket{model="toy",le="16384"} 1',
        ':tensorflow:serving:request_example_counts_bucket{model="toy",le="+Inf"} 1',
    ]
    assert sorted(counts[16:]) == [
        ':tensorflow:serving:request_example_counts_count{model="toy"} 1',
        ':tensorflow:serving:request_example_counts_sum{model="toy"} 3',
    ]
    assert "# TYPE :tensorflow:serving:request_example_count_total counter" in page
    assert ':tensorflow:serving:request_example_count_total{model="toy"} 3' in page
