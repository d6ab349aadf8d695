"""What the interval of the AUC difference costs TFMA, and whether DeLong's agrees with TFMA's own.

Two "models" score the same rows (columns of a seeded synthetic frame, 2,988 rows as span 4's eval split, overall and
4 slices); TFMA evaluates them three ways: AUC only, AUC plus the AUCComparison metric (DeLong), and AUC with TFMA's
confidence intervals (Poisson bootstrap, 20 samples). Prints the median seconds of each and both intervals:
    python -m bench.evaluator_ci [--repeats 3]
"""

import argparse
import json
import statistics
import tempfile
import time

import numpy as np
import pandas as pd
import tensorflow_model_analysis as tfma

from components.champion_evaluator import auc_comparison, executor

ROWS, CONFIDENCE = 2988, 0.95


def _rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    labels = (rng.random(ROWS) < 0.3).astype(float)
    baseline = np.clip(labels * 0.4 + rng.random(ROWS) * 0.6, 0, 1)
    candidate = np.clip(baseline + rng.normal(0, 0.05, ROWS), 0, 1)
    group = rng.choice(["a", "b", "c", "d"], ROWS)
    return pd.DataFrame({"label": labels, "candidate": candidate, "baseline": baseline, "group": group})


def _config(delong: bool, bootstrap: bool) -> tfma.EvalConfig:
    metrics = [tfma.MetricConfig(class_name="AUC")]
    if delong:
        metrics.append(tfma.MetricConfig(class_name=auc_comparison.NAME, module=auc_comparison.MODULE))
    config = tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(name="candidate", label_key="label", prediction_key="candidate"),
            tfma.ModelSpec(name="baseline", label_key="label", prediction_key="baseline", is_baseline=True),
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["group"])],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )
    config.options.compute_confidence_intervals.value = bootstrap
    return config


def _tfma_interval(output: str) -> dict[str, float]:
    """TFMA's bounds of the overall AUC difference."""
    for metrics in tfma.load_metrics(output):
        for entry in metrics.metric_keys_and_values if not metrics.slice_key.ByteSize() else ():
            if entry.key.name == "auc" and entry.key.is_diff:
                bounds = entry.confidence_interval
                return {
                    "difference": entry.value.double_value.value,
                    "lower": bounds.lower_bound.double_value.value,
                    "upper": bounds.upper_bound.double_value.value,
                    "std_error": bounds.standard_error.double_value.value,
                }
    return {}


def _delong_interval(output: str) -> dict[str, float]:
    overall, _ = executor.read_differences(output)
    lower, upper = overall.interval(CONFIDENCE)
    return {"difference": overall.difference, "lower": lower, "upper": upper, "std_error": overall.std_error}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = _rows()
    variants = {"auc_only": (False, False), "delong": (True, False), "tfma_bootstrap": (False, True)}
    seconds = {name: [] for name in variants}
    intervals = {}
    for _ in range(args.repeats):
        for name, (delong, bootstrap) in variants.items():  # interleaved: a busy moment hits every variant alike
            output = tempfile.mkdtemp()
            started = time.monotonic()
            tfma.analyze_raw_data(rows, _config(delong, bootstrap), output_path=output)
            seconds[name].append(round(time.monotonic() - started, 1))
            if name != "auc_only":
                intervals[name] = _delong_interval(output) if delong else _tfma_interval(output)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print(json.dumps({"rows": ROWS, "seconds": seconds, "median_seconds": medians, "intervals": intervals}, indent=2))


if __name__ == "__main__":
    main()
