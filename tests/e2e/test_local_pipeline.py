"""The real pipeline end to end on slices of the taxi data, through the `kfx` CLI, checked in ML Metadata.

One workspace goes through the life of a continuously trained model, in file order:
  span 1 (cold run, 100 steps, pushed) -> rerun (fully cached) -> `kfx lineage` / `kfx board` ->
  span 2 with a deliberately weak candidate (evaluated on the window, refused: the served model stays) ->
  span 2 trained properly on the window of spans 1-2 (beats the model served, trained shorter on span 1: pushed) ->
  span 3 with fares x10 (drift blocks it before training) -> span 3 corrupted (the data gate blocks it).
"""

import csv
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import REPO, TAXI_CSV, run_kfx, tree_digest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

pytestmark = pytest.mark.e2e

STANDARD_COMPONENTS = {
    "StatisticsGen", "SchemaGen", "ExampleValidator", "DistributionValidator", "Transform", "Trainer", "Evaluator",
    "Pusher", "ImportSchemaGen",
}  # fmt: skip
OUR_COMPONENTS = {"WindowExampleGen", "DriftGate", "DataGate", "ServingBaseline"}
SPAN_2_CSV = os.path.join(os.path.dirname(os.path.dirname(TAXI_CSV)), "span-2", "data.csv")


def _store(project):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = os.path.join(project["workspace"], "metadata.sqlite")
    return metadata_store.MetadataStore(config)


def _latest_run_states(store, pipeline_name):
    """Node id -> execution state of the most recent pipeline run."""
    run = max(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.create_time_since_epoch)
    states = {}
    for execution in store.get_executions_by_context(run.id):
        node = next(
            c.name for c in store.get_contexts_by_execution(execution.id) if c.name.startswith(pipeline_name + ".")
        )
        states[node.removeprefix(pipeline_name + ".")] = metadata_store_pb2.Execution.State.Name(
            execution.last_known_state
        )
    return states


def _serving_dir(project):
    return os.path.join(project["workspace"], "serving_model", "chicago_taxi")


def _run(project, *args):
    return run_kfx("run", "--config", project["config"], "--workspace", project["workspace"], *args)


def _summary(project):
    """The JSON summary the latest `kfx run` wrote next to its log."""
    logs = os.path.join(project["workspace"], "logs")
    newest = max(
        (n for n in os.listdir(logs) if n.endswith(".summary.json")),
        key=lambda n: os.path.getmtime(os.path.join(logs, n)),
    )
    with open(os.path.join(logs, newest)) as f:
        return json.load(f)


def _write_span(project, number, source, rows, change=None):
    """Writes span `number` from the first `rows` rows of `source`, each passed through `change(index, row)`."""
    span = project["root"] / "data" / f"span-{number}"
    span.mkdir(exist_ok=True)
    with open(source, newline="") as f_in, open(span / "data.csv", "w", newline="") as f_out:
        reader = csv.DictReader(f_in)
        writer = csv.DictWriter(f_out, fieldnames=reader.fieldnames)
        writer.writeheader()
        for index, row in enumerate(reader):
            if index == rows:
                break
            writer.writerow(change(index, row) if change else row)


