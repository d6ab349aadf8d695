"""The benchmark's judgement: the scale goals per shape, and the profile of a component from py-spy's samples."""

import subprocess
import sys
import textwrap

import pytest

from bench import profile, scale_report


def _point(rows: int, shape: str, seconds: float, **figures) -> dict:
    components = {"WindowExampleGen": rows / figures.pop("example_gen_rate"), "Evaluator": figures.pop("evaluator")}
    return {
        "rows": rows,
        "shape": shape,
        "seconds": seconds,
        "components": components,
        "example_gen_rows_per_second": round(rows / components["WindowExampleGen"]),
        **figures,
    }


def test_goals_are_judged_per_shape_at_one_and_a_half_million_rows():
    spans = [
        _point(150_000, "spans", 100.0, example_gen_rate=12_000, evaluator=20, peak_rss_mib=900, auc=0.97),
        _point(1_500_000, "spans", 470.0, example_gen_rate=16_000, evaluator=55, peak_rss_mib=2900, auc=0.955),
    ]
    one_csv = [
        _point(150_000, "one_csv", 100.0, example_gen_rate=12_000, evaluator=20, peak_rss_mib=900, auc=0.97),
        _point(1_500_000, "one_csv", 800.0, example_gen_rate=14_000, evaluator=61, peak_rss_mib=3100, auc=0.945),
    ]
    assert scale_report.slope(spans) == pytest.approx(0.672, abs=1e-3)  # log(4.7) / log(10)
    assert scale_report.goals({"spans": spans, "one_csv": one_csv}) == {
        "4 spans: 1.5M rows in <= 8 min": True,
        "4 spans: 1.5M rows peak RSS <= 3 GB": True,
        "4 spans: 1.5M rows AUC within 0.01 of 0.959 (4 spans, before)": True,
        "4 spans: Evaluator <= 60 s at 1.5M rows": True,
        "4 spans: ExampleGen >= 15,000 rows/s at 1.5M rows": True,
        "4 spans: log-log slope <= 0.9": True,
        "one CSV: 1.5M rows in <= 8 min": False,
        "one CSV: 1.5M rows peak RSS <= 3 GB": False,
        "one CSV: 1.5M rows AUC within 0.01 of 0.959 (4 spans, before)": False,
        "one CSV: Evaluator <= 60 s at 1.5M rows": False,
        "one CSV: ExampleGen >= 15,000 rows/s at 1.5M rows": False,
        "one CSV: log-log slope <= 0.9": False,  # log(8) / log(10) = 0.903
    }


def test_a_summary_counts_own_samples_and_libraries_without_idle_waits(tmp_path):
    recording = tmp_path / "Evaluator.txt"
    recording.write_text(
        "<module> (/x/kfx/cli.py:3);run (/x/site-packages/tfx/run.py:9);metric (/x/site-packages/tfma/m.py:5) 5\n"
        "<module> (/x/kfx/cli.py:3);run (/x/site-packages/tfx/run.py:9);rebin (/x/site-packages/tfma/c.py:7) 1\n"
        "<module> (/x/kfx/cli.py:3);run (/x/site-packages/tfx/run.py:9);predict (/x/site-packages/tf/p.py:1) 3\n"
        "<module> (/x/kfx/cli.py:3);wait (/usr/lib/python3.10/threading.py:320) 40\n"
        "_bootstrap (/usr/lib/python3.10/threading.py:9);_serve (/x/site-packages/grpc/_server.py:1) 30\n"
        "<module> (/x/kfx/cli.py:3);run (/x/site-packages/tfx/run.py:9) 1\n"
    )
    found = profile.summary(str(recording))
    assert found["samples"] == 10  # waits and gRPC's server loop are idle
    assert found["own"] == [
        {"function": "metric (tfma/m.py)", "share": 0.5},
        {"function": "predict (tf/p.py)", "share": 0.3},
        {"function": "rebin (tfma/c.py)", "share": 0.1},
        {"function": "run (tfx/run.py)", "share": 0.1},
    ]
    assert found["libraries"] == [
        {"function": "tfma", "share": 0.6},
        {"function": "tf", "share": 0.3},
        {"function": "tfx", "share": 0.1},
    ]
    assert "| 60.0% | tfma |" in profile.markdown("Evaluator", 12.5, found)


@pytest.mark.skipif(not profile.ComponentProfiler.available(), reason="py-spy is not installed")
def test_each_component_gets_its_own_recording_from_the_console_lines(tmp_path):
    program = textwrap.dedent(
        """
        import sys, time

        def busy(seconds, name):
            sys.stdout.write(f"  [1/2] {name:<18} ..."); sys.stdout.flush()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                sum(range(1000))
            sys.stdout.write(" done 1.0s\\n"); sys.stdout.flush()

        def alpha_work(): busy(1.5, "Alpha")
        def beta_work(): busy(1.5, "Beta")
        time.sleep(0.5)
        alpha_work()
        beta_work()
        """
    )
    script = tmp_path / "two_components.py"
    script.write_text(program)
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    profiler = profile.ComponentProfiler(process.pid, str(tmp_path / "profiles"))
    while chunk := process.stdout.read1(4096):
        profiler.feed(chunk.decode())
    process.wait()
    profiler.close()
    assert set(profiler.recordings) == {"Alpha", "Beta"}
    alpha, beta = (profile.summary(profiler.recordings[name]) for name in ("Alpha", "Beta"))
    assert alpha["samples"] > 20 and beta["samples"] > 20
    alpha_stacks, beta_stacks = (open(profiler.recordings[name]).read() for name in ("Alpha", "Beta"))
    assert "alpha_work" in alpha_stacks and "beta_work" not in alpha_stacks
    assert "beta_work" in beta_stacks and "alpha_work" not in beta_stacks
    assert alpha["own"][0]["function"].startswith(("busy", "<genexpr>", "sum"))
