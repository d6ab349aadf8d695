"""The real pipeline end to end on a slice of the taxi data, through the `kfx run` CLI, checked in ML Metadata.

One workspace goes through three runs: a cold run that pushes a model, a rerun that must be fully cached,
and a run on a corrupted new span that must stop before training with the serving directory untouched.
"""

import csv
import os

import pytest
from conftest import run_kfx, tree_digest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

pytestmark = pytest.mark.e2e

STANDARD_COMPONENTS = {
    "CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Trainer", "Evaluator", "Pusher",
}  # fmt: skip
OUR_COMPONENTS = {"ImportSchemaGen", "DataGate", "ServingBaseline"}


def _store(project):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = os.path.join(project["workspace"], "metadata.sqlite")
    return metadata_store.MetadataStore(config)


def _latest_run_states(store, pipeline_name):
    """Node id -> execution state of the most recent pipeline run."""
    runs = [c for c in store.get_contexts_by_type("pipeline_run")]
    run = max(runs, key=lambda c: c.create_time_since_epoch)
    states = {}
    for execution in store.get_executions_by_context(run.id):
        node = next(
            c.name for c in store.get_contexts_by_execution(execution.id) if c.name.startswith(pipeline_name + ".")
        )
        states[node.removeprefix(pipeline_name + ".")] = metadata_store_pb2.Execution.State.Name(
            execution.last_known_state
        )
    return states


def _producer(store, artifact_id):
    events = store.get_events_by_artifact_ids([artifact_id])
    (output,) = [e for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    (execution,) = store.get_executions_by_id([output.execution_id])
    return execution


def _inputs(store, execution):
    events = store.get_events_by_execution_ids([execution.id])
    return {e.path.steps[0].key: e.artifact_id for e in events if e.type == metadata_store_pb2.Event.INPUT}


def _serving_dir(project):
    return os.path.join(project["workspace"], "serving_model", "chicago_taxi")


def _run(project):
    return run_kfx("run", "--config", project["config"], "--workspace", project["workspace"])


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
    # Progress lines, not TFX/Beam logs, reach the console.
    assert "[11/11] Pusher" in first_run.stdout and "absl" not in first_run.stdout + first_run.stderr


def test_lineage_leads_from_the_pushed_model_back_to_the_examples(project, first_run):
    store = _store(project)
    (pushed,) = store.get_artifacts_by_type("PushedModel")
    assert pushed.custom_properties["pushed"].int_value == 1
    chain = []
    execution = _producer(store, pushed.id)
    for step in ("model", "examples", "examples"):
        chain.append(execution.type.rsplit(".", 1)[-1])
        execution = _producer(store, _inputs(store, execution)[step])
    chain.append(execution.type.rsplit(".", 1)[-1])
    assert chain == ["Pusher", "Trainer", "Transform", "CsvExampleGen"]


def test_rerun_with_nothing_changed_is_fully_cached(project, first_run):
    before = tree_digest(_serving_dir(project))
    result = _run(project)
    assert result.returncode == 0, result.stdout + result.stderr
    states = _latest_run_states(_store(project), project["pipeline"])
    assert set(states) == STANDARD_COMPONENTS | OUR_COMPONENTS
    assert set(states.values()) == {"CACHED"}, states
    assert tree_digest(_serving_dir(project)) == before
    assert "reused from an earlier run" in result.stdout


def test_corrupted_span_stops_before_training_and_leaves_serving_untouched(project, first_run):
    before = tree_digest(_serving_dir(project))
    span1 = project["root"] / "data" / "span-1" / "data.csv"
    span2 = project["root"] / "data" / "span-2"
    span2.mkdir()
    with open(span1, newline="") as source, open(span2 / "data.csv", "w", newline="") as target:
        reader, writer = csv.DictReader(source), None
        for index, row in enumerate(reader):
            if writer is None:
                writer = csv.DictWriter(target, fieldnames=reader.fieldnames)
                writer.writeheader()
            if index % 50 == 0:
                row["fare"] = "free"  # text in a FLOAT column
            writer.writerow(row)
    result = _run(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "DataGate failed" in result.stderr and "feature 'fare'" in result.stderr and "FLOAT" in result.stderr
    states = _latest_run_states(_store(project), project["pipeline"])
    assert states["DataGate"] == "FAILED"
    assert not {"Transform", "Trainer", "Evaluator", "Pusher"} & set(states), states
    assert tree_digest(_serving_dir(project)) == before
