"""`make bench`: wall time, per-component time and peak memory of `kfx run`, on the default data and at scale.

The reference is measured in the same session on the same machine: TFX's own taxi template (bench/taxi_template.py),
cold, on the same rows (the template reads the CSV files of every span from one folder; `kfx run` reads the shipped
spans as its window of 4 and also checks the newest against the previous one for drift). Each measurement runs in a
fresh subprocess; medians over BENCH_REPEATS rounds (default 3).
The scale series runs `kfx run` cold on the sample resampled to each of BENCH_SCALE_ROWS rows (default 150000 and
1500000; bench/scale_data.py) in each shape of BENCH_SCALE_SHAPES (default "spans,one_csv": the 4 spans of the sample,
and the same rows as one CSV file, the commonest shape of a user's data), BENCH_SCALE_REPEATS times each (default 1),
and fits the log-log slope of total time per shape. Peak memory is the summed RSS of the run's process tree. The
first cold run on the default data and the runs at the largest size are sampled with py-spy (bench/profile.py): the
Markdown shows where the slowest component's time goes. Results: workspace/bench/bench.json and bench.md, with
each goal of issue 18 met or not.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench import component_times, profile, results, scale_data, scale_report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data", "chicago_taxi")


def template_data(scratch: str) -> str:
    """A folder holding every span's CSV, which is how the template's CsvExampleGen reads a whole dataset."""
    folder = os.path.join(scratch, "template-data")
    os.makedirs(folder)
    for span in sorted(os.listdir(DATA)):
        shutil.copy(os.path.join(DATA, span, "data.csv"), os.path.join(folder, f"{span}.csv"))
    return folder


def measure(command: list[str], profile_dir: str | None = None) -> dict:
    """Wall seconds and peak RSS (MiB, summed over the process tree) of one command; with `profile_dir`, a py-spy
    recording of each component too (bench/profile.py), named in "profiles"."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    memory = component_times.PeakMemory(process)
    profiler = profile.ComponentProfiler(process.pid, profile_dir) if profile_dir else None
    output = []
    while chunk := os.read(process.stdout.fileno(), 65536):
        output.append(chunk.decode(errors="replace"))
        if profiler:
            profiler.feed(output[-1])
    process.wait()
    seconds = time.monotonic() - started
    peak = memory.stop()
    if profiler:
        profiler.close()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{''.join(output)[-3000:]}")
    measured = {"seconds": round(seconds, 1), "peak_rss_mib": peak}
    return {**measured, "profiles": profiler.recordings} if profiler else measured


def one_round(scratch: str, index: int, data: str) -> dict:
    workspace = os.path.join(scratch, f"kfx-{index}")
    kfx = [sys.executable, "-m", "kfx.cli", "run", "--workspace", workspace]
    template_dir = os.path.join(scratch, f"template-{index}")
    os.makedirs(template_dir)
    template = measure([sys.executable, "-m", "bench.taxi_template", template_dir, data])
    template["components"] = component_times.component_seconds(
        os.path.join(template_dir, "metadata.sqlite"), "taxi-template"
    )
    profile_dir = os.path.join(scratch, f"profile-{index}") if index == 0 and _profiling() else None
    result = {
        "template_cold": template,
        "cold": _kfx_cold(kfx, workspace, profile_dir),
        # The cold run pushed: the next one compares the cached candidate with the version now served (TFX's cache,
        # the Evaluator again); the one after that has nothing left to do and answers from ML Metadata.
        "rerun_after_push": measure(kfx),
        "cached_rerun": measure(kfx),
    }
    print(f"round {index + 1}: " + ", ".join(f"{k} {v['seconds']}s" for k, v in result.items()), flush=True)
    return result


def _kfx_cold(kfx: list[str], workspace: str, profile_dir: str | None = None) -> dict:
    """A cold `kfx run`: time, memory, each component's time, the eval AUC and rows from its summary, and with
    `profile_dir` the profile summary of its slowest component."""
    measured = measure(kfx, profile_dir)
    measured["components"] = component_times.component_seconds(
        os.path.join(workspace, "metadata.sqlite"), scale_report.PIPELINE_NAME
    )
    recordings = {
        name: path
        for name, path in measured.pop("profiles", {}).items()
        if os.path.isfile(path) and os.path.getsize(path)
    }
    profiled = [name for name in measured["components"] if name in recordings]
    unsampled = [name for name, seconds in measured["components"].items() if seconds >= 1 and name not in recordings]
    if profile_dir and unsampled:  # py-spy attaches in about 0.1 s: only a longer component should have samples
        print(f"no py-spy samples of {', '.join(unsampled)}", flush=True)
    if profiled:  # the slowest component that py-spy sampled
        slowest = max(profiled, key=measured["components"].get)
        seconds = measured["components"][slowest]
        measured["profile"] = {"component": slowest, "seconds": seconds, **profile.summary(recordings[slowest])}
    return {**measured, **scale_report.run_figures(workspace)}


