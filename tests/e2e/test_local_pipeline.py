"""The real pipeline end to end on slices of the taxi data, through the `kfx` CLI, checked in ML Metadata.

The life of a continuously trained model, as stages built by session fixtures, each on a copy of the stage before (a
stage's workspace never changes once built, so each test runs alone and in any order):
  span 1: a cold run (100 steps, pushed) and a rerun (fully cached) -> `kfx lineage` / `kfx board` ->
  span 2 with a deliberately weak candidate (evaluated on the window, refused: the served model stays) ->
  span 2 trained properly on the window of spans 1-2 (beats the model served, trained shorter on span 1: pushed) ->
  span 3, each case on its own copy: fares x10 (drift blocks it before training; then, each on a copy, a normal
  span 4 passes against span 2 and `--accept-drift` accepts span 3), text in a numeric column (refused before
  anything runs), unknown payment types (the data gate blocks it).
"""

import getpass
import json
import os
import re
import subprocess

import pytest
import yaml
from conftest import (
    REPO,
    SPAN_2_CSV,
    next_stage,
    printed_run_id,
    run_kfx,
    run_pipeline,
    run_summary,
    runs_the_pipeline,
    serving_dir,
    tensorboard,
    tree_digest,
    write_span,
)
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

pytestmark = pytest.mark.e2e

STANDARD_COMPONENTS = {
    "StatisticsGen", "SchemaGen", "ExampleValidator", "DistributionValidator", "Transform", "Trainer", "Evaluator",
    "Pusher", "ImportSchemaGen",
}  # fmt: skip
OUR_COMPONENTS = {"WindowExampleGen", "DriftGate", "DriftStop", "DataGate", "ServingBaseline"}


def _store(project):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = os.path.join(project["workspace"], "metadata.sqlite")
    return metadata_store.MetadataStore(config)


def _run_states(project, run_id=None):
    """Node id -> execution state of the run `run_id` (default: the most recent run)."""
    store = _store(project)
    runs = store.get_contexts_by_type("pipeline_run")
    run = next(c for c in runs if c.name == run_id) if run_id else max(runs, key=lambda c: c.create_time_since_epoch)
    prefix, states = project["pipeline"] + ".", {}
    for execution in store.get_executions_by_context(run.id):
        node = next(c.name for c in store.get_contexts_by_execution(execution.id) if c.name.startswith(prefix))
        states[node.removeprefix(prefix)] = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
    return states


def _span_3(span_2_pushed, root, change) -> dict:
    """A copy of the pushed span 2 stage with a span 3 of its own: rows of span 2 passed through `change`."""
    project = next_stage(span_2_pushed, root, new_data=True)
    write_span(project, 3, SPAN_2_CSV, 3000, change)
    return project


