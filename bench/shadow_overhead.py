"""The shadow's cost on the primary path: p99 of 16 single-row clients without and with a shadow copy of every request.

In one server run (same process, same warm model): the served version is copied as a second version; labels stable
(the first) and shadow (the copy); the routing file switches shadow_sample between 0 and 1 (applied at once with
HandleReloadConfigRequest), in alternating phases (off, on, off, on, ...) so drift in the machine's load falls on both
sides (BENCH_SHADOW_PHASES pairs, default 2). Each phase runs 16 clients (4 load processes) over REST, then over
gRPC. Reported per protocol: the p50/p99 of the primary requests off and on (medians over the phases), the difference
(goal: p99 <= 0.5 ms more), the spread of p99 between the "off" phases (the noise the difference must stand out of),
throughput, and the shadow copies run and dropped while on (from the server's Prometheus page).
"""

import os
import re
import shutil
import urllib.request
from collections.abc import Callable

from serving import routing
from serving.client import GrpcClient
from serving.config import read_model_config_file

REST, GRPC = "127.0.0.1:18501", "127.0.0.1:18500"
GOAL_MS = 0.5


def _config_text(base: str, model_name: str) -> str:
    return f"""model_config_list {{
  config {{
    name: "{model_name}" base_path: "{base}" model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "shadow" value: 2 }}
  }}
}}
"""


def _shadow_counts(model_name: str) -> dict[str, float]:
    with urllib.request.urlopen(f"http://{REST}/monitoring/prometheus/metrics", timeout=30) as reply:
        page = reply.read().decode()
    pattern = rf':kfx:serving:shadow_request_count{{model_name="{model_name}",status="(\w+)"}} (\S+)'
    return {status: float(value) for status, value in re.findall(pattern, page)}


def measure(scratch: str, version_dir: str, model_name: str, single: dict[str, list[bytes]], server: Callable,
            load: Callable, phases: int = int(os.environ.get("BENCH_SHADOW_PHASES", "2"))) -> dict:  # fmt: skip
    """`server(scratch, batching, model_flags=...)` and `load(scratch, protocol, requests, clients, processes)` are
    serving_bench's."""
    base = os.path.join(scratch, "shadow-base", model_name)
    shutil.rmtree(os.path.dirname(base), ignore_errors=True)
    for version in ("1", "2"):
        shutil.copytree(version_dir, os.path.join(base, version))
    config_path = os.path.join(scratch, "shadow-models.config")
    with open(config_path, "w") as f:
        f.write(_config_text(base, model_name))
    monitoring = os.path.join(scratch, "monitoring.config")
    with open(monitoring, "w") as f:
        f.write("prometheus_config { enable: true }\n")
    routing_path = os.path.join(scratch, "routing.json")
    flags = [f"--model_config_file={config_path}", f"--routing_config_file={routing_path}",
             f"--monitoring_config_file={monitoring}"]  # fmt: skip
    runs: dict[str, dict[str, list[dict]]] = {p: {"off": [], "on": []} for p in ("rest", "grpc")}
    shadow = {"ok": 0.0, "dropped": 0.0, "failed": 0.0}
    with server(scratch, batching=False, model_flags=flags):
        client = GrpcClient(GRPC)
        try:
            for _ in range(phases):
                for side, sample in (("off", 0.0), ("on", 1.0)):
                    routes = {model_name: routing.ModelRoute(shadow_sample=sample)}
                    routing.write(routing_path, routing.RoutingConfig(models=routes))
                    client.reload_config(read_model_config_file(config_path))
                    before = _shadow_counts(model_name)
                    for protocol in ("rest", "grpc"):
                        runs[protocol][side].append(load(scratch, protocol, single[protocol], 16, 4))
                    after = _shadow_counts(model_name)
                    for status, value in after.items():
                        key = {"OK": "ok", "DROPPED": "dropped"}.get(status, "failed")
                        shadow[key] += value - before.get(status, 0.0)
        finally:
            client.close()
    result = {}
    for protocol, sides in runs.items():
        figures = {side: _pooled(measured) for side, measured in sides.items()}
        figures["p99_difference_ms"] = round(figures["on"]["p99_ms"] - figures["off"]["p99_ms"], 3)
        figures["p50_difference_ms"] = round(figures["on"]["p50_ms"] - figures["off"]["p50_ms"], 3)
        off_p99s = [m["p99_ms"] for m in sides["off"]]
        figures["off_p99_spread_ms"] = round(max(off_p99s) - min(off_p99s), 3)  # the noise: off against off
        result[protocol] = figures
    result["shadow_copies"] = shadow
    return result


def _pooled(measured: list[dict]) -> dict:
    """The phases of one side together: medians of their percentiles, summed throughput and errors."""
    ordered = sorted(measured, key=lambda m: m["p99_ms"])
    middle = ordered[len(ordered) // 2]
    return {
        "p50_ms": sorted(m["p50_ms"] for m in measured)[len(measured) // 2],
        "p99_ms": middle["p99_ms"],
        "p99_ms_by_phase": {str(i + 1): m["p99_ms"] for i, m in enumerate(measured)},
        "requests_per_s": round(sum(m["requests_per_s"] for m in measured) / len(measured)),
        "errors": sum(m["errors"] for m in measured),
    }


def markdown_lines(result: dict) -> list[str]:
    lines = ["| shadow overhead, 16 clients, 1 row | p50 off / on | p99 off / on | p99 difference | p99 spread, off "
             "phases | req/s off / on |", "|---|---|---|---|---|---|"]  # fmt: skip
    for protocol, label in (("rest", "REST"), ("grpc", "gRPC")):
        off, on = result[protocol]["off"], result[protocol]["on"]
        lines.append(
            f"| {label} | {off['p50_ms']} / {on['p50_ms']} ms | {off['p99_ms']} / {on['p99_ms']} ms "
            f"| {result[protocol]['p99_difference_ms']} ms (goal <= {GOAL_MS}) "
            f"| {result[protocol]['off_p99_spread_ms']} ms "
            f"| {off['requests_per_s']:,} / {on['requests_per_s']:,} |"
        )
    copies = result["shadow_copies"]
    lines.append(
        f"\nShadow copies while on: {copies['ok']:.0f} run, {copies['dropped']:.0f} dropped (queue full), "
        f"{copies['failed']:.0f} failed; failed primary requests: "
        f"{sum(result[p][s]['errors'] for p in ('rest', 'grpc') for s in ('off', 'on'))}."
    )
    return lines


def goal_met(result: dict) -> bool:
    return all(result[p]["p99_difference_ms"] <= GOAL_MS for p in ("rest", "grpc"))
