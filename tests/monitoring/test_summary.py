"""The end-of-run summary never fails on an undefined metric: NaN, infinity or a missing value reads "n/a" and why."""

import json
import math

import pytest
from google.protobuf import json_format
from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2

from monitoring import summary as summary_lib


def _as_tfma_loads_it(value: float) -> dict:
    """A metric value as `tfma.load_eval_result` returns it (protobuf's JSON form: NaN becomes the string "NaN")."""
    metric = metrics_for_slice_pb2.MetricValue()
    metric.double_value.value = value
    return json_format.MessageToDict(metric)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_tfma_values_become_undefined(value):
    assert summary_lib._metric_value(_as_tfma_loads_it(value)) is None


def test_finite_tfma_values_are_kept():
    assert summary_lib._metric_value(_as_tfma_loads_it(0.8125)) == 0.8125


def _summary_with_undefined_metrics() -> summary_lib.RunSummary:
    summary = summary_lib.RunSummary("run-1", {"Evaluator": "COMPLETE"})
    nan = summary_lib._metric_value(_as_tfma_loads_it(math.nan))
    summary.metrics = {"auc": nan, "binary_accuracy": 0.75, "precision": nan, "recall": 0.0, "auc_diff": nan}
    summary.baseline_version = 3
    summary.slices = {"payment_type": [{"value": "Cash", "auc": nan, "examples": 40}]}
    summary.blessed = False
    summary.reasons = ["auc n/a (the eval split holds one label class only) is below the minimum 0.9000"]
    return summary


def test_summary_prints_na_and_why_for_undefined_metrics():
    text = summary_lib.format_summary(_summary_with_undefined_metrics(), ["payment_type"])

    assert "auc n/a (the eval split holds one label class only)" in text
    assert "precision n/a (the model predicted no positives)" in text
    assert "binary_accuracy 0.7500" in text and "recall 0.0000" in text
    assert "auc n/a (the candidate's or the served model's AUC is undefined) against served version 3" in text
    assert "Blessed:     no: auc n/a" in text
    assert "nan" not in text.lower().replace("n/a", "")


def test_summary_json_is_strict_json():
    document = json.dumps(_summary_with_undefined_metrics().to_dict(), allow_nan=False)
    assert json.loads(document)["metrics"]["auc"] is None


def test_validation_failure_with_an_undefined_value_reads_na():
    failure = validation_result_pb2.ValidationFailure()
    failure.metric_key.name = "auc"
    failure.metric_value.double_value.value = math.nan
    failure.metric_threshold.value_threshold.lower_bound.value = 0.9

    assert summary_lib._describe_failure(failure, None) == (
        "auc n/a (the eval split holds one label class only) is below the minimum 0.9000"
    )
