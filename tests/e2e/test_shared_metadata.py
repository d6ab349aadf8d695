"""A team's ML Metadata in a real MariaDB and PostgreSQL (tests/metadata_servers.py): two `kfx run`s of two workspaces
at once on one store, the runs and pushed versions read by another process, and a cached rerun, each checked against
ML Metadata read directly. Small runs: 3,000 rows of span 1 (conftest.small_project), 20 training steps."""

import json
import os
import subprocess
import sys
import time

import pytest
import yaml
from conftest import REPO, RUN_TIMEOUT, database_url, run_kfx, runs_the_pipeline, small_project

from components.window_example_gen import window
from monitoring import store as store_lib
from pipeline import pipeline as pipeline_lib

pytestmark = pytest.mark.e2e
TRAIN_STEPS = "20"
# Read again on every run (NEVER_CACHED), so the reused candidate is evaluated and its push judged again.
REREAD = {*pipeline_lib.NEVER_CACHED, "Evaluator", "Pusher"}


def _start_run(project: dict, workspace: str, metadata: str) -> tuple[subprocess.Popen, float]:
    command = [sys.executable, "-m", "kfx.cli", "run", "--config", project["config"], "--workspace", workspace,
               "--metadata", metadata, "--train-steps", TRAIN_STEPS]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), time.time()


def _wait(started: tuple[subprocess.Popen, float]) -> tuple[subprocess.Popen, str, str, float]:
    process, start = started
    stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
    return process, stdout, stderr, round(time.time() - start, 1)


def _finish(ended: tuple[subprocess.Popen, str, str, float]) -> dict:
    process, stdout, stderr, seconds = ended
    assert process.returncode == 0, stdout + stderr
    run_id = next(line.split()[1] for line in stdout.splitlines() if line.startswith("Run "))
    return {"stdout": stdout, "run_id": run_id, "seconds": seconds}


@pytest.fixture(scope="module", params=["mysql", "postgresql"])
@runs_the_pipeline
def shared_store(request, metadata_servers, tmp_path_factory) -> dict:
    """Two workspaces' runs started together on one new database ("a", "b"), then a's rerun with nothing changed."""
    metadata = database_url(metadata_servers, request.param)
    project = small_project(tmp_path_factory.mktemp(f"shared-{request.param}"))
    with open(project["config"]) as f:
        raw = yaml.safe_load(f)
    raw["evaluation"]["thresholds"] = {"auc": 0.5}  # 20 steps: a weak model, still pushed
    with open(project["config"], "w") as f:
        yaml.safe_dump(raw, f)
    workspaces = {name: str(project["root"] / f"ws-{name}") for name in ("a", "b")}
    started = {name: _start_run(project, workspace, metadata) for name, workspace in workspaces.items()}
    ended = {name: _wait(run) for name, run in started.items()}  # both, before either is judged
    runs = {name: _finish(run) for name, run in ended.items()}
    runs["rerun"] = _finish(_wait(_start_run(project, workspaces["a"], metadata)))
    print(f"\n{request.param}: cold runs {runs['a']['seconds']} s and {runs['b']['seconds']} s at once, "
          f"cached rerun {runs['rerun']['seconds']} s")  # fmt: skip
    return {**project, "kind": request.param, "metadata": metadata, "workspaces": workspaces, "runs": runs}


def _record(metadata: str, pipeline: str, run_id: str) -> store_lib.RunRecord:
    store = store_lib.connect(metadata)
    context = store.get_context_by_type_and_name(store_lib.RUN_CONTEXT, run_id)
    return store_lib.run_record(store, context, pipeline)


def test_two_workspaces_run_at_once_on_one_store_and_each_records_its_own_run(shared_store):
    metadata, pipeline, runs = shared_store["metadata"], shared_store["pipeline"], shared_store["runs"]
    for name in ("a", "b"):
        assert "Pushed:      version " in runs[name]["stdout"], runs[name]["stdout"]
        states = _record(metadata, pipeline, runs[name]["run_id"]).states
        assert set(states.values()) <= {"COMPLETE", "CACHED"} and "Pusher" in states, states
        properties = store_lib.run_properties(store_lib.connect(metadata), runs[name]["run_id"])
        assert properties[store_lib.PIPELINE_ROOT] == shared_store["workspaces"][name] + "/pipeline_root"


def test_a_rerun_with_nothing_changed_is_cached_from_either_workspace(shared_store):
    metadata, pipeline, runs = shared_store["metadata"], shared_store["pipeline"], shared_store["runs"]
    rerun = _record(metadata, pipeline, runs["rerun"]["run_id"])
    assert {node for node, state in rerun.states.items() if state != "CACHED"} == REREAD, rerun.states
    # One store, one cache: the model is the newest of the two trained with the same data, config and code.
    trained = {name: _record(metadata, pipeline, runs[name]["run_id"]).output("Trainer", "model").id for name in "ab"}
    reused = rerun.output("Trainer", "model").id
    assert reused in trained.values()
    if reused == trained["a"]:
        assert "Pushed:      no: version" in runs["rerun"]["stdout"]  # the model a serves already
    else:  # b's model: another model (training is not bit-for-bit repeatable), judged against a's and pushed
        assert "Pushed:      version " in runs["rerun"]["stdout"]


def test_kfx_runs_and_models_read_the_runs_another_process_wrote(shared_store, tmp_path):
    metadata, runs = shared_store["metadata"], shared_store["runs"]
    listed = run_kfx("runs", "--metadata", metadata, "--workspace", str(tmp_path / "elsewhere"), "--json")
    assert listed.returncode == 0, listed.stderr
    outcomes = {run["run_id"]: run["outcome"] for run in json.loads(listed.stdout)}
    assert set(outcomes) == {runs[name]["run_id"] for name in ("a", "b", "rerun")}
    assert outcomes[runs["a"]["run_id"]] == outcomes[runs["b"]["run_id"]] == "pushed"

    serving_a = shared_store["workspaces"]["a"] + "/serving_model"
    models = run_kfx(
        "models", "--metadata", metadata, "--workspace", str(tmp_path), "--serving-dir", serving_a, "--json"
    )
    assert models.returncode == 0, models.stderr
    versions = json.loads(models.stdout)["versions"]
    pushed_to_a = {int(name) for name in os.listdir(os.path.join(serving_a, "chicago_taxi"))}
    assert {version["version"] for version in versions} >= pushed_to_a
    assert {version["run_id"] for version in versions} <= {runs[name]["run_id"] for name in ("a", "b", "rerun")}
    assert all(version["blessed"] is True for version in versions)

    # The two workspaces' runs side by side, from a third place: the same data and configuration, so paired.
    compared = run_kfx(
        "compare", runs["a"]["run_id"], runs["b"]["run_id"], "--metadata", metadata, "--workspace", str(tmp_path),
        "--json",
    )  # fmt: skip
    assert compared.returncode == 0, compared.stdout + compared.stderr
    found = json.loads(compared.stdout)
    assert (found["a"]["run_id"], found["b"]["run_id"]) == (runs["a"]["run_id"], runs["b"]["run_id"])
    record_a = _record(metadata, shared_store["pipeline"], runs["a"]["run_id"])
    assert (
        found["a"]["data_fingerprint"]
        == found["b"]["data_fingerprint"]
        == store_lib.custom(record_a.output("WindowExampleGen", "examples"), window.FINGERPRINT_PROPERTY)
    )
    assert found["metrics"]["pairing"] == "paired" and found["config_note"].startswith("the same configuration")
    assert not [row for row in found["hyperparameters"] if row["changed"]]
