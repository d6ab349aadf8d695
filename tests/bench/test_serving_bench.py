"""The serving benchmark's REST decode figure times the server's own decode, on the benchmark's own request bodies."""

import pytest

from bench import serving_bench
from serving.status import ServingError

DTYPES = {"fare": "float32", "payment_type": "string"}
ROWS = [{"fare": 5.0 + i, "payment_type": "Cash"} for i in range(300)]


def test_rest_decode_times_100_row_bodies():
    bodies = serving_bench.payloads(ROWS, DTYPES, 100)["rest"]
    assert len(bodies) == 3
    figures = serving_bench.measure_rest_decode(bodies, DTYPES, count=40)
    assert figures["n"] == 40 and 0 < figures["p50_ms"] <= figures["p99_ms"]


def test_rest_decode_fails_on_a_body_the_server_would_refuse():
    as_text = {"fare": "string", "payment_type": "string"}
    body = serving_bench.payloads([{"fare": "cheap", "payment_type": "Cash"}], as_text, 1)["rest"][0]
    with pytest.raises(ServingError, match="fare"):
        serving_bench.measure_rest_decode([body], DTYPES, count=1)
