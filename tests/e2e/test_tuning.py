"""Tuning on a tiny budget, through `kfx run`, checked in ML Metadata and in the trained model itself: a cold run
searches (TFX's Tuner) and the Trainer trains with the best values found; a rerun with nothing changed takes the
search from the cache; a new span reuses the last best through a Resolver without searching."""

import json
import os

import pytest
import yaml
from conftest import CONFIG_PATH, SPAN_2_CSV, TAXI_CSV, printed_run_id, run_pipeline, runs_the_pipeline, write_span

from monitoring import hyperparameters
from monitoring import store as store_lib

pytestmark = pytest.mark.e2e

# Neither choice is the configured [128, 64]: the trained model's layers tell which values it was built with.
SPACE = {"hidden_units": [[32], [48, 24]], "learning_rate": [0.001, 0.01]}


@pytest.fixture(scope="module")
@runs_the_pipeline
def tuned_runs(tmp_path_factory) -> dict:
    """A 3,000-row span 1 searched (2 trials of 50 steps), rerun unchanged, then a span 2 added and run."""
    root = tmp_path_factory.mktemp("tuning")
    project = {"root": root, "data": root / "data", "workspace": str(root / "ws"), "config": str(root / "cfg.yaml")}
    project["data"].mkdir()
    write_span(project, 1, TAXI_CSV, 3000)
    with open(CONFIG_PATH) as f:
        raw = yaml.safe_load(f)
    raw["data"].update(
        path=str(project["data"]), schema=os.path.join(os.path.dirname(CONFIG_PATH), "chicago_taxi.schema.pbtxt")
    )
    raw["training"].update(train_steps=100, steps_per_evaluation=50)
    raw["evaluation"]["thresholds"] = {"auc": 0.7}
    raw["tuning"] = {"enabled": True, "trials": 2, "max_seconds": 300, "train_steps": 50, "space": SPACE}
    with open(project["config"], "w") as f:
        yaml.safe_dump(raw, f)
    runs = {"cold": run_pipeline(project), "rerun": run_pipeline(project)}
    write_span(project, 2, SPAN_2_CSV, 3000)
    runs["span_2"] = run_pipeline(project)
    for name, result in runs.items():
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    return {**project, **runs}


def _store(project):
    return store_lib.connect(os.path.join(project["workspace"], "metadata.sqlite"))


def _record(project, result):
    store = _store(project)
    context = store.get_context_by_type_and_name(store_lib.RUN_CONTEXT, printed_run_id(result))
    return store_lib.run_record(store, context, "chicago-taxi")


def _layer_sizes(model_uri: str) -> list[int]:
    """The hidden layer sizes of a trained model, from the shapes of its checkpoint's matrices: the output kernel is
    [last, 1], each hidden kernel [previous, size], back to the first one's input width (the checkpoint's keys carry
    no layer names)."""
    import tensorflow as tf

    variables = tf.train.list_variables(os.path.join(model_uri, "Format-Serving", "variables", "variables"))
    matrices = {tuple(shape) for name, shape in variables if len(shape) == 2 and "optimizer" not in name}
    chain = [1]
    while True:
        inputs = [rows for rows, columns in matrices if columns == chain[0]]
        if not inputs:
            return chain[1:-1]  # without the input width and the output
        (rows,) = inputs
        chain.insert(0, rows)