def scale_series(scratch: str) -> dict[str, list[dict]]:
    """Per shape (BENCH_SCALE_SHAPES, default 4 spans and one CSV), one cold run per size (median of
    BENCH_SCALE_REPEATS), each on its own fresh workspace; the runs at the largest size are profiled."""
    sizes = [int(rows) for rows in os.environ.get("BENCH_SCALE_ROWS", "150000,1500000").split(",") if rows]
    shapes = [shape for shape in os.environ.get("BENCH_SCALE_SHAPES", "spans,one_csv").split(",") if shape]
    repeats = int(os.environ.get("BENCH_SCALE_REPEATS", "1"))
    series = {}
    for shape in shapes:
        series[shape] = []
        for rows in sizes:
            data = scale_data.generate(rows, shape=shape)
            runs = []
            for index in range(repeats):
                workspace = os.path.join(scratch, f"scale-{shape}-{rows}-{index}")
                kfx = [sys.executable, "-m", "kfx.cli", "run", "--data", data, "--workspace", workspace]
                profile_dir = workspace + "-profile" if rows == max(sizes) and _profiling() else None
                runs.append(_kfx_cold(kfx, workspace, profile_dir))
                print(f"{shape}, {rows:,} rows, round {index + 1}: {runs[-1]['seconds']}s", flush=True)
                shutil.rmtree(workspace)
            series[shape].append(scale_report.point(rows, shape, runs))
    return series


def _profiling() -> bool:
    if profile.ComponentProfiler.available():
        return True
    print("py-spy not found: no profiles (it comes with the dev extras)", flush=True)
    return False


def summarize(rounds: list[dict], series: dict[str, list[dict]]) -> dict:
    def median(key: str, field: str) -> float:
        return statistics.median(r[key][field] for r in rounds)

    cold, after_push, rerun, template = (
        median("cold", "seconds"),
        median("rerun_after_push", "seconds"),
        median("cached_rerun", "seconds"),
        median("template_cold", "seconds"),
    )
    auc = statistics.median(r["cold"]["auc"] for r in rounds)
    return {
        "rounds": len(rounds),
        "median_seconds": {
            "cold": cold,
            "rerun_after_push": after_push,
            "cached_rerun": rerun,
            "template_cold": template,
        },
        "median_peak_rss_mib": {
            "cold": median("cold", "peak_rss_mib"),
            "template_cold": median("template_cold", "peak_rss_mib"),
        },
        "median_component_seconds": {
            key: scale_report.median_components([r[key] for r in rounds]) for key in ("cold", "template_cold")
        },
        "cold_profile": rounds[0]["cold"].get("profile"),
        "cold_auc": auc,
        "cached_rerun_over_cold": round(rerun / cold, 3),
        "cold_over_template": round(cold / template, 3),
        "scale": series,
        "scale_slopes": {shape: scale_report.slope(points) for shape, points in series.items()},
        "goals": {
            "cold_over_template <= 1.0": cold <= template,
            "cached rerun <= 2 s": rerun <= 2.0,
            **scale_report.goals(series),
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
        f"| kfx run, rerun after the cold run's push (cached, Evaluator again) | {seconds['rerun_after_push']} s | |",
        f"| kfx run, nothing changed (answered from ML Metadata) | {seconds['cached_rerun']} s | |",
        "",
        f"- cold / template: **{result['cold_over_template']}** (goal <= 1.0)",
        f"- cached rerun: **{seconds['cached_rerun']} s** (goal <= 2 s), {result['cached_rerun_over_cold']} of cold",
        f"- eval AUC of the cold run: {result['cold_auc']}",
        "",
        scale_report.component_table(result["median_component_seconds"]),
    ]
    if result["cold_profile"]:
        lines.append(scale_report.profile_markdown(result["cold_profile"], "default data, round 1"))
    lines += [
        scale_report.markdown(result["scale"]),
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
