"""What a step decides on, gathered from where it lives: the server's Prometheus page (requests, errors, latency per
route and version), the newest `kfx monitor` skew report, and online quality (rollout/glue.py).

Counters are the server's since it started: a server restarted during a rollout starts counting again.
"""

import glob
import json
import math
import os
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from rollout.rules import SkewFinding, Traffic

PROMETHEUS_PATH = "/monitoring/prometheus/metrics"  # TF Serving's PrometheusExporter::kPrometheusPath
ROUTE_COUNT = ":kfx:serving:route_request_count"
ROUTE_LATENCY = ":kfx:serving:route_request_latency"  # histogram, microseconds
OK = "OK"
METRICS_TIMEOUT_SECONDS = 10.0


class MetricsUnavailable(OSError):
    """The server's metrics page cannot be read; the message names the address and the fix."""


def read_metrics(rest_address: str, timeout: float = METRICS_TIMEOUT_SECONDS) -> str:
    """The exposition text of the server's Prometheus page."""
    url = f"http://{rest_address}{PROMETHEUS_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.read().decode()
    except urllib.error.HTTPError as error:
        raise MetricsUnavailable(
            f"{url} answered {error.code}: start the server with the Prometheus page on (kfx serve does by default)"
        ) from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise MetricsUnavailable(f"cannot read {url} ({reason}); is the server running? (--rest-address)") from None


def route_traffic(text: str, model: str) -> dict[tuple[int, str], Traffic]:
    """(version, route) -> requests, errors and p99 of `model`, from the exposition text."""
    counts: dict[tuple[int, str], list[int]] = {}  # [requests, errors]
    buckets: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in (ROUTE_COUNT, ROUTE_LATENCY):
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels.get("model_name") != model or not labels.get("version", "").isdigit():
                continue
            key = (int(labels["version"]), labels.get("route", ""))
            if family.name == ROUTE_COUNT:
                total = counts.setdefault(key, [0, 0])
                total[0] += int(sample.value)
                total[1] += 0 if labels.get("status") == OK else int(sample.value)
            elif sample.name.endswith("_bucket"):
                buckets.setdefault(key, []).append((float(labels["le"]), sample.value))
    return {
        key: Traffic(key[1], key[0], requests, errors, percentile_ms(buckets.get(key, []), 0.99))
        for key, (requests, errors) in counts.items()
    }


def percentile_ms(buckets: list[tuple[float, float]], quantile: float) -> float | None:
    """The upper bound (ms) of the histogram bucket holding the quantile; None without observations.

    Cumulative (le in microseconds, count) pairs, as Prometheus exposes them. The true value lies in the bucket
    below that bound, so a p99 read this way errs high by up to the bucket's width (x1.8 with TF Serving's buckets).
    """
    ordered = sorted(buckets)
    total = ordered[-1][1] if ordered else 0
    if total <= 0:
        return None
    for bound, count in ordered:
        if count >= quantile * total:
            return math.inf if math.isinf(bound) else bound / 1000
    return math.inf


def skew_finding(monitoring_dir: str, model: str, version: int, since: str) -> tuple[SkewFinding | None, str]:
    """The newest `kfx monitor` report (skew-*.json) created at or after `since` (ISO 8601, UTC) that covers the
    version, with its measurements past their threshold; (None, why) when there is none."""
    reports = sorted(glob.glob(os.path.join(monitoring_dir, "skew-*.json")), reverse=True)  # names sort by time
    for path in reports:
        try:
            with open(path) as f:
                report = json.load(f)
        except (OSError, ValueError):
            continue  # a report being written or damaged: the next older one may do
        if str(report.get("created", "")) < since:
            break
        for entry in report.get("versions", []):
            if entry.get("model") == model and str(entry.get("version")) == str(version):
                over = [
                    {key: measurement[key] for key in ("feature", "measure", "value", "threshold")}
                    for measurement in entry.get("skew", [])
                    if measurement.get("over")
                ]
                return SkewFinding(path, over), ""
    return None, f"no kfx monitor report in {monitoring_dir} covers version {version} since {since}"