def _lineage(project, *args):
    result = run_kfx("lineage", "--workspace", project["workspace"], "--json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_cold_run_executes_every_component_and_pushes(e2e_project, e2e_first_run):
    states = _run_states(e2e_project, printed_run_id(e2e_first_run))
    assert set(states) == STANDARD_COMPONENTS | OUR_COMPONENTS
    assert set(states.values()) == {"COMPLETE"}, states
    versions = os.listdir(serving_dir(e2e_project))
    assert len(versions) == 1 and os.path.exists(os.path.join(serving_dir(e2e_project), versions[0], "saved_model.pb"))
    assert f"Pushed:      version {versions[0]}" in e2e_first_run.stdout
    assert "Validation:  passed" in e2e_first_run.stdout and "Blessed:     yes" in e2e_first_run.stdout
    assert "Drift:       not checked: no earlier span" in e2e_first_run.stdout
    report = re.search(r"^Report: (\S+\.html)$", e2e_first_run.stdout, re.MULTILINE)
    assert report and os.path.isfile(report.group(1)), e2e_first_run.stdout
    # Progress lines, not TFX/Beam logs, reach the console.
    assert "[14/14] Pusher" in e2e_first_run.stdout and "absl" not in e2e_first_run.stdout + e2e_first_run.stderr


def test_lineage_leads_from_the_served_version_to_its_span_files_and_commit(e2e_project, e2e_span_1):
    (version,) = os.listdir(serving_dir(e2e_project))
    found = _lineage(e2e_project)
    assert found["version"] == int(version)
    nodes = [step["node"] for step in found["steps"]]
    assert nodes[:4] == ["Pusher", "Evaluator", "Trainer", "Transform"] and nodes[-1] == "WindowExampleGen"
    assert {"StatisticsGen", "ExampleValidator", "DataGate", "DistributionValidator", "DriftGate"} <= set(nodes)
    example_gen = found["steps"][-1]
    assert example_gen["details"]["window_spans"] == [1] and example_gen["details"]["previous_span"] is None
    assert found["steps"][1]["details"]["blessed"] is True and found["steps"][1]["details"]["comparison_passed"] is True
    assert example_gen["details"]["window_files"] == {"1": [str(e2e_project["data"] / "span-1" / "data.csv")]}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert {step["commit"] for step in found["steps"]} == {head}
    # The work was done by the cold run; the cached rerun only points back at it.
    assert {step["run_id"] for step in found["steps"]} == {printed_run_id(e2e_span_1["first"])}

    unknown = run_kfx("lineage", "--workspace", e2e_project["workspace"], "--version", "42")
    assert unknown.returncode == 2 and f"pushed versions: {version}" in unknown.stderr


def test_rerun_with_nothing_changed_reuses_the_model_and_never_pushes_it_again(e2e_project, e2e_span_1):
    result = e2e_span_1["rerun"]
    assert result.returncode == 0, result.stdout + result.stderr
    states = _run_states(e2e_project, printed_run_id(result))
    assert set(states) == STANDARD_COMPONENTS | OUR_COMPONENTS
    # The served model is read again (never cached), so the reused candidate is evaluated against it: itself.
    reread = {"ServingBaseline", "Evaluator", "Pusher"}
    assert {node for node, state in states.items() if state == "COMPLETE"} == reread, states
    assert {states[node] for node in set(states) - reread} == {"CACHED"}, states
    assert tree_digest(serving_dir(e2e_project)) == e2e_span_1["served_before_rerun"]
    (version,) = os.listdir(serving_dir(e2e_project))
    assert f"Pushed:      no: version {version} in the serving folder already holds this model" in result.stdout


def test_board_serves_the_training_curves(e2e_project, e2e_span_1):
    with tensorboard("--workspace", e2e_project["workspace"]) as read:
        tags = read("data/plugin/scalars/tags", lambda found: "epoch_auc" in found.get("validation", {}))
        assert {"train", "validation"} <= set(tags), tags
        assert {"epoch_auc", "epoch_loss"} <= set(tags["train"]), tags
        points = read("data/plugin/scalars/scalars?run=validation&tag=epoch_auc")
        assert points and all(0.5 < value <= 1.0 for _, _, value in points), points


def test_weak_candidate_on_a_new_span_is_refused_and_the_served_model_stays(e2e_project, span_2_refused):
    result = span_2_refused["run"]
    assert result.returncode == 0, result.stdout + result.stderr
    summary = run_summary(result)
    assert summary["spans"] == [1, 2] and summary["previous_span"] == 1
    assert summary["drift"].startswith("passed"), summary["drift"]
    assert summary["blessed"] is False and summary["pushed_version"] is None
    (version,) = os.listdir(serving_dir(span_2_refused))
    assert summary["baseline_version"] == int(version)
    assert any("auc" in reason.lower() and f"version {version}" in reason for reason in summary["reasons"]), summary
    interval = r"Compared:    AUC -0\.\d{4}, 95% CI \[-0\.\d{4}, [-+]0\.\d{4}\] against served version"
    assert re.search(interval, result.stdout), result.stdout
    assert "Pushed:      no" in result.stdout
    assert tree_digest(serving_dir(span_2_refused)) == tree_digest(serving_dir(e2e_project))  # as copied


def test_new_span_trained_properly_beats_the_served_model_and_is_pushed(span_2_refused, span_2_pushed):
    (served,) = os.listdir(serving_dir(span_2_refused))
    result = span_2_pushed["run"]
    assert result.returncode == 0, result.stdout + result.stderr
    summary = run_summary(result)
    assert summary["spans"] == [1, 2] and summary["baseline_version"] == int(served)
    overall = summary["comparison"]["overall"]
    assert summary["blessed"] is True and overall["lower"] > -summary["comparison"]["margin"], summary
    assert f"CI [{overall['lower']:+.4f}, {overall['upper']:+.4f}] against served version {served}" in result.stdout
    assert sorted(os.listdir(serving_dir(span_2_pushed))) == [served, summary["pushed_version"]]
    # Only training parameters changed since the weak candidate: its examples and Transform graph are reused.
    states = _run_states(span_2_pushed, printed_run_id(result))
    assert states["Transform"] == "CACHED" and states["Trainer"] == "COMPLETE", states
    assert _lineage(span_2_pushed)["steps"][-1]["details"]["window_spans"] == [1, 2]
    assert _lineage(span_2_pushed, "--version", served)["steps"][-1]["details"]["window_spans"] == [1]


@pytest.fixture(scope="session")
@runs_the_pipeline
def evaluation_changed(span_2_pushed, tmp_path_factory) -> dict:
    """The pushed span 2 stage copied, and run again after a change to the `evaluation` section only ("run")."""
    root = tmp_path_factory.mktemp("evaluation-changed")
    project = next_stage(span_2_pushed, root, new_data=False)
    with open(project["config"]) as f:
        raw = yaml.safe_load(f)
    raw["evaluation"]["thresholds"] = {"auc": 0.69}
    raw["evaluation"]["comparison"] = {"policy": "superiority", "margin": 0.0}
    (root / "config.yaml").write_text(yaml.safe_dump(raw))
    project = {**project, "config": str(root / "config.yaml")}
    return {**project, "served_before": tree_digest(serving_dir(project)), "run": run_pipeline(project)}


def test_an_evaluation_change_compares_with_the_served_version_and_never_pushes_a_duplicate(evaluation_changed):
    result = evaluation_changed["run"]
    assert result.returncode == 0, result.stdout + result.stderr
    states = _run_states(evaluation_changed, printed_run_id(result))
    assert states["Trainer"] == "CACHED" and states["ServingBaseline"] == states["Evaluator"] == "COMPLETE", states
    served = max(int(v) for v in os.listdir(serving_dir(evaluation_changed)))  # the model span_2_pushed pushed
    summary = run_summary(result)
    assert summary["baseline_version"] == summary["comparison"]["served_version"] == served, summary
    assert summary["comparison"]["identical"] is True and summary["identical_to_version"] == served
    assert summary["pushed_version"] is None
    assert tree_digest(serving_dir(evaluation_changed)) == evaluation_changed["served_before"]
    assert f"Pushed:      no: version {served} in the serving folder already holds this model" in result.stdout
    assert "nothing served yet" not in result.stdout


def _inflate_fares(index, row):
    row["fare"] = str(float(row["fare"] or 0) * 10)
    return row


@pytest.fixture(scope="session")
@runs_the_pipeline
def span_3_drifted(span_2_pushed, tmp_path_factory) -> dict:
    """A copy of the pushed span 2 stage with a span 3 of fares x10, and its run ("run"): the drift check stops it."""
    project = _span_3(span_2_pushed, tmp_path_factory.mktemp("span-3-drifted"), _inflate_fares)
    return {**project, "run": run_pipeline(project)}


def test_drifted_span_is_blocked_before_training(span_2_pushed, span_3_drifted):
    project, result = span_3_drifted, span_3_drifted["run"]
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "DriftStop failed" in result.stderr and "'fare'" in result.stderr and "span 3" in result.stderr
    report = re.search(r"^Report: (\S+\.html)$", result.stderr, re.MULTILINE)  # the report of a blocked run too
    assert report and "BLOCKED" in open(report.group(1)).read()
    states = _run_states(project)
    assert (states["DriftGate"], states["DriftStop"]) == ("COMPLETE", "FAILED")  # the verdict is recorded
    assert not {"Transform", "Trainer", "Evaluator", "Pusher"} & set(states), states
    assert tree_digest(serving_dir(project)) == tree_digest(serving_dir(span_2_pushed))
    summary = run_summary(result)  # every measure, blocking or not, with its spans
    assert summary["drift_verdict"] == "rejected" and summary["drift"].startswith("BLOCKED (span 3 against span 2)")
    measured = summary["drift_measurements"]
    assert {"fare", "label"} <= {m["feature"] for m in measured if m["over"] and m["action"] == "block"}
    assert all((m["newest_span"], m["reference_span"]) == (3, 2) for m in measured)
    assert all({"feature", "measure", "value", "threshold", "action"} <= set(m) for m in measured)


def test_accept_drift_accepts_the_rejected_span_on_record(span_3_drifted, tmp_path):
    project = next_stage(span_3_drifted, tmp_path, new_data=False)
    result = run_pipeline(project, "--accept-drift", "fare reform")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = run_summary(result)
    assert summary["drift_verdict"] == "accepted" and summary["spans"] == [1, 2, 3], summary["drift"]
    accepted = summary["drift_acceptance"]
    assert accepted["by"].startswith(getpass.getuser() + "@") and accepted["note"] == "fare reform"
    assert summary["drift"].startswith(f"accepted on request by {accepted['by']} at {accepted['at']}")
    states = _run_states(project, printed_run_id(result))
    assert states["DriftStop"] == "COMPLETE" and states["Trainer"] == "COMPLETE", states


def _corrupt_fares(index, row):
    if index % 50 == 0:
        row["fare"] = "free"  # text in a numeric column
    return row


def test_text_in_a_numeric_column_stops_before_anything_runs(span_2_pushed, tmp_path):
    project = _span_3(span_2_pushed, tmp_path, _corrupt_fares)
    runs_before = len(_store(project).get_contexts_by_type("pipeline_run"))
    result = run_pipeline(project)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "numeric column 'fare'" in result.stderr and "'free' on line 2" in result.stderr, result.stderr
    assert len(_store(project).get_contexts_by_type("pipeline_run")) == runs_before  # nothing executed


def _unknown_payment_types(index, row):
    if index % 20 == 0:
        row["payment_type"] = "Bitcoin"  # outside the schema's domain for 5% of rows: too little to drift
    return row


def test_corrupted_span_stops_before_training_and_leaves_serving_untouched(span_2_pushed, tmp_path):
    project = _span_3(span_2_pushed, tmp_path, _unknown_payment_types)
    result = run_pipeline(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "DataGate failed" in result.stderr and "feature 'payment_type'" in result.stderr, result.stderr
    assert "Bitcoin" in result.stderr, result.stderr
    states = _run_states(project)
    assert states["DataGate"] == "FAILED"
    assert not {"Transform", "Trainer", "Evaluator", "Pusher"} & set(states), states
    assert tree_digest(serving_dir(project)) == tree_digest(serving_dir(span_2_pushed))