def _lineage(project, *args):
    result = run_kfx("lineage", "--workspace", project["workspace"], "--json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def project(e2e_project):
    return e2e_project


@pytest.fixture(scope="module")
def first_run(e2e_first_run):
    return e2e_first_run


def test_cold_run_executes_every_component_and_pushes(project, first_run):
    states = _latest_run_states(_store(project), project["pipeline"])
    assert set(states) == STANDARD_COMPONENTS | OUR_COMPONENTS
    assert set(states.values()) == {"COMPLETE"}, states
    versions = os.listdir(_serving_dir(project))
    assert len(versions) == 1 and os.path.exists(os.path.join(_serving_dir(project), versions[0], "saved_model.pb"))
    assert f"Pushed:      version {versions[0]}" in first_run.stdout
    assert "Validation:  passed" in first_run.stdout and "Blessed:     yes" in first_run.stdout
    assert "Drift:       not checked: no earlier span" in first_run.stdout
    report = re.search(r"^Report: (\S+\.html)$", first_run.stdout, re.MULTILINE)
    assert report and os.path.isfile(report.group(1)), first_run.stdout
    # Progress lines, not TFX/Beam logs, reach the console.
    assert "[13/13] Pusher" in first_run.stdout and "absl" not in first_run.stdout + first_run.stderr


def test_lineage_leads_from_the_served_version_to_its_span_files_and_commit(project, first_run):
    (version,) = os.listdir(_serving_dir(project))
    found = _lineage(project)
    assert found["version"] == version
    nodes = [step["node"] for step in found["steps"]]
    assert nodes[:4] == ["Pusher", "Evaluator", "Trainer", "Transform"] and nodes[-1] == "WindowExampleGen"
    assert {"StatisticsGen", "ExampleValidator", "DataGate", "DistributionValidator", "DriftGate"} <= set(nodes)
    example_gen = found["steps"][-1]
    assert example_gen["details"]["window_spans"] == "1"
    assert example_gen["details"]["window_files"] == {"1": [str(project["root"] / "data" / "span-1" / "data.csv")]}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert {step["commit"] for step in found["steps"]} == {head}
    assert {step["run_id"] for step in found["steps"]} == {found["steps"][0]["run_id"]}

    unknown = run_kfx("lineage", "--workspace", project["workspace"], "--version", "42")
    assert unknown.returncode == 2 and f"pushed versions: {version}" in unknown.stderr


def test_rerun_with_nothing_changed_is_fully_cached(project, first_run):
    before = tree_digest(_serving_dir(project))
    result = _run(project, "--train-steps", "100", "--span", "1")  # as the first run: span 1 is the newest
    assert result.returncode == 0, result.stdout + result.stderr
    states = _latest_run_states(_store(project), project["pipeline"])
    assert set(states) == STANDARD_COMPONENTS | OUR_COMPONENTS
    assert set(states.values()) == {"CACHED"}, states
    assert tree_digest(_serving_dir(project)) == before
    assert "reused from an earlier run" in result.stdout


def test_board_serves_the_training_curves(project, first_run):
    board = subprocess.Popen(
        [sys.executable, "-m", "kfx.cli", "board", "--workspace", project["workspace"], "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = board.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line + board.stderr.read() if board.poll() is not None else line
        deadline = time.monotonic() + 60
        while True:  # TensorBoard loads event files in the background after it starts listening
            with urllib.request.urlopen(url.group(0) + "data/plugin/scalars/tags", timeout=10) as response:
                tags = json.load(response)
            if "validation" in tags and "epoch_auc" in tags["validation"] or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert {"train", "validation"} <= set(tags), tags
        assert {"epoch_auc", "epoch_loss"} <= set(tags["train"]), tags
        query = "data/plugin/scalars/scalars?run=validation&tag=epoch_auc"
        with urllib.request.urlopen(url.group(0) + query, timeout=10) as response:
            points = json.load(response)
        assert points and all(0.5 < value <= 1.0 for _, _, value in points), points
    finally:
        board.terminate()
        board.wait(timeout=30)


def test_weak_candidate_on_a_new_span_is_refused_and_the_served_model_stays(project, first_run):
    _write_span(project, 2, SPAN_2_CSV, 3000)
    before = tree_digest(_serving_dir(project))
    result = _run(project, "--train-steps", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = _summary(project)
    assert summary["spans"] == [1, 2] and summary["previous_span"] == 1
    assert summary["drift"].startswith("passed"), summary["drift"]
    assert summary["blessed"] is False and summary["pushed_version"] is None
    (version,) = os.listdir(_serving_dir(project))
    assert summary["baseline_version"] == int(version)
    assert any("auc" in reason and f"version {version}" in reason for reason in summary["reasons"]), summary
    assert "Pushed:      no" in result.stdout
    assert tree_digest(_serving_dir(project)) == before


def test_new_span_trained_properly_beats_the_served_model_and_is_pushed(project, first_run):
    (served,) = os.listdir(_serving_dir(project))
    result = _run(project)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = _summary(project)
    assert summary["spans"] == [1, 2] and summary["baseline_version"] == int(served)
    assert summary["metrics"]["auc_diff"] > 0 and summary["blessed"] is True, summary  # min_improvement: auc 0.0
    assert sorted(os.listdir(_serving_dir(project))) == [served, summary["pushed_version"]]
    assert _lineage(project)["steps"][-1]["details"]["window_spans"] == "1,2"
    assert _lineage(project, "--version", served)["steps"][-1]["details"]["window_spans"] == "1"


def _inflate_fares(index, row):
    row["fare"] = str(float(row["fare"] or 0) * 10)
    return row


def test_drifted_span_is_blocked_before_training(project, first_run):
    _write_span(project, 3, SPAN_2_CSV, 3000, _inflate_fares)
    before = tree_digest(_serving_dir(project))
    result = _run(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "DriftGate failed" in result.stderr and "'fare'" in result.stderr and "span 3" in result.stderr
    report = re.search(r"^Report: (\S+\.html)$", result.stderr, re.MULTILINE)  # the report of a blocked run too
    assert report and "BLOCKED" in open(report.group(1)).read()
    states = _latest_run_states(_store(project), project["pipeline"])
    assert states["DriftGate"] == "FAILED"
    assert not {"Transform", "Trainer", "Evaluator", "Pusher"} & set(states), states
    assert tree_digest(_serving_dir(project)) == before


def _corrupt_fares(index, row):
    if index % 50 == 0:
        row["fare"] = "free"  # text in a numeric column
    return row


def test_text_in_a_numeric_column_stops_before_anything_runs(project, first_run):
    _write_span(project, 3, SPAN_2_CSV, 3000, _corrupt_fares)
    runs_before = len(_store(project).get_contexts_by_type("pipeline_run"))
    result = _run(project)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "numeric column 'fare'" in result.stderr and "'free' on line 2" in result.stderr, result.stderr
    assert len(_store(project).get_contexts_by_type("pipeline_run")) == runs_before  # nothing executed


def _unknown_payment_types(index, row):
    if index % 20 == 0:
        row["payment_type"] = "Bitcoin"  # outside the schema's domain for 5% of rows: too little to drift
    return row


def test_corrupted_span_stops_before_training_and_leaves_serving_untouched(project, first_run):
    _write_span(project, 3, SPAN_2_CSV, 3000, _unknown_payment_types)
    before = tree_digest(_serving_dir(project))
    result = _run(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "DataGate failed" in result.stderr and "feature 'payment_type'" in result.stderr, result.stderr
    assert "Bitcoin" in result.stderr, result.stderr
    states = _latest_run_states(_store(project), project["pipeline"])
    assert states["DataGate"] == "FAILED"
    assert not {"Transform", "Trainer", "Evaluator", "Pusher"} & set(states), states
    assert tree_digest(_serving_dir(project)) == before
