"""The scale series of `make bench`: figures per data size, the log-log slope, the goals, and their Markdown."""

import json
import math
import os
import statistics

from bench import profile as profile_lib
from monitoring import summary as summary_lib

PIPELINE_NAME = "chicago-taxi"  # configs/chicago_taxi.yaml
EXAMPLE_GEN, EVALUATOR = "WindowExampleGen", "Evaluator"
SHAPES = {"spans": "4 spans", "one_csv": "one CSV"}
LARGE = 1_500_000
# The eval AUC at 1.5 million rows in 4 spans before issue 18's changes (commit 2b369e1, every eval row scored),
# measured on this machine on the day of the issue. The earlier benchmark had 0.967: runs differ by about 0.01.
REFERENCE_AUC = 0.959


def run_figures(workspace: str) -> dict:
    """The eval AUC and eval rows of the latest run in `workspace`, from the summary `kfx run` writes."""
    latest = summary_lib.summary_files(os.path.join(workspace, "logs"))[-1]
    with open(latest) as f:
        summary = json.load(f)
    return {"auc": summary["metrics"].get("auc"), "eval_rows": summary["examples"].get("eval")}


def median_components(runs: list[dict]) -> dict[str, float]:
    names = [name for name in runs[0]["components"] if all(name in run["components"] for run in runs)]
    return {name: statistics.median(run["components"][name] for run in runs) for name in names}


def point(rows: int, shape: str, runs: list[dict]) -> dict:
    """Median figures of the cold runs on `rows` rows of one shape (bench/scale_data.py)."""
    seconds = statistics.median(run["seconds"] for run in runs)
    components = median_components(runs)
    return {
        "rows": rows,
        "shape": shape,
        "runs": len(runs),
        "seconds": seconds,
        "rows_per_second": round(rows / seconds),
        "peak_rss_mib": statistics.median(run["peak_rss_mib"] for run in runs),
        "auc": statistics.median(run["auc"] for run in runs),
        "components": components,
        "example_gen_rows_per_second": round(rows / components[EXAMPLE_GEN]),
        "evaluator_rows_per_second": round(statistics.median(run["eval_rows"] for run in runs) / components[EVALUATOR]),
        "profile": next((run["profile"] for run in runs if run.get("profile")), None),
        "raw": runs,
    }


def slope(series: list[dict]) -> float | None:
    """d log(time) / d log(rows) between the smallest and the largest size (1.0: time grows as the data)."""
    if len(series) < 2:
        return None
    small, large = series[0], series[-1]
    return round(math.log(large["seconds"] / small["seconds"]) / math.log(large["rows"] / small["rows"]), 3)


def goals(series: dict[str, list[dict]]) -> dict[str, bool]:
    """Issue 18's goals at 1.5 million rows, for each shape measured."""
    found = {}
    for shape, points in series.items():
        name = SHAPES.get(shape, shape)
        large = next((p for p in points if p["rows"] == LARGE), None)
        if large:
            found[f"{name}: 1.5M rows in <= 8 min"] = large["seconds"] <= 480
            found[f"{name}: 1.5M rows peak RSS <= 3 GB"] = large["peak_rss_mib"] <= 3072
            found[f"{name}: 1.5M rows AUC within 0.01 of {REFERENCE_AUC} (4 spans, before)"] = (
                abs(large["auc"] - REFERENCE_AUC) <= 0.01
            )
            found[f"{name}: Evaluator <= 60 s at 1.5M rows"] = large["components"][EVALUATOR] <= 60
            found[f"{name}: ExampleGen >= 15,000 rows/s at 1.5M rows"] = large["example_gen_rows_per_second"] >= 15000
        fitted = slope(points)
        if fitted is not None:
            found[f"{name}: log-log slope <= 0.9"] = fitted <= 0.9
    return found


def component_table(columns: dict[str, dict[str, float]]) -> str:
    """Seconds per component, one column per measurement (e.g. kfx cold and the template)."""
    names = list(dict.fromkeys(name for times in columns.values() for name in times))

    def cells(name: str) -> str:
        return " | ".join(f"{times[name]} s" if name in times else "" for times in columns.values())

    lines = ["| component | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | {cells(name)} |" for name in names]
    return "\n".join(lines) + "\n"


def markdown(series: dict[str, list[dict]]) -> str:
    if not series:
        return ""
    lines = [
        "## Scale series (cold runs on the resampled sample, bench/scale_data.py)",
        "",
        "| shape | rows | wall time | rows/s | peak RSS | AUC | ExampleGen rows/s | Evaluator | Evaluator rows/s |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {SHAPES.get(p['shape'], p['shape'])} | {p['rows']:,} | {p['seconds']} s | {p['rows_per_second']:,} "
            f"| {p['peak_rss_mib']} MiB | {p['auc']} | {p['example_gen_rows_per_second']:,} "
            f"| {p['components'][EVALUATOR]} s | {p['evaluator_rows_per_second']:,} |"
            for points in series.values()
            for p in points
        ),
        "",
        *(
            f"- {SHAPES.get(shape, shape)}: log-log slope of total time **{slope(points)}** (goal <= 0.9)"
            for shape, points in series.items()
        ),
        "",
        component_table(
            {
                f"{SHAPES.get(p['shape'], p['shape'])}, {p['rows']:,} rows": p["components"]
                for points in series.values()
                for p in points
            }
        ),
    ]
    for points in series.values():
        for p in points:
            if p["profile"]:
                lines.append(
                    profile_markdown(p["profile"], f"{SHAPES.get(p['shape'], p['shape'])}, {p['rows']:,} rows")
                )
    return "\n".join(lines) + "\n"


def profile_markdown(found: dict, where: str) -> str:
    return profile_lib.markdown(f"{found['component']} ({where})", found["seconds"], found)
