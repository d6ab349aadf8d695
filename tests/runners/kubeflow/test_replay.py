"""Runs the compiled Kubeflow spec task by task with the real TFX executors (tests/kubeflow/kfp_replay.py).

What this proves: the YAML that `kfx compile` writes is executable as written. Every task's command, args,
`{{$}}` ExecutorInput, parameter constants (with their 2.1 types), the output parameter that carries the window
resolved at run time, artifact types (`instanceSchema`) and the artifact metadata passed between tasks (custom
properties such as `has_model` and `blessed`) drive the real executors, in the order the DAG allows, from CSV to a
pushed SavedModel that answers `serving_default`. ExampleGen's driver is skipped, as the open-source KFP backend
skips it. Replays share a cache keyed as the backend keys it, so the same compiled spec, run as a recurring run
would be, is fully reused when no span was added and trains on the new span when one was, comparing the new model
with the served one. The replays are recorded in ML Metadata as the KFP v2 driver and launcher record them
(kfp_mlmd.py, after kubeflow/pipelines backend/src/v2/metadata/client.go), and `kfx lineage` reads the pushed
version back from those records to the span it was trained on, as `kfx monitor` does on the cluster.

What it does not prove: that the KFP API server, the Argo compiler, the KFP driver/launcher or the cluster accept
and run it (image pulls, pod resources, caching, retries); that a real MLMD service holds what kfp_mlmd.py writes;
that artifacts are uploaded to or downloaded from gs:// or s3:// storage (everything here is on local disk), nor
that the image contains the project at /pipeline. The venv's interpreter stands in for the image.
"""

import csv
import itertools
import json
import math
import os
import shutil
import time

import pytest
import yaml
from conftest import REPO, run_kfx
from kfp_mlmd import KfpMetadataRecorder
from kfp_replay import kfx_compile, load_spec, replay

from components.drift_gate import ledger
from monitoring import lineage, store

SOURCE_CSV = os.path.join(REPO, "data", "chicago_taxi", "span-1", "data.csv")
SCHEMA = os.path.join(REPO, "configs", "chicago_taxi.schema.pbtxt")
ROWS = 1000  # per span
MODEL_NAME = "chicago_taxi"
# Neither choice is the configured [128, 64]: the Trainer's log and the model tell which values it trained with.
TUNING_SPACE = {"hidden_units": [[32], [48, 24]], "learning_rate": [0.001, 0.01]}


