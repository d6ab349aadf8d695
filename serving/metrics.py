"""Prometheus metrics under TF Serving's names, labels, buckets and exposition.

prometheus_client keeps the counts; `render()` writes them the way TF Serving's PrometheusExporter does: the
TensorFlow metric path with "/" turned into ":" (`:tensorflow:serving:request_count`), `# TYPE` lines without
HELP, counters under their own names (no `_total` added), latencies in microseconds. The server's own metrics, which
TF Serving does not have, live under `:kfx:serving:` (version files, shutdown, routes and shadow copies).
"""

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


def _exponential(scale: float, growth: float, count: int) -> list[float]:
    """monitoring::Buckets::Exponential: `count` bounds scale * growth**i, then the open-ended bucket."""
    return [scale * growth**i for i in range(count)] + [math.inf]


_LATENCY_BUCKETS = _exponential(10, 1.8, 33)  # 10 us .. about 20 minutes, as TF Serving's request_latency
_QUEUE_BUCKETS = _exponential(100, 1.2, 52)  # batching_session/queuing_latency
_BATCH_SIZE_BUCKETS = [2.0**i for i in range(15)] + [math.inf]
_EXAMPLE_COUNT_BUCKETS = _exponential(1, 2, 15)  # request_example_counts: 1 .. 16384 examples
# TF Serving counters whose own name ends in "_total", by the name prometheus_client keeps for them.
_TOTAL_SUFFIXED = {":tensorflow:serving:request_example_count": ":tensorflow:serving:request_example_count_total"}
RUNTIME = "TF1"  # TF Serving's runtime label for SavedModel sessions (TFRT models say "TFRT")


