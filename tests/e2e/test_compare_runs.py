"""`kfx compare` and `kfx board --all` on real runs (the session's stages of tests/conftest.py): the weak candidate
and the proper one trained on the same window are compared on the same eval rows (paired, each AUC the one its own
Evaluator measured with DeLong's exact AUC), the version pushed from span 1 against the run on spans 1-2 on other rows
(unpaired, and said so); TensorBoard's runs are named by run id and date."""

import datetime
import json
import re

import pytest
from conftest import run_kfx, run_summary, tensorboard

from components.champion_evaluator import delong

pytestmark = pytest.mark.e2e


def _compare(workspace: str, a: str, b: str, html: str, *args: str) -> dict:
    result = run_kfx("compare", a, b, "--workspace", workspace, "--json", "--html", html, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_two_runs_on_the_same_rows_are_compared_paired(span_2_refused, span_2_pushed, tmp_path):
    weak, proper = run_summary(span_2_refused["run"]), run_summary(span_2_pushed["run"])
    html = tmp_path / "compare.html"
    found = _compare(span_2_pushed["workspace"], weak["run_id"][:24], proper["run_id"], str(html))
    a, b, metrics = found["a"], found["b"], found["metrics"]
    assert (a["run_id"], b["run_id"]) == (weak["run_id"], proper["run_id"])
    assert metrics["pairing"] == "paired" and metrics["method"].startswith("paired: both models scored the same")
    overall = metrics["overall"]
    assert overall["rows_a"] == overall["rows_b"] == weak["examples"]["eval"] == proper["examples"]["eval"]
    # Each model's exact AUC on these rows, as its own run's Evaluator measured it (against the served model).
    assert overall["auc_a"] == pytest.approx(weak["comparison"]["overall"]["candidate"], abs=1e-6)
    assert overall["auc_b"] == pytest.approx(proper["comparison"]["overall"]["candidate"], abs=1e-6)
    assert overall["auc_lower"] < overall["auc_difference"] < overall["auc_upper"]
    assert overall["auc_difference"] > 0  # 300 steps beat 5
    assert {row["feature"] for row in metrics["slices"]} == {"trip_start_hour", "payment_type", "company"}
    assert (a["blessed"], b["blessed"], a["outcome"], b["outcome"]) == (False, True, "not blessed", "pushed")
    assert a["spans"] == b["spans"] == [1, 2] and a["data_fingerprint"] == b["data_fingerprint"]
    assert a["rows"] == weak["examples"] and b["rows"] == proper["examples"]
    assert found["data_note"].startswith("the same data") and found["changed_features"] == []
    assert found["config_note"].startswith("the same configuration file contents")
    assert a["config_recorded"] and b["config_recorded"]  # `kfx run` recorded the file's text on the run
    changed = {row["name"]: (row["a"], row["b"]) for row in found["hyperparameters"] if row["changed"]}
    assert changed == {"train_steps": (5, 300)}  # --train-steps 5: an override, not in the config file
    assert found["commits_note"].startswith("the same commit")
    page = html.read_text()
    assert not re.search("https?://", page) and "paired: both models scored the same" in page


def test_a_version_against_a_run_on_other_rows_is_unpaired(e2e_span_1, span_2_pushed, tmp_path):
    first, proper = run_summary(e2e_span_1["first"]), run_summary(span_2_pushed["run"])
    found = _compare(
        span_2_pushed["workspace"], f"v:{first['pushed_version']}", proper["run_id"], str(tmp_path / "c.html")
    )
    a, overall = found["a"], found["metrics"]["overall"]
    assert found["b"]["run_id"] == proper["run_id"]
    assert (a["name"], a["run_id"], a["version"]) == (
        f"version {first['pushed_version']}",
        first["run_id"],
        int(first["pushed_version"]),
    )
    assert found["metrics"]["pairing"] == "unpaired"
    assert found["metrics"]["method"].startswith("unpaired: the eval rows differ (spans 1 vs 1,2")
    assert (overall["rows_a"], overall["rows_b"]) == (first["examples"]["eval"], proper["examples"]["eval"])
    assert overall["auc_a"] == pytest.approx(first["metrics"]["auc"], abs=0.01)  # TFMA's AUC is approximate
    assert a["model_dir"] == first["pushed_path"]  # a version is scored from its pushed folder
    assert found["data_note"].startswith("the training rows' distributions") and found["changed_features"]
    assert any(line.startswith("+") and "data" in line for line in found["config_diff"][2:]), found["config_diff"]
    # On B's rows, paired: what B's Evaluator measured against the version served then, which was A.
    on_b = _compare(
        span_2_pushed["workspace"], a["asked"], proper["run_id"], str(tmp_path / "b.html"), "--on-rows-of-b"
    )
    served = proper["comparison"]["overall"]
    assert (
        proper["comparison"]["served_version"] == int(first["pushed_version"])
        and on_b["b"]["run_id"] == proper["run_id"]
    )
    assert on_b["metrics"]["pairing"] == "paired" and "paired on B's" in on_b["metrics"]["method"]
    overall = on_b["metrics"]["overall"]
    assert (overall["auc_a"], overall["auc_b"]) == pytest.approx((served["baseline"], served["candidate"]), abs=1e-6)
    assert overall["auc_difference"] == pytest.approx(served["difference"], abs=1e-6)
    half = overall["auc_upper"] - overall["auc_difference"]
    assert half == pytest.approx(delong.z_score(0.95) * served["std_error"], abs=1e-6)


def test_board_all_names_each_training_by_run_id_and_date(e2e_span_1, span_2_refused, span_2_pushed):
    trained = [run_summary(result) for result in (e2e_span_1["first"], span_2_refused["run"], span_2_pushed["run"])]
    with tensorboard("--all", "--workspace", span_2_pushed["workspace"]) as read:
        runs = read("data/runs", lambda found: len(found) >= 2 * len(trained))
    expected = set()
    for summary in trained:  # the rerun reused the first run's training: no run of its own
        started = datetime.datetime.fromisoformat(summary["run_id"])  # `kfx run` ids are local start times
        names = {f"{summary['run_id']} {(started + datetime.timedelta(minutes=m)):%Y-%m-%d %H:%M}" for m in range(10)}
        (name,) = {run.rsplit("/", 1)[0] for run in runs} & names
        expected |= {f"{name}/train", f"{name}/validation"}
    assert set(runs) == expected, runs
