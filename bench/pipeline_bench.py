"""`make bench`: wall time, per-component time and peak memory of `kfx run`, on the default data and at scale.

The reference is measured in the same session on the same machine: TFX's own taxi template (bench/taxi_template.py),
cold, on the same rows (the template reads the CSV files of every span from one folder; `kfx run` reads the shipped
spans as its window of 4 and also checks the newest against the previous one for drift). Each measurement runs in a
fresh subprocess; medians over BENCH_REPEATS rounds (default 3).
The scale series runs `kfx run` cold on the sample resampled to each of BENCH_SCALE_ROWS rows (default 150000 and
1500000; bench/scale_data.py), BENCH_SCALE_REPEATS times each (default 1), and fits the log-log slope of total time.
Peak memory is the summed RSS of the run's process tree. Results: workspace/bench/bench.json and bench.md.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench import component_times, results, scale_data, scale_report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data", "chicago_taxi")


def template_data(scratch: str) -> str:
    """A folder holding every span's CSV, which is how the template's CsvExampleGen reads a whole dataset."""
    folder = os.path.join(scratch, "template-data")
    os.makedirs(folder)
    for span in sorted(os.listdir(DATA)):
        shutil.copy(os.path.join(DATA, span, "data.csv"), os.path.join(folder, f"{span}.csv"))
    return folder


def measure(command: list[str]) -> dict:
    """Wall seconds and peak RSS (MiB, summed over the process tree) of one command."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    memory = component_times.PeakMemory(process)
    output = process.stdout.read()
    process.wait()
    seconds = time.monotonic() - started
    peak = memory.stop()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mib": peak}


def one_round(scratch: str, index: int, data: str) -> dict:
    workspace = os.path.join(scratch, f"kfx-{index}")
    kfx = [sys.executable, "-m", "kfx.cli", "run", "--workspace", workspace]
    template_dir = os.path.join(scratch, f"template-{index}")
    os.makedirs(template_dir)
    template = measure([sys.executable, "-m", "bench.taxi_template", template_dir, data])
    template["components"] = component_times.component_seconds(
        os.path.join(template_dir, "metadata.sqlite"), "taxi-template"
    )
    result = {"template_cold": template, "cold": _kfx_cold(kfx, workspace), "cached_rerun": measure(kfx)}
    print(f"round {index + 1}: " + ", ".join(f"{k} {v['seconds']}s" for k, v in result.items()), flush=True)
    return result


def _kfx_cold(kfx: list[str], workspace: str) -> dict:
    """A cold `kfx run`: time, memory, each component's time, and the eval AUC and rows from its summary."""
    measured = measure(kfx)
    measured["components"] = component_times.component_seconds(
        os.path.join(workspace, "metadata.sqlite"), scale_report.PIPELINE_NAME
    )
    return {**measured, **scale_report.run_figures(workspace)}


def scale_series(scratch: str) -> list[dict]:
    """One cold run per size (median of BENCH_SCALE_REPEATS), each on its own fresh workspace."""
    sizes = [int(rows) for rows in os.environ.get("BENCH_SCALE_ROWS", "150000,1500000").split(",") if rows]
    repeats = int(os.environ.get("BENCH_SCALE_REPEATS", "1"))
    series = []
    for rows in sizes:
        data = scale_data.generate(rows)
        runs = []
        for index in range(repeats):
            workspace = os.path.join(scratch, f"scale-{rows}-{index}")
            kfx = [sys.executable, "-m", "kfx.cli", "run", "--data", data, "--workspace", workspace]
            runs.append(_kfx_cold(kfx, workspace))
            print(f"{rows:,} rows, round {index + 1}: {runs[-1]['seconds']}s", flush=True)
            shutil.rmtree(workspace)
        series.append(scale_report.point(rows, runs))
    return series


def summarize(rounds: list[dict], series: list[dict]) -> dict:
    def median(key: str, field: str) -> float:
        return statistics.median(r[key][field] for r in rounds)

    cold, rerun, template = (
        median("cold", "seconds"),
        median("cached_rerun", "seconds"),
        median("template_cold", "seconds"),
    )
    auc = statistics.median(r["cold"]["auc"] for r in rounds)
    return {
        "rounds": len(rounds),
        "median_seconds": {"cold": cold, "cached_rerun": rerun, "template_cold": template},
        "median_peak_rss_mib": {
            "cold": median("cold", "peak_rss_mib"),
            "template_cold": median("template_cold", "peak_rss_mib"),
        },
        "median_component_seconds": {
            key: scale_report.median_components([r[key] for r in rounds]) for key in ("cold", "template_cold")
        },
        "cold_auc": auc,
        "cached_rerun_over_cold": round(rerun / cold, 3),
        "cold_over_template": round(cold / template, 3),
        "scale": series,
        "scale_slope": scale_report.slope(series),
        "goals": {
            "cold_over_template <= 0.85": cold <= 0.85 * template,
            "cached_rerun_over_cold <= 0.1": rerun <= 0.1 * cold,
            **scale_report.goals(series, auc),
        },
        "raw": rounds,
    }


def markdown(result: dict) -> str:
    seconds, rss = result["median_seconds"], result["median_peak_rss_mib"]
    lines = [
        f"# kfx run benchmark (median of {result['rounds']} rounds, default data: 4 spans, 15,002 rows)",
        "",
        "| measurement | wall time | peak RSS |",
        "|---|---|---|",
        f"| TFX taxi template, cold (reference) | {seconds['template_cold']} s | {rss['template_cold']} MiB |",
        f"| kfx run, cold | {seconds['cold']} s | {rss['cold']} MiB |",
        f"| kfx run, cached rerun | {seconds['cached_rerun']} s | |",
        "",
        f"- cold / template: **{result['cold_over_template']}** (goal <= 0.85)",
        f"- cached rerun / cold: **{result['cached_rerun_over_cold']}** (goal <= 0.1)",
        f"- eval AUC of the cold run: {result['cold_auc']}",
        "",
        scale_report.component_table(result["median_component_seconds"]),
        scale_report.markdown(result["scale"], result["scale_slope"]),
        "## Goals",
        "",
        *(f"- {'met' if met else '**not met**'}: {goal}" for goal, met in result["goals"].items()),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    repeats = int(os.environ.get("BENCH_REPEATS", "3"))
    with tempfile.TemporaryDirectory(prefix="kfx-bench-") as scratch:
        data = template_data(scratch)
        rounds = [one_round(scratch, i, data) for i in range(repeats)]
        series = scale_series(scratch)
    result = summarize(rounds, series)
    results.write("bench", result, markdown(result))


if __name__ == "__main__":
    main()
