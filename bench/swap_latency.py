"""Latency while a new version loads and warms up, against steady state, on a running server under 16 clients.

A copy of the model is renamed into the base folder as a new version (as the Pusher publishes one) `swaps` times.
Clients in separate processes (bench/load.py; half REST, half gRPC, single-row requests) run throughout. Requests are
split by when they started: a steady window (the `steady_seconds` before each swap) and a swap window (from the first
status that shows the version LOADING to half a second after it is AVAILABLE, so its first requests count too).
Each swap gets its own p99 pair; the figures reported are the medians over the swaps.
Used by the serving benchmark (taxi model) and tests/serving/test_swap_under_load.py (toy model).
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

from bench.load import write_payloads

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AFTER_AVAILABLE = 0.5  # the new version's first requests belong to the swap


def _states(rest: str, model: str) -> dict[str, str]:
    try:
        with urllib.request.urlopen(f"http://{rest}/v1/models/{model}", timeout=5) as reply:
            return {s["version"]: s["state"] for s in json.loads(reply.read())["model_version_status"]}
    except OSError:
        return {}


def _swap(rest: str, model: str, base: str, source: str, version: int, timeout: float) -> tuple[float, float]:
    """Publishes `source` as `version`; returns (Unix time it was first seen loading, time it was AVAILABLE)."""
    staging = os.path.join(os.path.dirname(base.rstrip("/")), f".staging-{version}")
    shutil.copytree(source, staging)
    os.rename(staging, os.path.join(base, str(version)))
    deadline, loading = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        state = _states(rest, model).get(str(version))
        if state in ("LOADING", "AVAILABLE") and loading is None:
            loading = time.time()
        if state == "AVAILABLE":
            return loading, time.time()
        if state == "END":
            raise RuntimeError(f"version {version} failed to load")
        time.sleep(0.02)
    raise RuntimeError(f"version {version} not AVAILABLE within {timeout:.0f} s")


def p99_ms(latencies_us: list[int]) -> float:
    ordered = sorted(latencies_us)
    return round(ordered[int(len(ordered) * 0.99)] / 1e3, 3)


def _clients(addresses: dict[str, str], model: str, payloads: dict[str, list[bytes]], scratch: str, clients: int):
    """Four load processes (two REST, two gRPC) that run until they get SIGINT."""
    processes = []
    for protocol in ("rest", "grpc"):
        path = os.path.join(scratch, f"swap-payloads-{protocol}.bin")
        write_payloads(path, payloads[protocol])
        for _ in range(2):
            command = [sys.executable, "-m", "bench.load", "--protocol", protocol, "--address", addresses[protocol],
                       "--path", f"/v1/models/{model}:predict", "--payloads", path, "--clients", str(clients // 4),
                       "--seconds", "3600", "--warmup", "1"]  # fmt: skip
            processes.append(subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE))
    return processes


def measure(
    addresses: dict[str, str],
    model: str,
    base: str,
    source: str,
    payloads: dict[str, list[bytes]],
    scratch: str,
    swaps: int = 3,
    steady_seconds: float = 4.0,
    clients: int = 16,
    swap_timeout: float = 120.0,
) -> dict:
    """Per swap: steady p99, swap p99, their ratio, seconds loading and requests; and the medians over the swaps.

    `addresses` maps "rest" and "grpc" to host:port; `payloads` holds pre-encoded single-row requests per protocol;
    versions are numbered after the highest one already under `base`.
    """
    processes = _clients(addresses, model, payloads, scratch, clients)
    windows, first = [], max(int(name) for name in os.listdir(base) if name.isdigit()) + 1
    try:
        time.sleep(1.5)  # the clients' own warm-up
        for version in range(first, first + swaps):
            steady_from = time.time()
            time.sleep(steady_seconds)
            loading, available = _swap(addresses["rest"], model, base, source, version, swap_timeout)
            windows.append((steady_from, loading, available))
            time.sleep(AFTER_AVAILABLE + 0.5)
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        results = [json.loads(process.communicate(timeout=60)[0]) for process in processes]
    started = [(t, latency) for r in results for t, latency in zip(r["started_unix"], r["latencies_us"], strict=True)]
    per_swap = []
    for steady_from, loading, available in windows:
        steady = [latency for t, latency in started if steady_from <= t < loading]
        swapping = [latency for t, latency in started if loading <= t <= available + AFTER_AVAILABLE]
        per_swap.append({
            "steady_p99_ms": p99_ms(steady),
            "swap_p99_ms": p99_ms(swapping),
            "ratio": round(p99_ms(swapping) / p99_ms(steady), 2),
            "loading_seconds": round(available - loading, 2),
            "requests": [len(steady), len(swapping)],
        })  # fmt: skip
    return {
        **{key: statistics.median(s[key] for s in per_swap) for key in ("steady_p99_ms", "swap_p99_ms", "ratio")},
        "swaps": per_swap,
        "errors": sum(r["errors"] for r in results),
    }
