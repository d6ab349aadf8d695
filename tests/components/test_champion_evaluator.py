"""The champion/challenger comparison: DeLong's paired AUC test, the AUCComparison metric inside real TFMA, and the
push policies on its numbers.

DeLong is checked against the definitions it shortcuts (the AUC as the share of positive-negative pairs ranked
right, its standard error against a paired bootstrap of the same rows); the metric against DeLong on the same rows,
overall and per slice, after a real TFMA run in which two models' scores are columns of the data.
"""

import itertools

import numpy as np
import pandas as pd
import pytest
import tensorflow_model_analysis as tfma

from components.champion_evaluator import auc_comparison, delong, executor, policy


def _scores(rows: int, seed: int = 0, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a served model's scores and a candidate's: the served one plus noise, so the two are correlated."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 0.3).astype(float)
    baseline = np.round(labels * 0.4 + rng.random(rows) * 0.6, 2)  # rounded: ties in scores
    return labels, baseline + rng.normal(0, noise, rows), baseline


def _pairwise_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The AUC by its definition: over every (positive, negative) pair, 1 if ranked right, 1/2 if tied."""
    positives, negatives = scores[labels > 0.5], scores[labels <= 0.5]
    wins = [1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives)]
    return float(np.mean(wins))


def _as_policy_reads_it(found: delong.PairedAUC) -> policy.Difference:
    return policy.Difference(
        found.candidate, found.baseline, found.difference, found.std_error, found.positives, found.negatives
    )


def test_midranks_share_the_mean_rank_of_ties():
    assert delong.midranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]


def test_aucs_are_the_share_of_pairs_ranked_right_with_ties_counted_half():
    labels, candidate, baseline = _scores(300)
    found = delong.paired_auc(labels, candidate, baseline)
    assert found.candidate == pytest.approx(_pairwise_auc(labels, candidate), abs=1e-12)
    assert found.baseline == pytest.approx(_pairwise_auc(labels, baseline), abs=1e-12)
    assert found.difference == pytest.approx(found.candidate - found.baseline, abs=1e-15)
    assert (found.positives, found.negatives) == (int(labels.sum()), int((labels == 0).sum()))


def test_standard_error_matches_a_paired_bootstrap_of_the_same_rows():
    labels, candidate, baseline = _scores(1500, seed=1)
    found = delong.paired_auc(labels, candidate, baseline)
    rng = np.random.default_rng(2)
    resampled = []
    for _ in range(800):
        rows = rng.integers(0, len(labels), len(labels))
        resampled.append(delong.paired_auc(labels[rows], candidate[rows], baseline[rows]).difference)
    assert found.std_error == pytest.approx(np.std(resampled), rel=0.12)
    lower, upper = _as_policy_reads_it(found).interval(0.95)
    assert (lower + upper) / 2 == pytest.approx(found.difference)
    assert upper - lower == pytest.approx(2 * 1.959964 * found.std_error, rel=1e-6)


def test_identical_scores_differ_by_exactly_zero_and_one_class_is_undefined():
    labels, _, baseline = _scores(200)
    same = delong.paired_auc(labels, baseline, baseline)
    assert (same.difference, same.std_error, _as_policy_reads_it(same).interval(0.95)) == (0.0, 0.0, (0.0, 0.0))
    assert delong.paired_auc(np.zeros(50), baseline[:50], baseline[:50]) is None
    assert delong.paired_auc(np.array([1.0, 0.0, 0.0]), baseline[:3], baseline[:3]) is None  # one positive


@pytest.fixture(scope="module")
def tfma_output(tmp_path_factory) -> tuple[str, pd.DataFrame]:
    """A real TFMA evaluation of two "models" whose scores are columns of the data, sliced by `group`."""
    labels, candidate, baseline = _scores(800, seed=3, noise=0.15)
    groups = np.where(np.arange(len(labels)) % 3 == 0, "a", "b").astype(object)
    groups[:20] = "tiny"
    data = pd.DataFrame({"label": labels, "candidate": candidate, "baseline": baseline, "group": groups})
    config = tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(name="candidate", label_key="label", prediction_key="candidate"),
            tfma.ModelSpec(name="baseline", label_key="label", prediction_key="baseline", is_baseline=True),
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["group"])],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name=auc_comparison.NAME, module=auc_comparison.MODULE)])
        ],
    )
    output = str(tmp_path_factory.mktemp("tfma"))
    tfma.analyze_raw_data(data, config, output_path=output)
    return output, data


def test_the_metric_in_tfma_is_delongs_test_on_the_same_rows_overall_and_per_slice(tfma_output):
    output, data = tfma_output
    overall, slices = executor.read_differences(output)
    expected = delong.paired_auc(data.label, data.candidate, data.baseline)
    assert (overall.positives, overall.negatives) == (expected.positives, expected.negatives)
    assert overall.difference == pytest.approx(expected.difference, abs=1e-9)
    assert overall.std_error == pytest.approx(expected.std_error, abs=1e-9)
    assert [(s.feature, s.value) for s in slices] == [("group", "a"), ("group", "b"), ("group", "tiny")]
    for found in slices:
        rows = data[data.group == found.value]
        assert found.found.rows == len(rows)
        assert found.found.difference == pytest.approx(
            delong.paired_auc(rows.label, rows.candidate, rows.baseline).difference, abs=1e-9
        )


def test_small_slices_are_listed_but_not_judged(tfma_output):
    _, slices = executor.read_differences(tfma_output[0])
    settings = policy.Settings("non_inferiority", 0.01, 0.95, min_slice_size=30)
    assert {s.value: policy.judged(s, settings) for s in slices} == {"a": True, "b": True, "tiny": False}


SETTINGS = {name: policy.Settings(name, margin=0.01, confidence=0.95, min_slice_size=30) for name in policy.POLICIES}


def _difference(difference: float, std_error: float, rows: int = 2000) -> policy.Difference:
    return policy.Difference(0.95 + difference, 0.95, difference, std_error, rows // 4, rows - rows // 4)


@pytest.mark.parametrize(
    "name, difference, std_error, passed, words",
    [
        # Inside the noise (the spans 3 and 4 of the shipped data): kept fresh, not a proven gain.
        ("non_inferiority", -0.0006, 0.0018, True, "AUC -0.0006, 95% CI [-0.0041, +0.0029]"),
        ("superiority", -0.0006, 0.0018, False, "superiority needs a gain above the margin 0.0100"),
        # A real loss beyond the tolerance, and one whose interval reaches past it.
        ("non_inferiority", -0.03, 0.004, False, "may be worse by more than the tolerance 0.0100"),
        ("non_inferiority", -0.004, 0.004, False, "lower bound is below -0.0100"),
        # A gain beyond the margin, with the interval above 0; and a gain the interval does not support.
        ("superiority", 0.02, 0.004, True, "better by more than the margin 0.0100 with the CI above 0"),
        ("superiority", 0.012, 0.007, False, "with the CI above 0"),
    ],
)
def test_policies_on_the_overall_difference(name, difference, std_error, passed, words):
    decision = policy.decide(SETTINGS[name], _difference(difference, std_error), [], 17, identical=False)
    assert decision.passed is passed and words in decision.reason, decision.reason
    assert "served version 17" in decision.reason


def test_nothing_served_identical_or_undefined():
    settings = SETTINGS["superiority"]
    assert policy.decide(settings, None, [], None, False) == policy.Decision(
        True, "nothing served yet: the thresholds alone decide"
    )
    identical = policy.decide(settings, _difference(0.0, 0.0), [], 17, identical=True)
    assert identical.passed and "served version 17 itself" in identical.reason
    undefined = policy.Difference(None, None, None, None, 0, 40)
    assert not policy.decide(settings, undefined, [], 17, False).passed


def _slice(value: str, difference: float, std_error: float, rows: int) -> policy.SliceDifference:
    return policy.SliceDifference("payment_type", value, _difference(difference, std_error, rows))


def test_a_judged_slice_shown_worse_beyond_the_margin_stops_the_push_with_bonferroni_intervals():
    settings, overall = SETTINGS["non_inferiority"], _difference(0.001, 0.002)
    cash_lost = _slice("Cash", -0.08, 0.01, rows=800)
    decision = policy.decide(settings, overall, [cash_lost, _slice("Card", 0.0, 0.003, 1200)], 17, False)
    assert not decision.passed
    assert "on payment_type = Cash (n=800) AUC -0.0800, 97.5% CI" in decision.reason
    assert "(Bonferroni over 2 slices of n>=30)" in decision.reason
    # Below -margin at 95% (-0.025 +- 1.96 * 0.0075 < -0.01), not once widened for 20 slices (z = 3.02): it passes.
    many = [_slice("Cash", -0.025, 0.0075, 800)] + [_slice(f"other {i}", 0.0, 0.003, 900) for i in range(19)]
    assert policy.decide(settings, overall, many, 17, False).passed
    # Too small to judge, however bad.
    assert policy.decide(settings, overall, [_slice("No Charge", -0.5, 0.05, rows=29)], 17, False).passed
