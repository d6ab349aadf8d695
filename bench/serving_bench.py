"""`make bench` (serving): the built-in server's latency and throughput against the model called in-process.

On the default model (the newest version under workspace/serving_model/chicago_taxi; `kfx run` makes one if there
is none), with real rows from the shipped CSV, in each round:
- the floor: the `serving_default` signature called in-process, one row, back to back and paced (a 1 ms pause
  between calls, as a client's round trip leaves it: TensorFlow's threads and the CPU then start cold, which costs
  about 0.4 ms a call here), and 100 rows;
- single-row predict over REST (kept-alive connection) and gRPC, one client: p50/p99;
- 100-row requests, 4 concurrent clients: predictions/s;
- 16 concurrent single-row clients, batching off and on: requests/s;
- the REST decode in-process (serving/codec.parse_body, then json_inputs.predict_inputs) of 100-row bodies;
- p99 while new versions load and warm up against steady p99, 16 clients (bench/swap_latency.py), on a copy;
- the shadow's p99 overhead on the primary path, 16 clients, without and with a copy of every request
  (bench/shadow_overhead.py).
Load comes from separate processes (bench/load.py) sending pre-encoded requests, so client-side encoding is not
counted as server time. Medians over BENCH_REPEATS rounds (default 3). Results: workspace/bench/serving.json, .md.
BENCH_ONLY=shadow runs the shadow measurement alone (workspace/bench/serving-shadow.json, .md); BENCH_SECONDS sets
the measured seconds of each load run (default 8).
"""

import contextlib
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from bench import results, shadow_overhead, swap_latency
from bench.load import write_payloads
from serving import codec, json_inputs, tensors, versions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "chicago_taxi"
MODEL_BASE = os.path.join(REPO, "workspace", "serving_model", MODEL_NAME)
DATA_CSV = os.path.join(REPO, "data", "chicago_taxi", "span-1", "data.csv")
SECONDS, WARMUP = float(os.environ.get("BENCH_SECONDS", "8")), 2.0
SAMPLE_ROWS = 1000
BATCHING = (
    "max_batch_size { value: 64 } batch_timeout_micros { value: 0 } num_batch_threads { value: 2 } "
    "max_enqueued_batches { value: 4 }"
)  # fmt: skip  TF Serving's CPU advice: threads = cores, timeout 0


def newest_version() -> str:
    """The folder of the version the server will serve, after a `kfx run` if nothing was pushed yet."""
    if versions.latest_complete_version(MODEL_BASE) is None:
        print("no pushed model yet: running `kfx run` to make one", flush=True)
        subprocess.run([sys.executable, "-m", "kfx.cli", "run"], cwd=REPO, check=True)
    served = versions.latest_complete_version(MODEL_BASE)
    if served is None:
        raise RuntimeError(f"`kfx run` pushed no model to {MODEL_BASE} (was it blessed?)")
    return served[1]


def sample_rows(dtypes: dict, count: int) -> list[dict]:
    """Real rows from the shipped CSV, typed as the signature wants (missing numbers as NaN)."""
    rows = []
    with open(DATA_CSV, newline="") as f:
        for raw in csv.DictReader(f):
            rows.append({
                name: raw[name] if dtype == "string" else float(raw[name]) if raw[name] else math.nan
                for name, dtype in dtypes.items()
            })  # fmt: skip
            if len(rows) == count:
                return rows
    return rows


