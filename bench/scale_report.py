"""The scale series of `make bench`: figures per data size, the log-log slope, the goals, and their Markdown."""

import glob
import json
import math
import os
import statistics

PIPELINE_NAME = "chicago-taxi"  # configs/chicago_taxi.yaml
EXAMPLE_GEN, EVALUATOR = "WindowExampleGen", "Evaluator"


def run_figures(workspace: str) -> dict:
    """The eval AUC and eval rows of the latest run in `workspace`, from the summary `kfx run` writes."""
    (latest, *_) = sorted(glob.glob(os.path.join(workspace, "logs", "*.summary.json")), reverse=True)
    with open(latest) as f:
        summary = json.load(f)
    return {"auc": summary["metrics"].get("auc"), "eval_rows": summary["examples"].get("eval")}


def median_components(runs: list[dict]) -> dict[str, float]:
    names = [name for name in runs[0]["components"] if all(name in run["components"] for run in runs)]
    return {name: statistics.median(run["components"][name] for run in runs) for name in names}


def point(rows: int, runs: list[dict]) -> dict:
    """Median figures of the cold runs on `rows` rows."""
    seconds = statistics.median(run["seconds"] for run in runs)
    components = median_components(runs)
    return {
        "rows": rows,
        "runs": len(runs),
        "seconds": seconds,
        "rows_per_second": round(rows / seconds),
        "peak_rss_mib": statistics.median(run["peak_rss_mib"] for run in runs),
        "auc": statistics.median(run["auc"] for run in runs),
        "components": components,
        "example_gen_rows_per_second": round(rows / components[EXAMPLE_GEN]),
        "evaluator_rows_per_second": round(statistics.median(run["eval_rows"] for run in runs) / components[EVALUATOR]),
        "raw": runs,
    }


def slope(series: list[dict]) -> float | None:
    """d log(time) / d log(rows) between the smallest and the largest size (1.0: time grows as the data)."""
    if len(series) < 2:
        return None
    small, large = series[0], series[-1]
    return round(math.log(large["seconds"] / small["seconds"]) / math.log(large["rows"] / small["rows"]), 3)


def goals(series: list[dict], sample_auc: float) -> dict[str, bool]:
    by_rows = {p["rows"]: p for p in series}
    found = {}
    if 1_500_000 in by_rows:
        large = by_rows[1_500_000]
        found["1.5M rows in <= 12 min"] = large["seconds"] <= 720
        found["1.5M rows peak RSS <= 4 GB"] = large["peak_rss_mib"] <= 4096
        found["1.5M rows AUC >= the sample's - 0.01"] = large["auc"] >= sample_auc - 0.01
    if 150_000 in by_rows:
        small = by_rows[150_000]
        found["Evaluator >= 5,000 eval rows/s at 150k"] = small["evaluator_rows_per_second"] >= 5000
        found["ExampleGen >= 10,000 rows/s at 150k"] = small["example_gen_rows_per_second"] >= 10000
    if slope(series) is not None:
        found["slope <= 1.0"] = slope(series) <= 1.0
    return found


def component_table(columns: dict[str, dict[str, float]]) -> str:
    """Seconds per component, one column per measurement (e.g. kfx cold and the template)."""
    names = list(dict.fromkeys(name for times in columns.values() for name in times))

    def cells(name: str) -> str:
        return " | ".join(f"{times[name]} s" if name in times else "" for times in columns.values())

    lines = ["| component | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | {cells(name)} |" for name in names]
    return "\n".join(lines) + "\n"


def markdown(series: list[dict], fitted: float | None) -> str:
    if not series:
        return ""
    lines = [
        "## Scale series (cold runs on the resampled sample, bench/scale_data.py)",
        "",
        "| rows | wall time | rows/s | peak RSS | AUC | ExampleGen rows/s | Evaluator eval rows/s |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {p['rows']:,} | {p['seconds']} s | {p['rows_per_second']:,} | {p['peak_rss_mib']} MiB | {p['auc']} "
            f"| {p['example_gen_rows_per_second']:,} | {p['evaluator_rows_per_second']:,} |"
            for p in series
        ),
        "",
        f"- log-log slope of total time: **{fitted}** (goal <= 1.0)",
        "",
        component_table({f"{p['rows']:,} rows": p["components"] for p in series}),
    ]
    return "\n".join(lines) + "\n"
