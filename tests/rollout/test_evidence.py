"""Requests, errors and p99 per route read from a Prometheus page on loopback, as our server writes them
(serving.metrics); and a step that rolls back a failing canary from it."""

# ruff: noqa: F811 - the fixtures come from rollout_env (a conftest.py here would shadow tests/conftest.py)

import dataclasses
import http.server
import math
import threading

import pytest
from rollout_env import context, toy_versions, version_labels  # noqa: F401

from rollout import evidence, steps
from serving import metrics as metrics_lib


class MetricsPage:
    """The server's own metrics (serving.metrics, route metrics included), served at TF Serving's path."""

    def __init__(self):
        self.metrics = metrics_lib.Metrics()
        page = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = page.metrics.render() if self.path == evidence.PROMETHEUS_PATH else b""
                self.send_response(200 if body else 404)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self, version: str, route: str, ok: int, failed: int, microseconds: float, model: str = "toy"):
        for _ in range(ok):  # as the server counts them: only answered requests enter the histogram
            self.metrics.routed(model, int(version), route, "OK", microseconds / 1e6)
        for _ in range(failed):
            self.metrics.routed(model, int(version), route, "INTERNAL", 0.0)


@pytest.fixture
def page():
    found = MetricsPage()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_route_traffic_reads_requests_errors_and_p99_per_version_and_route(page):
    page.requests("1", "stable", ok=990, failed=3, microseconds=2000)
    page.requests("1", "stable", ok=10, failed=0, microseconds=90000)  # 1 % slow: p99 stays in the fast bucket
    page.requests("2", "canary", ok=45, failed=5, microseconds=150000)
    page.requests("9", "stable", ok=5, failed=0, microseconds=10, model="other")
    found = evidence.route_traffic(evidence.read_metrics(page.address), "toy")
    assert set(found) == {(1, "stable"), (2, "canary")}
    stable, canary = found[(1, "stable")], found[(2, "canary")]
    assert (stable.requests, stable.errors, canary.requests, canary.errors) == (1003, 3, 50, 5)
    # Upper bounds of TF Serving's buckets (10 us x 1.8^k, printed to 6 digits): 2 ms lies in (1.98359, 3.57047] ms,
    # 150 ms in (121.44, 218.591] ms.
    assert stable.p99_ms == 3.57047 and canary.p99_ms == 218.591


def test_percentile_edges():
    assert evidence.percentile_ms([], 0.99) is None
    assert evidence.percentile_ms([(1000.0, 0), (math.inf, 0)], 0.99) is None
    assert evidence.percentile_ms([(1000.0, 98), (math.inf, 100)], 0.99) == math.inf


def test_an_unreachable_or_wrong_page_is_one_line_naming_the_fix(page):
    with pytest.raises(evidence.MetricsUnavailable, match="answered 404: start the server with the Prometheus page"):
        evidence.read_metrics(page.address + "/x")
    page.server.shutdown()
    page.server.server_close()
    with pytest.raises(evidence.MetricsUnavailable, match="is the server running"):
        evidence.read_metrics(page.address, timeout=2)


def test_a_failing_canary_is_rolled_back_from_the_metrics_page(context, page):
    context = dataclasses.replace(context, rest_address=page.address)
    steps.start(context, 2, "canary", None)
    page.requests("1", "stable", ok=950, failed=1, microseconds=2000)
    page.requests("2", "canary", ok=19, failed=1, microseconds=2000)
    assert steps.step(context).action == "wait"  # 1 in 20: not yet significantly above 1 %
    page.requests("2", "canary", ok=2, failed=18, microseconds=2000)
    outcome = steps.step(context)
    assert outcome.action == "rollback" and version_labels(context) == {"stable": 1}
    assert outcome.reason.startswith("errors: error rate 47.50% (19/40, CI [")
    assert outcome.reason.endswith("]): above max_error_rate 1.00%")