def columns(rows: list[dict], dtypes: dict) -> dict[str, np.ndarray]:
    return {
        name: np.array([r[name] for r in rows], dtype=object if dtype == "string" else np.float64)
        for name, dtype in dtypes.items()
    }


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "p50_ms": round(ordered[len(ordered) // 2] / 1e3, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)] / 1e3, 3),
        "n": len(ordered),
    }


def measure_floor(version_dir: str, count: int) -> tuple[dict, dict]:
    """(floor, input dtypes): the signature called in-process on `count` sample rows, the floor any server adds to."""
    signature = tf.saved_model.load(version_dir).signatures["serving_default"]
    dtypes = {name: spec.dtype.name for name, spec in signature.structured_input_signature[1].items()}
    rows = sample_rows(dtypes, count)

    def call(batch: list[dict]) -> None:
        outputs = signature(**{k: tf.constant(v) for k, v in columns(batch, dtypes).items()})
        outputs["score"].numpy()

    def timings(size: int, count: int, pause: float = 0.0) -> list[float]:
        measured = []
        for i in range(count + 200):
            batch = [rows[(i * size + j) % len(rows)] for j in range(size)]
            started = time.perf_counter()
            call(batch)
            if i >= 200:
                measured.append((time.perf_counter() - started) * 1e6)
            if pause:
                time.sleep(pause)
        return measured

    hundred = timings(100, 500)
    floor = {
        "single_row_back_to_back": percentiles(timings(1, 3000)),
        "single_row": percentiles(timings(1, 3000, pause=0.001)),
        "rows_100": {**percentiles(hundred), "predictions_per_s": round(100 / (statistics.median(hundred) / 1e6))},
    }
    return floor, dtypes


def measure_rest_decode(bodies: list[bytes], dtypes: dict, count: int = 500) -> dict:
    """The server's REST decode of request bodies, in-process, from bytes to the numpy inputs the model gets."""
    input_dtypes = {name: tf.as_dtype(dtype) for name, dtype in dtypes.items()}
    timings = []
    for i in range(count + 50):
        started = time.perf_counter()
        json_inputs.predict_inputs(codec.parse_body(bodies[i % len(bodies)]), input_dtypes)
        if i >= 50:
            timings.append((time.perf_counter() - started) * 1e6)
    return percentiles(timings)


def payloads(rows: list[dict], dtypes: dict, size: int) -> dict[str, list[bytes]]:
    rest, grpc_requests = [], []
    for start in range(0, len(rows) - size + 1, size):
        batch = rows[start : start + size]
        rest.append(json.dumps({"instances": batch}, allow_nan=True).encode())
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL_NAME
        for name, values in columns(batch, dtypes).items():
            request.inputs[name].CopyFrom(tensors.to_proto(values))
        grpc_requests.append(request.SerializeToString())
    return {"rest": rest, "grpc": grpc_requests}


@contextlib.contextmanager
def server(scratch: str, batching: bool, base: str = MODEL_BASE, model_flags: list[str] | None = None):
    """The built-in server on loopback (`base`, or `model_flags` instead); stopped with SIGTERM, which must end it
    with exit code 0."""
    models = model_flags or [f"--model_base_path={base}", f"--model_name={MODEL_NAME}"]
    command = [sys.executable, "-m", "serving", *models, "--port=18500", "--rest_api_port=18501"]
    if batching:
        path = os.path.join(scratch, "batching.config")
        with open(path, "w") as f:
            f.write(BATCHING)
        command += ["--enable_batching", f"--batching_parameters_file={path}"]
    log = open(os.path.join(scratch, f"server-{os.path.basename(base)}-batching-{batching}.log"), "w")
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:18501/v1/models/{MODEL_NAME}", timeout=2) as reply:
                    if b"AVAILABLE" in reply.read():
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {log.name}")
            time.sleep(0.5)
        yield
    finally:
        process.terminate()
        code = process.wait(timeout=60)
        log.close()
        if code != 0:
            raise RuntimeError(f"server exited with {code} on SIGTERM; see {log.name}")


def load(scratch: str, protocol: str, requests: list[bytes], clients: int, processes: int = 1) -> dict:
    path = os.path.join(scratch, f"payloads-{protocol}-{len(requests[0])}.bin")
    write_payloads(path, requests)
    address = "127.0.0.1:18501" if protocol == "rest" else "127.0.0.1:18500"
    command = [sys.executable, "-m", "bench.load", "--protocol", protocol, "--address", address,
               "--path", f"/v1/models/{MODEL_NAME}:predict", "--payloads", path,
               "--clients", str(clients // processes), "--seconds", str(SECONDS), "--warmup", str(WARMUP)]  # fmt: skip
    children = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE) for _ in range(processes)]
    results = [json.loads(child.communicate()[0]) for child in children]
    latencies = [value for result in results for value in result["latencies_us"]]
    requests_done = sum(r["requests"] for r in results)
    return {
        **percentiles(latencies),
        "requests_per_s": round(requests_done / SECONDS),
        "errors": sum(r["errors"] for r in results),
    }


def swap_round(scratch: str, version_dir: str, single: dict) -> dict:
    """p99 during 3 swaps against steady p99 (medians over the swaps), on a copy of the model's base folder."""
    base = os.path.join(scratch, "swap-base")
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(version_dir, os.path.join(base, os.path.basename(version_dir)))
    addresses = {"rest": "127.0.0.1:18501", "grpc": "127.0.0.1:18500"}
    with server(scratch, batching=False, base=base):
        figures = swap_latency.measure(addresses, MODEL_NAME, base, version_dir, single, scratch, swaps=3)
    return {key: figures[key] for key in ("steady_p99_ms", "swap_p99_ms", "ratio", "errors")}


def one_round(scratch: str, single: dict, hundred: dict) -> dict:
    result = {}
    with server(scratch, batching=False):
        for protocol in ("rest", "grpc"):
            result[f"{protocol}_single_row"] = load(scratch, protocol, single[protocol], clients=1)
            rows_100 = load(scratch, protocol, hundred[protocol], clients=4, processes=2)
            result[f"{protocol}_rows_100"] = {**rows_100, "predictions_per_s": 100 * rows_100["requests_per_s"]}
            result[f"{protocol}_16_clients_batching_off"] = load(scratch, protocol, single[protocol], 16, 4)
    with server(scratch, batching=True):
        for protocol in ("rest", "grpc"):
            result[f"{protocol}_16_clients_batching_on"] = load(scratch, protocol, single[protocol], 16, 4)
    return result


def median_of(rounds: list[dict]) -> dict:
    """Each figure's median over the rounds (same nested keys)."""
    if isinstance(rounds[0], dict):
        return {key: median_of([r[key] for r in rounds]) for key in rounds[0]}
    return round(statistics.median(rounds), 3)


def run(repeats: int) -> dict:
    version_dir = newest_version()
    print(f"model: {version_dir}", flush=True)
    rounds = []
    with tempfile.TemporaryDirectory(prefix="kfx-serving-bench-") as scratch:
        for index in range(repeats):
            floor, dtypes = measure_floor(version_dir, SAMPLE_ROWS)
            rows = sample_rows(dtypes, SAMPLE_ROWS)
            single, hundred = payloads(rows, dtypes, 1), payloads(rows, dtypes, 100)
            measured = one_round(scratch, single, hundred)
            decode = measure_rest_decode(hundred["rest"], dtypes)
            swap = swap_round(scratch, version_dir, single)
            shadow = shadow_overhead.measure(scratch, version_dir, MODEL_NAME, single, server, load)
            rounds.append({"floor": floor, **measured, "rest_decode_100_rows": decode, "swap_under_load": swap,
                           "shadow_overhead": shadow})  # fmt: skip
            print(f"round {index + 1}: {json.dumps(rounds[-1])}", flush=True)
    return {**median_of(rounds), "rounds": len(rounds), "raw": rounds}


def summarize(result: dict) -> dict:
    floor, paced = result["floor"]["single_row_back_to_back"], result["floor"]["single_row"]
    summary = {"overhead_ms": {}, "overhead_over_back_to_back_ms": {}, "batching_speedup": {}}
    for protocol in ("rest", "grpc"):
        single = result[f"{protocol}_single_row"]
        for key, reference in (("overhead_ms", paced), ("overhead_over_back_to_back_ms", floor)):
            summary[key][protocol] = {
                "p50": round(single["p50_ms"] - reference["p50_ms"], 3),
                "p99": round(single["p99_ms"] - reference["p99_ms"], 3),
            }
        off = result[f"{protocol}_16_clients_batching_off"]["requests_per_s"]
        on = result[f"{protocol}_16_clients_batching_on"]["requests_per_s"]
        summary["batching_speedup"][protocol] = round(on / off, 2) if off else None
    rest_100, grpc_100 = (result[f"{p}_rows_100"]["predictions_per_s"] for p in ("rest", "grpc"))
    summary["rest_over_grpc_rows_100"] = round(rest_100 / grpc_100, 2) if grpc_100 else None
    summary["failed_requests"] = sum(
        value.get("errors", 0) for one in result["raw"] for value in one.values() if isinstance(value, dict)
    )
    overhead, speedup = summary["overhead_ms"], summary["batching_speedup"]
    summary["goals"] = {
        "overhead p50 <= 1 ms (REST, gRPC)": all(overhead[p]["p50"] <= 1.0 for p in overhead),
        "overhead p99 <= 2 ms (REST, gRPC)": all(overhead[p]["p99"] <= 2.0 for p in overhead),
        "p99 <= 6 ms REST, <= 5 ms gRPC": result["rest_single_row"]["p99_ms"] <= 6
        and result["grpc_single_row"]["p99_ms"] <= 5,
        ">= 20,000 predictions/s with 100-row requests": max(
            result[f"{p}_rows_100"]["predictions_per_s"] for p in ("rest", "grpc")
        )
        >= 20000,
        "batching on >= 2x off, 16 clients (REST, gRPC)": all((speedup[p] or 0) >= 2 for p in speedup),
        "p99 during a swap <= 3x steady p99, 16 clients": result["swap_under_load"]["ratio"] <= 3,
        "shadow adds <= 0.5 ms at p99, 16 clients (REST, gRPC)": shadow_overhead.goal_met(result["shadow_overhead"]),
        "no failed request": summary["failed_requests"] == 0,
    }
    return {**result, "summary": summary}


def markdown(result: dict) -> str:
    floor, summary = result["floor"], result["summary"]

    def row(label: str, figures: dict, throughput: str = "") -> str:
        return f"| {label} | {figures['p50_ms']} ms | {figures['p99_ms']} ms | {throughput} |"

    lines = [
        f"# Serving benchmark (built-in server, default model, loopback; median of {result['rounds']} rounds)",
        "",
        "| measurement | p50 | p99 | throughput |",
        "|---|---|---|---|",
        row("floor: serving_default in-process, 1 row, back to back", floor["single_row_back_to_back"]),
        row("floor: serving_default in-process, 1 row, paced (1 ms apart)", floor["single_row"]),
        row("floor: serving_default in-process, 100 rows", floor["rows_100"],
            f"{floor['rows_100']['predictions_per_s']:,.0f} predictions/s"),
    ]  # fmt: skip
    for protocol, label in (("rest", "REST"), ("grpc", "gRPC")):
        single, hundred = result[f"{protocol}_single_row"], result[f"{protocol}_rows_100"]
        off, on = result[f"{protocol}_16_clients_batching_off"], result[f"{protocol}_16_clients_batching_on"]
        lines += [
            row(f"{label}, 1 row, 1 client", single, f"{single['requests_per_s']:,.0f} req/s"),
            row(f"{label}, 100 rows, 4 clients", hundred, f"{hundred['predictions_per_s']:,.0f} predictions/s"),
            row(f"{label}, 1 row, 16 clients, batching off", off, f"{off['requests_per_s']:,.0f} req/s"),
            row(f"{label}, 1 row, 16 clients, batching on", on, f"{on['requests_per_s']:,.0f} req/s"),
        ]
    overhead, back_to_back = summary["overhead_ms"], summary["overhead_over_back_to_back_ms"]
    decode, swap = result["rest_decode_100_rows"], result["swap_under_load"]
    lines += [
        "",
        f"- overhead over the paced floor, p50/p99: REST {overhead['rest']['p50']}/{overhead['rest']['p99']} ms, "
        f"gRPC {overhead['grpc']['p50']}/{overhead['grpc']['p99']} ms (goal <= 1/2 ms); over the back-to-back floor: "
        f"REST {back_to_back['rest']['p50']}/{back_to_back['rest']['p99']} ms, "
        f"gRPC {back_to_back['grpc']['p50']}/{back_to_back['grpc']['p99']} ms",
        f"- batching on / off with 16 clients: REST {summary['batching_speedup']['rest']}x, "
        f"gRPC {summary['batching_speedup']['grpc']}x (goal >= 2x)",
        f"- REST decode of a 100-row body, in-process (codec.parse_body + json_inputs.predict_inputs), p50/p99: "
        f"{decode['p50_ms']}/{decode['p99_ms']} ms; 100-row throughput REST / gRPC: "
        f"{summary['rest_over_grpc_rows_100']}",
        f"- while a version loads and warms up (16 clients, median of 3 swaps a round): p99 {swap['swap_p99_ms']} ms "
        f"against {swap['steady_p99_ms']} ms steady, {swap['ratio']}x (goal <= 3x)",
        f"- failed requests, all rounds: {summary['failed_requests']}",
        "",
        *shadow_overhead.markdown_lines(result["shadow_overhead"]),
        "",
        "| goal | met |",
        "|---|---|",
        *[f"| {goal} | {'yes' if met else '**no**'} |" for goal, met in summary["goals"].items()],
    ]
    return "\n".join(lines) + "\n"


def run_shadow_only() -> None:
    """BENCH_ONLY=shadow: the shadow's overhead alone, one round."""
    version_dir = newest_version()
    signature = tf.saved_model.load(version_dir).signatures["serving_default"]
    dtypes = {name: spec.dtype.name for name, spec in signature.structured_input_signature[1].items()}
    single = payloads(sample_rows(dtypes, SAMPLE_ROWS), dtypes, 1)
    with tempfile.TemporaryDirectory(prefix="kfx-serving-bench-") as scratch:
        result = shadow_overhead.measure(scratch, version_dir, MODEL_NAME, single, server, load)
    result["goal_met"] = shadow_overhead.goal_met(result)
    title = f"# Shadow overhead (built-in server, {version_dir}, loopback, {SECONDS:g} s per load run)"
    results.write("serving-shadow", result, "\n".join([title, "", *shadow_overhead.markdown_lines(result)]) + "\n")


def main() -> None:
    if os.environ.get("BENCH_ONLY") == "shadow":
        run_shadow_only()
        return
    result = summarize(run(int(os.environ.get("BENCH_REPEATS", "3"))))
    results.write("serving", result, markdown(result))


if __name__ == "__main__":
    main()
