"""The TFMA evaluation: metrics, slices, the value thresholds, and the comparison with the served model."""

import dataclasses
from typing import Any

import tensorflow_model_analysis as tfma

from components.champion_evaluator import auc_comparison
from models import signatures
from pipeline.config import METRICS, EvaluationConfig

_METRIC_CLASSES = [
    "ExampleCount",
    "AUC",
    "BinaryAccuracy",
    "Precision",
    "Recall",
    "Calibration",
    "MeanLabel",
    "MeanPrediction",
    "AUCPrecisionRecall",
]


def eval_config(evaluation: EvaluationConfig, label_key: str) -> tfma.EvalConfig:
    """Overall and per-slice metrics, value thresholds on the overall slice, and the paired AUC comparison."""
    thresholds = {METRICS[name]: bound for name, bound in evaluation.thresholds.items()}
    metrics = []
    for name in _METRIC_CLASSES:
        metric = tfma.MetricConfig(class_name=name)
        if name in thresholds:
            threshold = tfma.MetricThreshold()
            threshold.value_threshold.lower_bound.value = thresholds[name]
            # A plain `threshold` would apply to every slice, failing on tiny slices; this applies to overall only.
            metric.per_slice_thresholds.append(
                tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)
            )
        metrics.append(metric)
    # Both models' exact AUC on the same rows and DeLong's standard error of the difference, per slice (only when
    # something is served); the Evaluator's executor applies the push policy to them.
    metrics.append(tfma.MetricConfig(class_name=auc_comparison.NAME, module=auc_comparison.MODULE))
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=signatures.EXAMPLES_SIGNATURE,
                label_key=label_key,
                preprocessing_function_names=[signatures.TRANSFORM_SIGNATURE],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[f]) for f in evaluation.slices],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )


def comparison_settings(evaluation: EvaluationConfig) -> dict[str, Any]:
    """The `evaluation.comparison` section as the Evaluator's `comparison` parameter."""
    return dataclasses.asdict(evaluation.comparison)
