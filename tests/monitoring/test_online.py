"""Online quality (monitoring/online.py) on request logs written as the server writes them, joined with outcomes.

Synthetic requests of one to three rows with known labels; every figure is checked against an independent
reference: scikit-learn's roc_auc_score and log_loss, numpy means, scipy's t tests for the log loss differences.
"""

import json
import math
import os

import numpy as np
import pytest
from prediction_logs import MODEL, Logged, write_logs
from scipy import stats
from sklearn.metrics import log_loss, roc_auc_score

from feedback import store
from monitoring import online, online_stats

START = 1_700_000_000


def _requests(rng, count, version, route, prefix, quality=2.0, start=START):
    """`count` requests of 1-3 rows; a row's score is a noisy function of its label (higher `quality`: better)."""
    logged, labels = [], {}
    for number in range(count):
        rows = int(rng.integers(1, 4))
        truth = rng.random(rows) < 0.35
        scores = 1 / (1 + np.exp(-(quality * (truth - 0.5) + rng.normal(0, 1, rows))))
        request_id = f"{prefix}{number}"
        logged.append(Logged(request_id, version, route, scores.tolist(), timestamp=start + number))
        labels.update({(request_id, row): int(label) for row, label in enumerate(truth)})
    return logged, labels


def _store(path, labels):
    store.add(path, [store.Outcome(rid, row, label, None, "test") for (rid, row), label in labels.items()])
    return path


def _rows(logged, labels, keys=None):
    """(labels, scores) of the labelled rows, as float32 scores (the log's dtype) widened to float64."""
    ys, ss = [], []
    for entry in logged:
        for row, score in enumerate(entry.scores):
            key = (entry.request_id, row)
            if key in labels and (keys is None or key in keys):
                ys.append(labels[key])
                ss.append(float(np.float32(score)))
    return np.array(ys), np.array(ss)


@pytest.fixture
def rng():
    return np.random.default_rng(15)


def test_each_version_and_route_matches_the_references(tmp_path, rng):
    stable, stable_labels = _requests(rng, 300, 1, "stable", "s")
    canary, canary_labels = _requests(rng, 60, 2, "canary", "c", quality=1.0)
    labels = {**stable_labels, **canary_labels}
    # Outcomes for 80% of the rows only: the others were never labelled.
    known = {key: label for key, label in labels.items() if rng.random() < 0.8}
    logs = write_logs(str(tmp_path / "logs"), stable + canary)
    report = online.measure(logs, _store(str(tmp_path / "o.sqlite"), known), MODEL)

    assert [(v.version, v.route) for v in report.versions] == [("1", "stable"), ("2", "canary")]
    for entry, logged in ((report.version("1", "stable"), stable), (report.version("2", "canary"), canary)):
        y, s = _rows(logged, known)
        every = np.array([np.float32(x) for e in logged for x in e.scores], np.float64)
        assert entry.predictions == len(every) and entry.labelled == len(y) and entry.positives == int(y.sum())
        assert entry.auc.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert entry.log_loss.value == pytest.approx(log_loss(y, s), rel=1e-9)
        assert entry.predicted_rate.value == pytest.approx(s.mean())
        assert entry.observed_rate.value == pytest.approx(y.mean())
        assert entry.positive_rate.value == pytest.approx((every >= 0.5).mean())
        for estimate in (entry.auc, entry.log_loss, entry.predicted_rate, entry.observed_rate, entry.positive_rate):
            assert estimate.low < estimate.value < estimate.high, estimate
    json.loads(report.to_json())  # plain JSON
    assert report.outcomes_stored == len(known)


def test_a_perfect_model_has_auc_1_and_a_random_one_an_interval_around_one_half(tmp_path, rng):
    perfect = [Logged(f"p{i}", 1, "stable", [0.9 if i % 3 == 0 else 0.1]) for i in range(90)]
    coin = [Logged(f"r{i}", 2, "canary", [float(rng.random())]) for i in range(400)]
    labels = {(f"p{i}", 0): int(i % 3 == 0) for i in range(90)}
    labels.update({(f"r{i}", 0): int(rng.random() < 0.5) for i in range(400)})
    logs = write_logs(str(tmp_path / "logs"), perfect + coin)
    report = online.measure(logs, _store(str(tmp_path / "o.sqlite"), labels), MODEL)
    assert report.version("1", "stable").auc == online_stats.Estimate(1.0, 1.0, 1.0)
    random_auc = report.version("2", "canary").auc
    assert random_auc.low < 0.5 < random_auc.high and random_auc.high - random_auc.low < 0.15


def test_the_auc_interval_covers_the_true_auc_about_as_often_as_it_says():
    """200 samples of 120 rows from two normal score distributions (true AUC = Phi(1/sqrt(2)) = 0.760)."""
    rng, truth, covered = np.random.default_rng(7), stats.norm.cdf(1 / math.sqrt(2)), 0
    for _ in range(200):
        labels = (rng.random(120) < 0.4).astype(float)
        scores = rng.normal(labels, 1.0)
        estimate = online_stats.auc(labels, scores, 0.95)
        covered += estimate.low <= truth <= estimate.high
    assert 0.89 <= covered / 200 <= 0.99


