"""profiling/baseline.py: the quick gradient-boosted baseline, its AUC interval and the majority-class rate."""

import random

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from profiling import baseline as baseline_lib
from profiling import proposal


def _frame(rows: int, signal: float, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = random.Random(seed)
    x = [rng.gauss(0, 1) for _ in range(rows)]
    color = [rng.choice(["red", "blue", "green"]) for _ in range(rows)]
    y = [float(signal * a + (0.5 if c == "red" else 0) + rng.gauss(0, 1) > 0.8) for a, c in zip(x, color, strict=True)]
    frame = pd.DataFrame({"x": [f"{a:.4f}" for a in x], "color": color, "y": [str(v) for v in y]})
    return frame, pd.Series(y, name="y")


def test_the_auc_and_its_standard_error_match_the_definitions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400).astype(float)
    scores = labels * 0.8 + rng.normal(0, 1, 400)
    auc, error = baseline_lib.auc_with_error(labels, scores)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    boot = []  # a bootstrap of the same rows gives about the same standard error
    for _ in range(300):
        pick = rng.integers(0, 400, 400)
        boot.append(roc_auc_score(labels[pick], scores[pick]))
    assert error == pytest.approx(np.std(boot), rel=0.2)


def test_a_learnable_label_gets_a_high_auc_and_noise_does_not():
    frame, labels = _frame(3000, signal=2.0)
    found = baseline_lib.quick_baseline(frame, labels, ("x",), ("color",))
    assert found.auc > 0.85 and found.low < found.auc < found.high
    assert found.eval_rows + found.train_rows == 3000 and 450 < found.eval_rows < 750  # one bucket of five
    held_out = baseline_lib.held_out(frame)
    assert found.majority_rate == pytest.approx(max(labels[held_out].mean(), 1 - labels[held_out].mean()))
    noise, noise_labels = _frame(3000, signal=0.0, seed=1)
    noise = noise.assign(x=noise["x"].sample(frac=1, random_state=0).to_numpy())
    unrelated = baseline_lib.quick_baseline(noise, noise_labels, ("x",), ())
    assert unrelated.low < 0.56 and unrelated.auc < found.low


def test_the_split_is_deterministic_and_too_few_rows_give_no_baseline():
    frame, labels = _frame(200, signal=2.0)
    assert (baseline_lib.held_out(frame) == baseline_lib.held_out(frame.copy())).all()
    assert baseline_lib.quick_baseline(frame.head(12), labels.head(12), ("x",), ()) is None
    assert baseline_lib.quick_baseline(frame, labels, (), ()) is None


def test_a_feature_that_alone_predicts_the_label_is_left_out_as_a_likely_leak(tmp_path):
    rng = np.random.default_rng(3)
    rows = 1000
    died = rng.random(rows) < 0.3
    frame = pd.DataFrame(
        {
            "age": np.round(rng.normal(60, 10, rows) + 15 * died, 1),  # informative, not perfect
            "cause": np.where(died, rng.choice(["heart", "cancer", "other"], rows), ""),  # recorded only after death
            "death": died.astype(int),
        }
    )
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    found = proposal.propose(str(path), "death")
    assert found.profile.role_of("age").role == "numeric"
    cause = found.profile.role_of("cause")
    assert cause.role == "left out" and cause.reason.startswith(
        "likely leak: alone it predicts the label with held-out AUC 1.000"
    )
    assert found.baseline is not None and 0.6 < found.baseline.auc < 0.9  # measured without the leak
