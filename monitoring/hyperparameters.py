"""The hyperparameters a run's Trainer used, read from ML Metadata: the one place `kfx compare` asks.

Minimal version until tuning lands (branch `tuner` replaces this module with one that overlays the Tuner's best
hyperparameters): the configuration's `training` values as the pipeline handed them to the Trainer, the `hparams` of
its `custom_config` execution property, plus the number of training steps from its `train_args`. A cached Trainer
records the same properties as the execution that did the work.
"""

import json
from typing import Any

from ml_metadata import metadata_store

from models.features import HPARAMS_KEY
from monitoring import store as store_lib

SOURCE = "source"
SET = "set"  # from the configuration file (and --train-steps)
TRAINER = "Trainer"


def used(store: metadata_store.MetadataStore, run_id: str) -> dict[str, Any]:
    """The hyperparameters the Trainer of run `run_id` used, with `source`: "set"; {} when it has no Trainer."""
    context = store.get_context_by_type_and_name(store_lib.RUN_CONTEXT, run_id)
    if context is None:
        return {}
    trainers = [
        execution
        for execution in store.get_executions_by_context(context.id)
        if store_lib.node_id(store, execution, "").rsplit(".", 1)[-1] == TRAINER
    ]
    if not trainers:
        return {}
    properties = trainers[0].custom_properties
    found: dict[str, Any] = {}
    if "custom_config" in properties:
        found.update(_json(properties["custom_config"].string_value).get(HPARAMS_KEY) or {})
    if "train_args" in properties:
        steps = _json(properties["train_args"].string_value).get("num_steps")
        if steps is not None:
            found["train_steps"] = steps
    return {**found, SOURCE: SET} if found else {}


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