def test_one_class_only_or_no_outcomes_is_none_with_a_reason_never_nan(tmp_path):
    logged = [Logged(f"a{i}", 1, "stable", [0.2, 0.7]) for i in range(5)]
    logged += [Logged(f"b{i}", 2, "canary", [0.4]) for i in range(5)]
    labels = {(f"a{i}", row): 1 for i in range(5) for row in range(2)}
    logs = write_logs(str(tmp_path / "logs"), logged)
    report = online.measure(logs, _store(str(tmp_path / "o.sqlite"), labels), MODEL)
    stable, canary = report.version("1", "stable"), report.version("2", "canary")
    assert stable.auc.value is None and "one class only (10 positive, 0 negative" in stable.auc.reason
    assert stable.log_loss.value == pytest.approx(-(np.log(np.float32(0.2)) + np.log(np.float32(0.7))) / 2)
    assert canary.labelled == 0 and canary.auc.reason == "no labelled predictions"
    assert canary.positive_rate.value == 0.0  # measurable without outcomes
    assert all(c.difference.value is None and c.difference.reason for c in report.comparisons)
    json.dumps(report.to_dict(), allow_nan=False)  # no NaN anywhere
    empty = online.measure(logs, str(tmp_path / "none.sqlite"), MODEL)  # no store yet
    assert empty.outcomes_stored == 0 and empty.version("1", "stable").auc.reason == "no labelled predictions"


def test_shadow_against_stable_is_paired_and_canary_against_stable_is_not(tmp_path, rng):
    stable, labels = _requests(rng, 400, 1, "stable", "s")
    # The shadow answered a copy of every other request: the same ids, scores close to stable's.
    shadow = [Logged(e.request_id, 3, "shadow", [min(1.0, x * 1.05) for x in e.scores], e.timestamp)
              for e in stable[::2]]  # fmt: skip
    canary, canary_labels = _requests(rng, 100, 2, "canary", "c", start=START + 100)
    logs = write_logs(str(tmp_path / "logs"), stable + shadow + canary)
    report = online.measure(logs, _store(str(tmp_path / "o.sqlite"), {**labels, **canary_labels}), MODEL)
    found = {(c.candidate_route, c.measure): c for c in report.comparisons}
    assert report.comparison(3, online.AUC) is found[("shadow", "auc")] and report.comparison(9, online.AUC) is None
    assert set(found) == {("canary", "auc"), ("canary", "log_loss"), ("shadow", "auc"), ("shadow", "log_loss")}

    paired = found[("shadow", "auc")]
    y, s_shadow = _rows(shadow, labels)
    _, s_stable = _rows(stable, labels, keys={(e.request_id, r) for e in shadow for r in range(len(e.scores))})
    assert paired.paired and paired.n == paired.baseline_n == len(y) and paired.baseline_version == "1"
    assert paired.difference.value == pytest.approx(roc_auc_score(y, s_shadow) - roc_auc_score(y, s_stable))
    unpaired_width = online_stats.auc_difference_unpaired((y, s_shadow), (y, s_stable), 0.95)
    assert paired.difference.high - paired.difference.low < (unpaired_width.high - unpaired_width.low) / 5
    loss = found[("shadow", "log_loss")]
    reference = stats.ttest_rel(online_stats.losses(y, s_shadow), online_stats.losses(y, s_stable))
    low, high = reference.confidence_interval(0.95)
    assert (loss.difference.low, loss.difference.high) == pytest.approx((low, high))

    canary_auc = found[("canary", "auc")]
    # Unpaired, and against the stable rows of the canary's time span only (requests 100-199 of stable).
    span = {(e.request_id, r) for e in stable if START + 100 <= e.timestamp <= START + 199 for r in range(3)}
    y_c, s_c = _rows(canary, canary_labels)
    y_s, s_s = _rows(stable, labels, keys=span)
    assert not canary_auc.paired and (canary_auc.n, canary_auc.baseline_n) == (len(y_c), len(y_s))
    assert canary_auc.difference.value == pytest.approx(roc_auc_score(y_c, s_c) - roc_auc_score(y_s, s_s))
    welch = stats.ttest_ind(online_stats.losses(y_c, s_c), online_stats.losses(y_s, s_s), equal_var=False)
    low, high = welch.confidence_interval(0.95)
    found_loss = found[("canary", "log_loss")].difference
    assert (found_loss.low, found_loss.high) == pytest.approx((low, high))