def test_a_cold_run_searches_and_the_trainer_trains_with_the_best(tuned_runs):
    cold = tuned_runs["cold"]
    assert "tuning:    2 trials, 300 s budget (random, 50 steps each; no earlier search)" in cold.stdout
    record = _record(tuned_runs, cold)
    assert record.states["Tuner"] == "COMPLETE" and record.states["Trainer"] == "COMPLETE"
    (best,) = record.outputs["Tuner"]["best_hyperparameters"]
    with open(os.path.join(best.uri, "best_hyperparameters.txt")) as f:
        values = json.load(f)["values"]
    with open(os.path.join(record.outputs["Tuner"]["tuner_results"][0].uri, "tuner_results.json")) as f:
        trials = json.load(f)
    assert len(trials) == 2 and max(trials, key=lambda t: t["score"])["hidden_units"] == values["hidden_units"]
    used = hyperparameters.used(_store(tuned_runs), printed_run_id(cold))
    expected_units = [int(size) for size in values["hidden_units"].split("-")]
    assert used["source"] == "tuned" and used["tuned_run"] == printed_run_id(cold)
    assert used["hidden_units"] == expected_units and used["learning_rate"] == values["learning_rate"]
    assert used["batch_size"] == 256 and used["dropout"] == 0.2  # not searched: the configured values
    # The model the Trainer exported has the tuned layers, not the configured [128, 64].
    assert _layer_sizes(record.outputs["Trainer"]["model"][0].uri) == expected_units


def test_a_rerun_with_nothing_changed_takes_the_search_from_the_cache(tuned_runs):
    rerun = tuned_runs["rerun"]
    assert "same span as the search of run " + printed_run_id(tuned_runs["cold"]) in rerun.stdout
    states = _record(tuned_runs, rerun).states
    assert states["Tuner"] == "CACHED" and states["Trainer"] == "CACHED"
    used = hyperparameters.used(_store(tuned_runs), printed_run_id(rerun))
    assert used == hyperparameters.used(_store(tuned_runs), printed_run_id(tuned_runs["cold"]))


def test_a_new_span_reuses_the_last_best_without_searching(tuned_runs):
    span_2, cold = tuned_runs["span_2"], printed_run_id(tuned_runs["cold"])
    assert f"tuning:    reusing best hyperparameters of run {cold} (span 1): hidden_units=" in span_2.stdout
    record = _record(tuned_runs, span_2)
    assert "Tuner" not in record.states and record.states["Trainer"] == "COMPLETE"
    assert record.states["LatestBestHyperparameters"] == "COMPLETE"
    used = hyperparameters.used(_store(tuned_runs), printed_run_id(span_2))
    searched = hyperparameters.used(_store(tuned_runs), cold)
    assert used == {**searched, "source": "reused"} and used["tuned_run"] == cold
    assert _layer_sizes(record.outputs["Trainer"]["model"][0].uri) == used["hidden_units"]
    assert hyperparameters.last_search(_store(tuned_runs), "chicago-taxi").run_id == cold


def test_a_changed_search_or_a_span_n_past_the_last_search_searches_again(tuned_runs):
    """What the next run would decide, on the records of the real runs above (nothing more is run)."""
    import dataclasses

    from pipeline import config as config_lib
    from runners.local import tuning

    config = config_lib.load(tuned_runs["config"])
    metadata_path = os.path.join(tuned_runs["workspace"], "metadata.sqlite")
    cold = printed_run_id(tuned_runs["cold"])
    assert tuning.decide(config, metadata_path, 3).tune is False  # a third span: reused, as span 2 was
    more_trials = dataclasses.replace(config, tuning=dataclasses.replace(config.tuning, trials=3))
    decision = tuning.decide(more_trials, metadata_path, 3)
    assert decision.tune and f"the search or the training settings changed since run {cold} (span 1)" in decision.reason
    wider = dataclasses.replace(config, training=dataclasses.replace(config.training, dropout=0.3))
    assert tuning.decide(wider, metadata_path, 3).tune
    every_two = dataclasses.replace(config, tuning=dataclasses.replace(config.tuning, retune_every_spans=2))
    assert tuning.decide(every_two, metadata_path, 2).tune is False  # span 2 is 1 past span 1
    decision = tuning.decide(every_two, metadata_path, 3)
    assert decision.tune and f"span 3 is 2 past run {cold} (span 1), retune_every_spans 2" in decision.reason
    off = dataclasses.replace(config, tuning=dataclasses.replace(config.tuning, enabled=False))
    assert tuning.decide(off, metadata_path, 3) is None
