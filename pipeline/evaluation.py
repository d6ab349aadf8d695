"""The TFMA evaluation: metrics, slices and the thresholds that decide whether a model is blessed."""

import tensorflow_model_analysis as tfma

from models import signatures
from pipeline.config import METRICS, EvaluationConfig

# TFMA passes a change threshold when diff >= value: "no regression" allows a tie (up to float noise), "min
# improvement" of x requires diff > x.
_NO_REGRESSION_TOLERANCE = -1e-10
_STRICTLY = 1e-9


def eval_config(evaluation: EvaluationConfig, label_key: str) -> tfma.EvalConfig:
    """Overall and per-slice metrics; value thresholds and no-regression checks on the overall slice."""
    thresholds = {}
    compared = set(evaluation.no_regression) | set(evaluation.min_improvement)
    for name in sorted(set(evaluation.thresholds) | compared):
        threshold = tfma.MetricThreshold()
        if name in evaluation.thresholds:
            threshold.value_threshold.lower_bound.value = evaluation.thresholds[name]
        if name in compared:
            threshold.change_threshold.direction = tfma.MetricDirection.HIGHER_IS_BETTER
            threshold.change_threshold.absolute.value = (
                evaluation.min_improvement[name] + _STRICTLY
                if name in evaluation.min_improvement
                else _NO_REGRESSION_TOLERANCE
            )
        thresholds[METRICS[name]] = threshold

    metric_classes = [
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
    metrics = [
        tfma.MetricConfig(
            class_name=name,
            # A plain `threshold` would apply to every slice, failing on tiny slices; these apply to overall only.
            per_slice_thresholds=[
                tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=thresholds[name])
            ]
            if name in thresholds
            else [],
        )
        for name in metric_classes
    ]
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
