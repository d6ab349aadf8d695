"""The shadow benchmark's report: medians over phases, the off-phase spread as noise, the goal and its table."""

from bench import shadow_overhead


def _run(p99: float, p50: float = 10.0, errors: int = 0) -> dict:
    return {"p50_ms": p50, "p99_ms": p99, "requests_per_s": 500, "errors": errors, "n": 1000}


def test_phases_pool_to_medians_and_the_goal_follows_the_p99_difference():
    off = shadow_overhead._pooled([_run(40.0), _run(50.0), _run(45.0)])
    on = shadow_overhead._pooled([_run(45.2), _run(45.4), _run(90.0, errors=1)])
    assert (off["p99_ms"], on["p99_ms"], on["errors"]) == (45.0, 45.4, 1)
    assert off["p99_ms_by_phase"] == {"1": 40.0, "2": 50.0, "3": 45.0}
    result = {
        protocol: {"off": off, "on": on, "p99_difference_ms": 0.4, "off_p99_spread_ms": 10.0}
        for protocol in ("rest", "grpc")
    }
    result["shadow_copies"] = {"ok": 3.0, "dropped": 7.0, "failed": 0.0}
    assert shadow_overhead.goal_met(result)
    result["grpc"]["p99_difference_ms"] = 0.6
    assert not shadow_overhead.goal_met(result)
    text = "\n".join(shadow_overhead.markdown_lines(result))
    assert "| gRPC | 10.0 / 10.0 ms | 45.0 / 45.4 ms | 0.6 ms (goal <= 0.5) | 10.0 ms | 500 / 500 |" in text
    assert "3 run, 7 dropped (queue full), 0 failed; failed primary requests: 2." in text
