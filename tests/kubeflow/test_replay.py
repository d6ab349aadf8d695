"""Runs the compiled Kubeflow spec task by task with the real TFX executors (tests/kubeflow/kfp_replay.py).

What this proves: the YAML that `kfx compile` writes is executable as written. Every task's command, args,
`{{$}}` ExecutorInput, parameter constants (with their 2.1 types), artifact types (`instanceSchema`) and the
artifact metadata passed between tasks (custom properties such as `has_model` and `blessed`) drive the real
executors, in the order the DAG allows, from CSV to a pushed SavedModel that answers `serving_default`. The second
run skips the ExampleGen driver, as the open-source KFP backend does, so the static input pattern is exercised
there, and it checks that ServingBaseline hands the served model to the Evaluator as its baseline.

What it does not prove: that the KFP API server, the Argo compiler, the KFP driver/launcher or the cluster accept
and run it (image pulls, pod resources, caching, retries); that MLMD records executions and artifacts; that
artifacts are uploaded to or downloaded from gs:// or s3:// storage (everything here is on local disk), nor that the
image contains the project at /pipeline. The venv's interpreter stands in for the image.
"""

import csv
import itertools
import math
import os
import shutil
import time

import pytest
import yaml
from kfp_replay import kfx_compile, load_spec, replay

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE_CSV = os.path.join(PROJECT, "data", "chicago_taxi", "span-1", "data.csv")
SCHEMA = os.path.join(PROJECT, "configs", "chicago_taxi.schema.pbtxt")
ROWS = 2000
MODEL_NAME = "chicago_taxi"
# One Beam worker in-process: the small data does not pay for process start-up on 2 cores.
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _small_config(tmp_path) -> str:
    """The project's config with a 2,000-row span, short training and thresholds that small data can meet."""
    data_dir = tmp_path / "data" / "span-1"
    data_dir.mkdir(parents=True)
    with open(SOURCE_CSV, encoding="utf-8", newline="") as f:
        rows = list(itertools.islice(csv.reader(f), ROWS + 1))
    with open(data_dir / "data.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    with open(os.path.join(PROJECT, "configs", "chicago_taxi.yaml"), encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    raw["data"].update(path=str(tmp_path / "data"), schema=SCHEMA)
    raw["training"].update(train_steps=200, steps_per_evaluation=50)
    raw["evaluation"].update(slices=["payment_type"], thresholds={"auc": 0.5}, no_regression=["auc"])
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    return str(config)


def _query_serving_default(model_dir: str) -> list[float]:
    """Loads the pushed SavedModel and scores three raw CSV rows through `serving_default`."""
    import tensorflow as tf

    loaded = tf.saved_model.load(model_dir)
    signature = loaded.signatures["serving_default"]
    with open(SOURCE_CSV, encoding="utf-8") as f:
        rows = list(itertools.islice(csv.DictReader(f), 3))
    request = {}
    for name, spec in signature.structured_input_signature[1].items():
        if spec.dtype == tf.string:
            request[name] = tf.constant([row[name] for row in rows])
        else:
            request[name] = tf.constant([float(row[name]) if row[name] else math.nan for row in rows], spec.dtype)
    return signature(**request)["score"].numpy().reshape(-1).tolist()


@pytest.mark.e2e
def test_compiled_spec_runs_and_second_run_uses_served_baseline(tmp_path):
    spec_path = str(tmp_path / "pipeline.yaml")
    serving_dir = tmp_path / "serving"
    argv = [
        f"--config={_small_config(tmp_path)}",
        "--image=localhost/kfx-pipeline:replay-test",
        f"--pipeline-root={tmp_path / 'root'}",
        f"--data-root={tmp_path / 'data' / 'span-1'}",
        f"--serving-dir={serving_dir}",
        f"--schema-path={SCHEMA}",
        *[f"--beam-arg={arg}" for arg in BEAM_ARGS],
        "--allow-local-paths",
        f"--output={spec_path}",
    ]
    assert kfx_compile(argv) == 0
    tasks = set(load_spec(spec_path)["root"]["dag"]["tasks"])
    model_base = serving_dir / MODEL_NAME

    started = time.monotonic()
    first = replay(spec_path, str(tmp_path / "root"), "run-1", run_drivers=True)
    print(f"first replay: {time.monotonic() - started:.0f}s")
    assert set(first) == tasks
    assert first["ServingBaseline"].outputs["baseline_model"][0]["metadata"]["has_model"] == 0
    blessing = first["Evaluator"].outputs["blessing"][0]
    assert blessing["metadata"]["blessed"] == 1
    assert os.path.exists(os.path.join(blessing["uri"], "BLESSED"))
    assert first["Pusher"].outputs["pushed_model"][0]["metadata"]["pushed"] == 1
    versions = os.listdir(model_base)
    assert len(versions) == 1 and versions[0].isdigit()
    assert (model_base / versions[0] / "saved_model.pb").exists()
    scores = _query_serving_default(str(model_base / versions[0]))
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)

    time.sleep(1)  # Pusher names versions by Unix time in seconds
    started = time.monotonic()
    second = replay(spec_path, str(tmp_path / "root"), "run-2", run_drivers=False)  # OSS KFP skips the driver
    print(f"second replay: {time.monotonic() - started:.0f}s")
    assert set(second) == tasks
    baseline = second["Evaluator"].executor_input["inputs"]["artifacts"]["baseline_model"]["artifacts"][0]
    assert baseline["metadata"]["has_model"] == 1
    assert baseline["metadata"]["served_version"] == int(versions[0])
    assert os.path.exists(os.path.join(baseline["uri"], "Format-Serving", "saved_model.pb"))
    # The Evaluator really compared against it (the blessing names the baseline it validated against).
    blessing = second["Evaluator"].outputs["blessing"][0]["metadata"]
    assert blessing["baseline_model"] == baseline["uri"] and blessing["baseline_model_id"] == baseline["name"]
    shutil.rmtree(tmp_path / "root", ignore_errors=True)