def _add_span(data_dir, span: int) -> None:
    """Span N holds every third row of the shipped 2013 span's first 3 * ROWS, from row N - 1: the CSV is grouped (by
    pickup area, company, ...), so contiguous blocks differ in their shares (pickup_community_area by 0.2, which the
    drift check rejects), while interleaved rows are spans of the same traffic."""
    with open(SOURCE_CSV, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        rows = [next(reader), *itertools.islice(reader, span - 1, 3 * ROWS, 3)]
    (data_dir / f"span-{span}").mkdir(parents=True)
    with open(data_dir / f"span-{span}" / "data.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)


def _small_config(tmp_path) -> str:
    """The project's config with 1,000-row spans, a window of 2, short training and thresholds small data meets."""
    _add_span(tmp_path / "data", 1)
    with open(os.path.join(REPO, "configs", "chicago_taxi.yaml"), encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    raw["data"].update(path=str(tmp_path / "data"), schema=SCHEMA, window=2)
    raw["training"].update(train_steps=200, steps_per_evaluation=50)
    # A tolerance no small-data candidate misses: the third replay's push must not hang on the noise of 400 rows.
    raw["evaluation"].update(
        slices=["payment_type"], thresholds={"auc": 0.5}, comparison={"policy": "non_inferiority", "margin": 0.5}
    )
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    return str(config)


def _tuned_config(tmp_path) -> str:
    """The small config with tuning on at a tiny budget: two trials of 20 steps (a Tuner task between Transform and
    the Trainer, trials in its own pod)."""
    path = _small_config(tmp_path)
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    raw["tuning"] = {"enabled": True, "trials": 2, "max_seconds": 300, "train_steps": 20, "space": TUNING_SPACE}
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(raw, f)
    return path


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


def _check_the_trainer_used_the_tuners_best(first: dict) -> None:
    """The Tuner searched the space and the Trainer got its very best_hyperparameters artifact and trained with it."""
    (best,) = first["Tuner"].outputs["best_hyperparameters"]
    with open(os.path.join(best["uri"], "best_hyperparameters.txt")) as f:
        values = json.load(f)["values"]
    assert values["hidden_units"] in ("32", "48-24") and 0.001 <= values["learning_rate"] <= 0.01
    given = first["Trainer"].executor_input["inputs"]["artifacts"]["hyperparameters"]["artifacts"][0]
    assert given["uri"] == best["uri"]
    with open(first["Trainer"].log_path, encoding="utf-8") as f:
        assert "Training with the tuned hyperparameters" in f.read()


def _check_lineage_of_first_push(metadata_path: str, version: str, first: dict, data_dir) -> list[int]:
    """`kfx lineage` on the KFP-style records leads from the push to span 1's file; returns the execution ids."""
    result = run_kfx("lineage", "--metadata-path", metadata_path, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    found = json.loads(result.stdout)
    assert found["version"] == int(version)
    nodes = [step["node"] for step in found["steps"]]
    assert nodes[:3] == ["Pusher", "Evaluator", "Trainer"] and nodes[-1] == "WindowExampleGen"
    assert {"Tuner", "Transform", "StatisticsGen", "ExampleValidator", "DataGate", "DriftGate"} <= set(nodes)
    assert "DistributionValidator" in nodes
    assert {step["run_id"] for step in found["steps"]} == {"run-1"}
    assert found["steps"][1]["details"]["blessed"] is True  # KFP stores it as 1.0; read back as a JSON boolean
    assert found["steps"][0]["commit"] is None  # KFP records no git commit
    example_gen = found["steps"][-1]
    assert example_gen["outputs"]["examples"] == first["WindowExampleGen"].outputs["examples"][0]["uri"]
    assert (example_gen["details"]["span"], example_gen["details"]["window_spans"]) == (1, [1])
    assert example_gen["details"]["window_files"] == {"1": [str(data_dir / "span-1" / "data.csv")]}
    # What `kfx monitor` compares the requests of this version with: this replay's StatisticsGen output.
    statistics = first["StatisticsGen"].outputs["statistics"][0]["uri"]
    assert lineage.training_statistics(store.connect(metadata_path), version).uri == statistics
    return [step["execution_id"] for step in found["steps"]]


@pytest.mark.e2e
def test_recurring_runs_reuse_everything_until_a_new_span_arrives_then_train_on_it(tmp_path):
    spec_path = str(tmp_path / "pipeline.yaml")
    serving_dir = tmp_path / "serving"
    metadata_path = str(tmp_path / "kfp-metadata.sqlite")
    argv = [
        f"--config={_tuned_config(tmp_path)}",
        "--image=localhost/kfx-pipeline:replay-test",
        f"--pipeline-root={tmp_path / 'root'}",
        f"--data-root={tmp_path / 'data'}",
        f"--serving-dir={serving_dir}",
        f"--schema-path={SCHEMA}",
        "--allow-local-paths",
        f"--metadata-path={metadata_path}",  # the window resolver reads the drift verdicts where KFP records runs
        f"--output={spec_path}",
    ]
    assert kfx_compile(argv) == 0
    tasks = set(load_spec(spec_path)["root"]["dag"]["tasks"])
    model_base = serving_dir / MODEL_NAME
    cache = {}  # the backend's cache, shared by the recurring runs of one compiled spec
    # The cluster's MLMD, as the KFP driver and launcher write it (the real MLMD library refuses what it would refuse,
    # e.g. an artifact given to one task under two input names).
    recorder = KfpMetadataRecorder(metadata_path)

    started = time.monotonic()
    first = replay(spec_path, str(tmp_path / "root"), "run-1", run_drivers=False, cache=cache, metadata=recorder)
    print(f"first replay: {time.monotonic() - started:.0f}s")
    assert set(first) == tasks and not any(run.cached for run in first.values())
    assert first["WindowExampleGen"].outputs["examples"][0]["metadata"]["window_spans"] == "1"
    assert first["ServingBaseline"].outputs["baseline_model"][0]["metadata"]["has_model"] == 0
    assert first["Pusher"].outputs["pushed_model"][0]["metadata"]["pushed"] == 1
    _check_the_trainer_used_the_tuners_best(first)
    (version,) = os.listdir(model_base)
    scores = _query_serving_default(str(model_base / version))
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    first_chain = _check_lineage_of_first_push(metadata_path, version, first, tmp_path / "data")

    # The same spec again with no new data: the window is resolved and the served model read again (never cached),
    # so the reused candidate is evaluated against it: it is that very model, and is not pushed a second time.
    second = replay(spec_path, str(tmp_path / "root"), "run-2", run_drivers=False, cache=cache, metadata=recorder)
    rerun = {"resolve-data-window", "ServingBaseline", "Evaluator", "Pusher"}
    assert {name for name, run in second.items() if not run.cached} == rerun
    assert (
        second["Evaluator"]
        .outputs["blessing"][0]["metadata"]["comparison_reason"]
        .startswith(f"the candidate is served version {version} itself")
    )
    pushed = second["Pusher"].outputs["pushed_model"][0]["metadata"]
    assert (pushed["pushed"], pushed["identical_to_version"]) == (0, int(version))
    assert os.listdir(model_base) == [version]
    # The cached executions of run-2 point back at run-1's, which did the work: the lineage is unchanged.
    chain = lineage.served_lineage(store.connect(metadata_path), version)
    assert [step.execution_id for step in chain.steps] == first_chain

    _add_span(tmp_path / "data", 2)
    time.sleep(1)  # Pusher names versions by Unix time in seconds
    started = time.monotonic()
    third = replay(spec_path, str(tmp_path / "root"), "run-3", run_drivers=False, cache=cache, metadata=recorder)
    print(f"third replay: {time.monotonic() - started:.0f}s")
    assert not third["WindowExampleGen"].cached and not third["Trainer"].cached
    assert not third["Tuner"].cached  # a new span is a new Transform output: Kubeflow searches again (no Resolver)
    examples = third["WindowExampleGen"].outputs["examples"][0]["metadata"]
    assert (examples["span"], examples["window_spans"], examples["previous_span"]) == (2, "1,2", 1)
    assert third["DriftGate"].outputs["drift"][0]["metadata"]["checked"] == 1
    # The verdicts as KFP recorded them (numbers as doubles), read back as the window resolver reads them.
    verdicts = ledger.read(ledger.connect(metadata_path), "chicago-taxi").verdicts
    assert {span: (v.verdict, v.reference) for span, v in verdicts.items()} == {
        1: ("not checked", None),
        2: ("passed", 1),
    }
    assert all(not v.accepted_by for v in verdicts.values())  # accept_drift defaults to "": nothing accepted
    baseline = third["Evaluator"].executor_input["inputs"]["artifacts"]["baseline_model"]["artifacts"][0]
    assert baseline["metadata"]["has_model"] == 1 and baseline["metadata"]["served_version"] == int(version)
    assert os.path.exists(os.path.join(baseline["uri"], "Format-Serving", "saved_model.pb"))
    # The Evaluator really compared against it (the blessing names the baseline it validated against), with the
    # interval of the AUC difference, and the Pusher followed its blessing.
    blessing = third["Evaluator"].outputs["blessing"][0]["metadata"]
    assert blessing["baseline_model"] == baseline["uri"] and blessing["baseline_model_id"] == baseline["name"]
    lower, difference, upper = (blessing[f"auc_difference{end}"] for end in ("_lower", "", "_upper"))
    assert lower < difference < upper and blessing["comparison_policy"] == "non_inferiority"
    assert blessing["comparison_passed"] == 1 and blessing["blessed"] == blessing["thresholds_met"]
    with open(os.path.join(third["Evaluator"].outputs["blessing"][0]["uri"], "comparison.json")) as f:
        assert json.load(f)["served_version"] == int(version)
    assert third["Pusher"].outputs["pushed_model"][0]["metadata"]["pushed"] == blessing["blessed"]
    assert set(lineage.pushed_versions(store.connect(metadata_path))) == set(os.listdir(model_base))
    shutil.rmtree(tmp_path / "root", ignore_errors=True)
