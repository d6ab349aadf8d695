"""The end-of-run summary: an undefined metric (NaN, infinity, missing) reads "n/a" and why, and the comparison with
the served model reads as the Evaluator recorded it: the AUC difference with its interval, overall and per slice."""

import json
import math

import pytest
from google.protobuf import json_format
from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2

from components.champion_evaluator import executor as evaluator_executor
from components.champion_evaluator import policy
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
    summary.metrics = {"auc": nan, "binary_accuracy": 0.75, "precision": nan, "recall": 0.0}
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

    assert summary_lib._describe_failure(failure) == (
        "auc n/a (the eval split holds one label class only) is below the minimum 0.9000 (evaluation.thresholds)"
    )


def _compared(difference: float, std_error: float, slices: list[policy.SliceDifference]) -> summary_lib.RunSummary:
    """A summary whose Evaluator compared the candidate with served version 17 under the default policy."""
    settings = policy.Settings(policy.NON_INFERIORITY, margin=0.01, confidence=0.95, min_slice_size=30)
    overall = policy.Difference(0.95 + difference, 0.95, difference, std_error, 600, 2212)
    decision = policy.decide(settings, overall, slices, 17, identical=False)
    summary = summary_lib.RunSummary("run-2", {"Evaluator": "COMPLETE", "Pusher": "COMPLETE"})
    summary.metrics = {"auc": 0.95 + difference}
    summary.blessed, summary.baseline_version = decision.passed, 17
    summary.comparison = evaluator_executor.comparison_record(settings, decision, overall, slices, 17, False)
    summary.reasons = [] if decision.passed else [decision.reason]
    return summary


def test_the_comparison_with_the_served_model_prints_the_difference_and_its_interval():
    small = policy.SliceDifference("payment_type", "No Charge", policy.Difference(0.5, 0.6, -0.1, 0.2, 3, 9))
    cash = policy.SliceDifference("payment_type", "Cash", policy.Difference(0.90, 0.91, -0.0103, 0.006, 40, 1600))
    summary = _compared(-0.0006, 0.0018, [cash, small])
    summary.slices = {"payment_type": [{"value": "Cash", "auc": 0.90, "examples": 1640}]}
    text = summary_lib.format_summary(summary, ["payment_type"])
    assert (
        "  Compared:    AUC -0.0006, 95% CI [-0.0041, +0.0029] against served version 17 (DeLong, 2,812 eval rows; "
        "policy non_inferiority, loss tolerated 0.0100)"
    ) in text
    assert (
        "  vs served by payment_type: 1 of 2 slices judged (n>=30, both classes); lowest change: "
        "Cash -0.0103 [-0.0221, +0.0015] (n=1640)"
    ) in text
    assert "  Blessed:     yes: every threshold met; AUC -0.0006, 95% CI [-0.0041, +0.0029] against served" in text
    assert "Pushed:      no (the served model is unchanged)" in text  # blessed, but this summary recorded no push


def test_a_refusal_is_the_reason_and_an_identical_model_is_not_pushed_again():
    refused = summary_lib.format_summary(_compared(-0.03, 0.004, []), [])
    assert "Blessed:     no: AUC -0.0300, 95% CI [-0.0378, -0.0222] against served version 17: the CI's" in refused
    identical = _compared(0.0, 0.0, [])
    identical.identical_to_version, identical.model_fingerprint = 17, "sha256:abc"
    text = summary_lib.format_summary(identical, [])
    assert "Pushed:      no: version 17 in the serving folder already holds this model (same fingerprint" in text


def test_a_sampled_evaluation_says_on_how_many_of_how_many_eval_rows_and_that_its_interval_is_wider():
    summary = _compared(-0.0006, 0.0018, [])
    summary.comparison["sample"] = {"evaluated_rows": 2812, "eval_rows": 30000, "method": "hash sample"}
    text = summary_lib.format_summary(summary, [])
    assert "  Evaluation:  auc 0.9494 on 2,812 of 30,000 eval rows (hash sample)" in text
    assert (
        "against served version 17 (DeLong, on 2,812 of 30,000 eval rows (hash sample), an interval wider than on "
        "every row; policy non_inferiority" in text
    )
    summary.comparison["sample"] = {"evaluated_rows": 2812, "eval_rows": 2812, "method": "every row"}
    assert "(hash sample)" not in summary_lib.format_summary(summary, [])