def test_a_canary_is_compared_with_the_stable_versions_that_answered_beside_it_only(tmp_path, rng):
    # Version 1 was stable, then version 2 after its canary; version 3's canary ran beside stable version 2 only.
    old, labels = _requests(rng, 100, 1, "stable", "a")
    canary_2, more = _requests(rng, 100, 2, "canary", "b")
    stable_2, later = _requests(rng, 100, 2, "stable", "c", start=START + 500)
    canary_3, last = _requests(rng, 100, 3, "canary", "d", start=START + 500)
    logs = write_logs(str(tmp_path / "logs"), old + canary_2 + stable_2 + canary_3)
    report = online.measure(logs, _store(str(tmp_path / "o.sqlite"), {**labels, **more, **later, **last}), MODEL)
    pairs = {(c.candidate_version, c.candidate_route, c.baseline_version) for c in report.comparisons}
    assert pairs == {("2", "canary", "1"), ("3", "canary", "2")}  # not 2 against itself, nor 3 against 1
    assert all(c.baseline_n > 0 and c.difference.value is not None for c in report.comparisons)

    alone, labels = _requests(rng, 50, 4, "canary", "e", start=START + 900)  # no stable answered at that time
    logs = write_logs(str(tmp_path / "alone"), old + alone)
    report = online.measure(logs, _store(str(tmp_path / "alone.sqlite"), labels), MODEL)
    reasons = {(c.baseline_version, c.difference.reason) for c in report.comparisons}
    assert reasons == {("1", "no labelled stable predictions in the canary's time span")}  # said, not hidden


def test_windows_retries_other_models_entries_without_ids_and_every_log_type(tmp_path):
    logged = [Logged(f"r{i}", 1, "stable", [0.1 + 0.8 * (i % 2)], timestamp=START + i) for i in range(20)]
    logged += [Logged("r19", 1, "stable", [0.9], timestamp=START + 30)]  # a retry of r19
    logged += [Logged("x", 1, "stable", [0.5], model="other_model"), Logged("", 1, "stable", [0.3, 0.6])]
    logged += [Logged("nan", 1, "stable", [float("nan"), 0.4])]  # row 0 cannot be measured, row 1 can
    logged += [Logged(f"k{i}", 4, "direct", [0.2 + 0.5 * (i % 2)], kind=kind) for i, kind in
               enumerate(["classify", "regress", "classify", "regress"])]  # fmt: skip
    labels = {(f"r{i}", 0): i % 2 for i in range(20)}
    labels.update({(f"k{i}", 0): i % 2 for i in range(4)} | {("nan", 0): 1, ("nan", 1): 0})
    logs = write_logs(str(tmp_path / "logs"), logged)
    outcomes = _store(str(tmp_path / "o.sqlite"), labels)

    report = online.measure(logs, outcomes, MODEL)
    stable = report.version("1", "stable")
    assert (stable.predictions, stable.labelled) == (23, 21)  # the retry once; the id-less entry's 2 rows unlabelled
    assert report.ignored == {"model other_model": 1, "entries without a request id (predictions counted, never "
                              "labelled)": 1, "rows whose score is not a finite number": 1}  # fmt: skip
    json.dumps(report.to_dict(), allow_nan=False)
    direct = report.version("4", "direct")
    assert direct.labelled == 4 and direct.auc.value == 1.0
    assert direct.predicted_rate.value == pytest.approx(np.mean(np.float32([0.2, 0.7, 0.2, 0.7])))

    recent = online.measure(logs, outcomes, MODEL, since=START + 10)
    assert recent.version("1", "stable").labelled == 10 and recent.version("4", "direct") is None
    last = online.measure(logs, outcomes, MODEL, last=6).version("1", "stable")
    assert last.labelled == 6 and (last.first, last.last) == (START + 14, START + 30)  # r19 retried at +30
    with pytest.raises(ValueError, match="last must be at least 1"):
        online.measure(logs, outcomes, MODEL, last=0)
    assert os.path.exists(outcomes)


def test_the_skew_report_carries_the_online_section_only_when_measured(tmp_path):
    from monitoring import skew  # TFDV and TFX's file helpers: imported by this test only

    logs = write_logs(str(tmp_path / "logs"), [Logged("a", 1, "stable", [0.3]), Logged("b", 1, "stable", [0.8])])
    quality = online.measure(logs, _store(str(tmp_path / "o.sqlite"), {("a", 0): 0, ("b", 0): 1}), MODEL)
    report = skew.SkewReport(logs, [], "config.yaml", "now", [], {})
    skew.write_reports(report, str(tmp_path / "with.json"), str(tmp_path / "with.html"), quality)
    skew.write_reports(report, str(tmp_path / "without.json"), str(tmp_path / "without.html"))
    with_online = json.loads((tmp_path / "with.json").read_text())
    assert with_online["online"]["versions"][0]["auc"]["value"] == 1.0
    assert with_online["online"]["versions"][0]["auc"]["reason"].startswith("no variance with 1 positive")
    assert "Online quality of chicago_taxi" in (tmp_path / "with.html").read_text()
    assert "online" not in json.loads((tmp_path / "without.json").read_text())
    assert "Online quality" not in (tmp_path / "without.html").read_text()
