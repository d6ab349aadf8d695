"""The tuner's pieces that need no pipeline: the search space declared from the configuration, the tuned values read
back and overlaid on the configured ones, and the time budget that stops a KerasTuner search (the whole Tuner runs in
tests/e2e/test_tuning.py and the Kubeflow replay)."""

import json

import keras
import keras_tuner
import numpy as np

from models import tuner as tuner_lib
from models.hparams import HParams, decode_units, encode_units, tuned_values

SPACE = {"learning_rate": [0.001, 0.01], "hidden_units": [[128, 64], [32]], "batch_size": [128, 256]}


def test_the_space_defaults_to_the_configured_values_and_reads_back_as_hparams():
    hp = keras_tuner.HyperParameters()
    values = tuner_lib.search_space(hp, SPACE, HParams())
    # The configured [128, 64] and 256 are choices, so they are the defaults (a first trial of Bayesian search).
    assert values == {"learning_rate": 0.001, "hidden_units": "128-64", "batch_size": 256}
    assert [p.name for p in hp.space] == ["learning_rate", "hidden_units", "batch_size"]
    assert hp.space[0].sampling == "log"
    # What TFX writes (best_hyperparameters.txt) and the Trainer reads back, KerasTuner's own keys ignored.
    config = json.loads(json.dumps({**hp.get_config(), "values": {**hp.values, "tuner/epochs": 3}}))
    tuned = tuned_values(config)
    assert tuned == {"learning_rate": 0.001, "hidden_units": (128, 64), "batch_size": 256}
    overlaid = HParams(dropout=0.3, hidden_units=(8,)).overlay(tuned)
    assert overlaid == HParams(dropout=0.3, hidden_units=(128, 64), learning_rate=0.001, batch_size=256)
    assert decode_units(encode_units((48, 24))) == (48, 24) and encode_units([64]) == "64"


class _TinyModel(keras_tuner.HyperModel):
    def build(self, hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(hp.Choice("units", [2, 4, 8, 16, 32]))])
        model.compile(optimizer="sgd", loss="mse")
        return model


def _search(tuner_class, tmp_path, trials: int | None = None, **kwargs):
    """A search of _TinyModel on 32 random rows; returns the tuner after it."""
    rows = np.random.default_rng(0).random((32, 2)).astype("float32")
    name = f"{tuner_class.__name__}-{len(list(tmp_path.iterdir()))}"
    search = tuner_class(
        hypermodel=_TinyModel(), objective="val_loss", seed=1, directory=str(tmp_path), project_name=name, **kwargs
    )
    if trials:
        search.oracle.max_trials = trials  # as tuner_fn sets it for Hyperband, whose own budget is iterations
    search.search(rows, rows, validation_data=(rows, rows), epochs=1, verbose=0)
    return search


def test_no_trial_starts_after_the_time_budget(tmp_path):
    # A budget of 0 s: the first trial runs, no other starts.
    assert len(_search(tuner_lib._BudgetedRandom, tmp_path, max_trials=5, max_seconds=0).oracle.trials) == 1
    assert len(_search(tuner_lib._BudgetedRandom, tmp_path, max_trials=3, max_seconds=600).oracle.trials) == 3


def test_hyperband_stops_at_the_configured_number_of_trials(tmp_path):
    search = _search(tuner_lib._BudgetedHyperband, tmp_path, trials=3, max_epochs=4, factor=2, max_seconds=600)
    assert len(search.oracle.trials) == 3


def test_bayesian_search_runs_its_trials(tmp_path):
    search = _search(tuner_lib._BudgetedBayesian, tmp_path, max_trials=2, max_seconds=600)
    assert len(search.oracle.trials) == 2 and search.get_best_hyperparameters()[0].get("units") in (2, 4, 8, 16, 32)