class Metrics:
    """The server's metrics; every method is cheap and thread-safe."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        registry = self.registry
        self._request_count = Counter(
            ":tensorflow:serving:request_count", "The total number of requests.", ["model_name", "status"],
            registry=registry,
        )  # fmt: skip
        self._request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self._warmup_latency = Histogram(
            ":tensorflow:serving:model_warmup_latency",
            "Distribution of wall time (in microseconds) for warming up the model.",
            ["model_path", "status"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self._warmup_records = Counter(
            ":tensorflow:serving:model_warmup_records_read",
            "Total number of warmup records read during model warmup.", ["model_path", "status"], registry=registry,
        )  # fmt: skip
        self._load_attempts = Counter(
            ":tensorflow:cc:saved_model:load_attempt_count", "The number of times a SavedModel was loaded.",
            ["model_path", "status"], registry=registry,
        )  # fmt: skip
        self._load_latency = Counter(
            ":tensorflow:cc:saved_model:load_latency", "Latency in microseconds for SavedModels that were loaded.",
            ["model_path"], registry=registry,
        )  # fmt: skip
        self._queuing_latency = Histogram(
            ":tensorflow:serving:batching_session:queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing", ["thread_pool_name"],
            buckets=_QUEUE_BUCKETS, registry=registry,
        )  # fmt: skip
        self._batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size", "Distribution of processed batch sizes.",
            ["thread_pool_name"], buckets=_BATCH_SIZE_BUCKETS, registry=registry,
        )  # fmt: skip
        self._request_log_count = Counter(
            ":tensorflow:serving:request_log_count", "The total number of requests logged from the model server.",
            ["model_name", "status"], registry=registry,
        )  # fmt: skip
        self._runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.", ["model_name", "API", "runtime"],
            buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self._example_counts = Histogram(
            ":tensorflow:serving:request_example_counts", "The number of tensorflow.Examples per request.", ["model"],
            buckets=_EXAMPLE_COUNT_BUCKETS, registry=registry,
        )  # fmt: skip
        # prometheus_client drops a counter's "_total" suffix; TF Serving's name keeps it (see render()).
        self._example_count_total = Counter(
            ":tensorflow:serving:request_example_count_total", "The total number of tensorflow.Examples.", ["model"],
            registry=registry,
        )  # fmt: skip
        self._files_changed = Gauge(
            ":kfx:serving:version_files_changed",
            "1 while the files of a served version differ from those it was loaded from, until it is reloaded.",
            ["model_name", "version"], registry=registry,
        )  # fmt: skip
        self._route_count = Counter(
            ":kfx:serving:route_request_count",
            "Requests per version and route (stable, canary, shadow, direct, latest).",
            ["model_name", "version", "route", "status"], registry=registry,
        )  # fmt: skip
        self._route_latency = Histogram(
            ":kfx:serving:route_request_latency", "Wall time (in microseconds) of successful requests per route.",
            ["model_name", "version", "route"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self._shadow_count = Counter(
            ":kfx:serving:shadow_request_count", "Shadow copies: OK, DROPPED (queue full) or the error code.",
            ["model_name", "status"], registry=registry,
        )  # fmt: skip
        self._drain_cut = Counter(
            ":kfx:serving:shutdown_unfinished_requests",
            "Requests still running when the --drain_seconds deadline passed, answered UNAVAILABLE (REST 503).",
            ["entrypoint"], registry=registry,
        )  # fmt: skip

    def request(self, model_name: str, api: str, entrypoint: str, status: str, seconds: float) -> None:
        """One finished request; as in TF Serving, only successful ones enter the latency histogram."""
        self._request_count.labels(model_name, status).inc()
        if status == "OK":
            self._request_latency.labels(model_name, api, entrypoint).observe(seconds * 1e6)

    def routed(self, model_name: str, version: int, route: str, status: str, seconds: float) -> None:
        """One request that reached a version by a route; only successful ones enter the latency histogram."""
        self._route_count.labels(model_name, str(version), route, status).inc()
        if status == "OK":
            self._route_latency.labels(model_name, str(version), route).observe(seconds * 1e6)

    def shadowed(self, model_name: str, status: str) -> None:
        self._shadow_count.labels(model_name, status).inc()

    def load(self, model_path: str, seconds: float, ok: bool) -> None:
        self._load_attempts.labels(model_path, "success" if ok else "fail").inc()
        if ok:
            self._load_latency.labels(model_path).inc(seconds * 1e6)

    def warmup(self, model_path: str, seconds: float, records: int) -> None:
        self._warmup_latency.labels(model_path, "OK").observe(seconds * 1e6)
        self._warmup_records.labels(model_path, "OK").inc(records)

    def batch(self, size: int, queued_seconds: float) -> None:
        self._batch_size.labels("model_server_batch_threads").observe(size)
        self._queuing_latency.labels("model_server_batch_threads").observe(queued_seconds * 1e6)

    def request_logged(self, model_name: str, status: str) -> None:
        self._request_log_count.labels(model_name, status).inc()

    def runtime(self, model_name: str, api: str, seconds: float) -> None:
        """One successful model run (TF Serving records it around Session::Run, batch queueing included). The
        tasks of a MultiInference count here as their Classify/Regress runs; TF Serving records none for it."""
        self._runtime_latency.labels(model_name, api, RUNTIME).observe(seconds * 1e6)

    def examples(self, model_name: str, count: int) -> None:
        """The tf.Examples of one request (TF Serving records them for MultiInference only)."""
        self._example_counts.labels(model_name).observe(count)
        self._example_count_total.labels(model_name).inc(count)

    def files_changed(self, model_name: str, version: int, changed: bool) -> None:
        self._files_changed.labels(model_name, str(version)).set(1 if changed else 0)

    def unfinished_at_shutdown(self, entrypoint: str) -> None:
        self._drain_cut.labels(entrypoint).inc()

    def render(self) -> bytes:
        """The exposition text, as TF Serving's /monitoring/prometheus/metrics page."""
        lines = []
        for metric in self.registry.collect():
            samples = [s for s in metric.samples if not s.name.endswith("_created")]
            if not samples:
                continue
            counter_name = _TOTAL_SUFFIXED.get(metric.name, metric.name)
            lines.append(f"# TYPE {counter_name if metric.type == 'counter' else metric.name} {metric.type}")
            for sample in samples:
                name = counter_name if metric.type == "counter" else sample.name
                labels = ",".join(f'{key}="{_escape(key, value)}"' for key, value in sample.labels.items())
                lines.append(
                    f"{name}{{{labels}}} {_number(sample.value)}" if labels else f"{name} {_number(sample.value)}"
                )
        return ("\n".join(lines) + "\n").encode()


def _number(value: float) -> str:
    """As absl::StrCat prints it: whole numbers exactly, others with six significant digits."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def _escape(key: str, value: str) -> str:
    if key == "le":
        return _number(float(value))
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
