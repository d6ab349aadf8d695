"""`make bench`: cold-run and cached-rerun wall time and peak memory of `kfx run` on the default data.

The reference is measured in the same session on the same machine: TFX's own taxi template (bench/taxi_template.py),
cold, on the same rows (the template reads the CSV files of every span from one folder; `kfx run` reads the shipped
spans as its window of 4 and also checks the newest against the previous one for drift). Each measurement runs in a
fresh subprocess; medians over BENCH_REPEATS rounds (default 3).
Results: workspace/bench/bench.json and bench.md (bench/results.py).
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench import results

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
    """Wall seconds and peak RSS (MiB) of one child process tree's largest process."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def one_round(scratch: str, index: int, data: str) -> dict:
    workspace = os.path.join(scratch, f"kfx-{index}")
    kfx = [sys.executable, "-m", "kfx.cli", "run", "--workspace", workspace]
    template_dir = os.path.join(scratch, f"template-{index}")
    os.makedirs(template_dir)
    result = {
        "template_cold": measure([sys.executable, "-m", "bench.taxi_template", template_dir, data]),
        "cold": measure(kfx),
        "cached_rerun": measure(kfx),
    }
    print(f"round {index + 1}: " + ", ".join(f"{k} {v['seconds']}s" for k, v in result.items()), flush=True)
    return result


def summarize(rounds: list[dict]) -> dict:
    def median(key: str, field: str) -> float:
        return statistics.median(r[key][field] for r in rounds)

    cold, rerun, template = (
        median("cold", "seconds"),
        median("cached_rerun", "seconds"),
        median("template_cold", "seconds"),
    )
    return {
        "rounds": len(rounds),
        "median_seconds": {"cold": cold, "cached_rerun": rerun, "template_cold": template},
        "median_peak_rss_mib": {
            "cold": median("cold", "peak_rss_mib"),
            "template_cold": median("template_cold", "peak_rss_mib"),
        },
        "cached_rerun_over_cold": round(rerun / cold, 3),
        "cold_over_template": round(cold / template, 3),
        "goals": {"cold_over_template <= 1.0": cold <= template, "cached_rerun_over_cold <= 0.2": rerun <= 0.2 * cold},
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
        f"- cold / template: **{result['cold_over_template']}** (goal <= 1.0)",
        f"- cached rerun / cold: **{result['cached_rerun_over_cold']}** (goal <= 0.2)",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    repeats = int(os.environ.get("BENCH_REPEATS", "3"))
    with tempfile.TemporaryDirectory(prefix="kfx-bench-") as scratch:
        data = template_data(scratch)
        rounds = [one_round(scratch, i, data) for i in range(repeats)]
    result = summarize(rounds)
    results.write("bench", result, markdown(result))


if __name__ == "__main__":
    main()
