"""The Tuner's `tuner_fn`: a KerasTuner search over the hyperparameters the configuration's `tuning.space` names.

Each trial builds the same network as the Trainer (models/model.py) from the configured hyperparameters with the
trial's values overlaid, reads the data through the same tf.Transform graph, and trains at most `train_steps` steps
(TFX's TrainArgs of the Tuner) with the same evaluation interval and early stopping; the objective is the best AUC
on rows held out of the train split (trainer.tuning_datasets): the eval split, which the Evaluator judges the model
on, never chooses hyperparameters. The search stops after `trials` trials or once `max_seconds` have passed (a
running trial is finished, never cut). TFX's Tuner executor then writes the best trial's values as the
`best_hyperparameters` artifact.
"""

import os
import time
from typing import Any

import keras
import keras_tuner
import tensorflow_transform as tft

# TFX's classes from their modules: `from tfx import v1` would import every component and extension (~14 s).
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from models import features, trainer
from models import model as model_lib
from models.hparams import HParams, encode_units

OBJECTIVE = keras_tuner.Objective("val_auc", direction="max")


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """Builds the KerasTuner tuner of the configured algorithm and what its `search` is given (TFX calls both)."""
    spec = features.FeatureConfig.from_dict(fn_args.custom_config[features.FEATURES_KEY])
    base = HParams.from_dict(fn_args.custom_config[features.HPARAMS_KEY])
    search = fn_args.custom_config[features.SEARCH_KEY]
    keras.utils.set_random_seed(base.seed)
    steps_per_epoch, epochs = trainer.evaluation_epochs(base, fn_args.train_steps)
    hypermodel = SearchModel(fn_args, spec, base, search["space"])
    common = {
        "hypermodel": hypermodel,
        "objective": OBJECTIVE,
        "seed": base.seed,
        "directory": os.path.join(fn_args.working_dir, "keras_tuner"),  # the executor's temporary folder
        "project_name": "search",
        "overwrite": True,
        "max_seconds": search["max_seconds"],
    }
    if search["algorithm"] == "hyperband":
        # Short trainings (from one evaluation interval) of many samples, the best ones trained up to `epochs`.
        tuner = _BudgetedHyperband(max_epochs=max(epochs, 2), factor=3, **common)
        tuner.oracle.max_trials = search["trials"]  # Hyperband's own budget is iterations; the config's is trials
    else:
        tuner_class = _BudgetedBayesian if search["algorithm"] == "bayesian" else _BudgetedRandom
        tuner = tuner_class(max_trials=search["trials"], **common)
    fit_kwargs = {
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "callbacks": [trainer.early_stopping(base)],
        "verbose": 2,
    }
    return TunerFnResult(tuner=tuner, fit_kwargs=fit_kwargs)


def search_space(hp: keras_tuner.HyperParameters, space: dict[str, Any], base: HParams) -> dict[str, Any]:
    """Declares the space's hyperparameters in `hp` and returns this trial's values (hidden_units encoded); each
    choice defaults to the configured value when it is one of the choices."""
    values: dict[str, Any] = {}
    if "learning_rate" in space:
        low, high = space["learning_rate"]
        values["learning_rate"] = hp.Float("learning_rate", low, high, sampling="log")
    if "dropout" in space:
        low, high = space["dropout"]
        values["dropout"] = hp.Float("dropout", low, high)
    for key in ("hidden_units", "embedding_dim", "batch_size"):
        if key in space:
            encode = encode_units if key == "hidden_units" else int
            choices = [encode(choice) for choice in space[key]]
            configured = encode(getattr(base, key))
            values[key] = hp.Choice(key, choices, default=configured if configured in choices else None)
    return values


class SearchModel(keras_tuner.HyperModel):
    """The network of models/model.py with a trial's hyperparameters, trained on batches of the trial's size."""

    def __init__(self, fn_args: FnArgs, spec: features.FeatureConfig, base: HParams, space: dict):
        super().__init__(name="binary_classifier")
        self._fn_args, self._spec, self._base, self._space = fn_args, spec, base, space
        self._transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)

    def hparams(self, hp: keras_tuner.HyperParameters) -> HParams:
        return self._base.overlay(search_space(hp, self._space, self._base))

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        vocabulary_size = trainer.vocabulary_size(self._transform_output, self._spec)
        return model_lib.build_model(self._spec, vocabulary_size, self.hparams(hp))

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        train_dataset, scoring_dataset = trainer.tuning_datasets(
            self._fn_args, self._transform_output, self._spec, self.hparams(hp)
        )
        return model.fit(train_dataset, validation_data=scoring_dataset, **kwargs)


class _Budget:
    """Stops a search once `max_seconds` have passed since it began: no trial starts after that."""

    def __init__(self, *args: Any, max_seconds: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._max_seconds = max_seconds
        self._deadline = float("inf")

    def on_search_begin(self) -> None:
        super().on_search_begin()
        self._deadline = time.monotonic() + self._max_seconds

    def pre_create_trial(self) -> None:
        super().pre_create_trial()
        started = len(self.oracle.trials)
        if started and time.monotonic() >= self._deadline:
            # The oracle stops when as many trials as max_trials exist: none more.
            self.oracle.max_trials = started


class _BudgetedRandom(_Budget, keras_tuner.RandomSearch):
    pass


class _BudgetedBayesian(_Budget, keras_tuner.BayesianOptimization):
    pass


class _BudgetedHyperband(_Budget, keras_tuner.Hyperband):
    pass
