"""The hyperparameters a run's Trainer used and the newest search, read from ML Metadata.

TFX records what is needed: the Trainer execution's `custom_config` property holds the configured hyperparameters,
and its `hyperparameters` input (when tuning is on) is a HyperParameters artifact whose `best_hyperparameters.txt`
holds the tuned values, made by a Tuner execution (of the same run: "tuned", or of an earlier one that a Resolver
found: "reused").
"""

import dataclasses
import json
import os
from typing import Any

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from models import features
from models.hparams import tuned_values
from monitoring import store as store_lib

TRAINER, TUNER = "Trainer", "Tuner"
HYPERPARAMETERS_TYPE = "HyperParameters"
BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.txt"  # tfx/components/tuner/executor.py
CUSTOM_CONFIG = "custom_config"  # the execution property TFX records a component's custom_config in (JSON)
TRAIN_ARGS = "train_args"  # the Trainer's TrainArgs (JSON), num_steps among them
_DONE = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)


@dataclasses.dataclass(frozen=True)
class Search:
    """One hyperparameter search (a Tuner execution that ran, not one taken from the cache)."""

    run_id: str
    span: int | None  # the newest span of the data it searched on (None: data without spans)
    custom_config: dict[str, Any]  # the Tuner's: features, configured hparams and the search (algorithm, space...)
    best: dict[str, Any]  # the tuned values, hidden_units decoded


def used(store: metadata_store.MetadataStore, run_id: str) -> dict[str, Any]:
    """The hyperparameters the Trainer of run `run_id` trained with: the configured ones overlaid by the tuned ones,
    the number of training steps (`train_steps`, from its `train_args`: the configuration's or --train-steps), plus
    `source` ("set": configured, "tuned": searched in this run, possibly taken from the cache, "reused": the
    best of an earlier run's search) and `tuned_run` (the run whose search found them; None when "set").

    Empty when the run has no Trainer execution (it stopped before training, or the run id is unknown)."""
    context = store.get_context_by_type_and_name(store_lib.RUN_CONTEXT, run_id)
    if context is None:
        return {}
    executions = store.get_executions_by_context(context.id)
    trainers = [e for e in executions if _node(store, e) == TRAINER and e.last_known_state in _DONE]
    if not trainers:
        return {}
    trainer = trainers[-1]
    hparams = dict(_json(trainer, CUSTOM_CONFIG).get(features.HPARAMS_KEY) or {})
    steps = _json(trainer, TRAIN_ARGS).get("num_steps")
    if steps is not None:
        hparams["train_steps"] = steps
    artifact = _input(store, trainer.id, HYPERPARAMETERS_TYPE)
    if artifact is None:
        return {**hparams, "source": "set", "tuned_run": None}
    tuned_here = any(_node(store, e) == TUNER and e.last_known_state in _DONE for e in executions)
    producer = _producer(store, artifact.id)
    hparams.update(best(artifact))
    if "hidden_units" in hparams:
        hparams["hidden_units"] = list(hparams["hidden_units"])
    return {
        **hparams,
        "source": "tuned" if tuned_here else "reused",
        "tuned_run": producer and _run_id(store, producer),
    }


def last_search(store: metadata_store.MetadataStore, pipeline_name: str) -> Search | None:
    """The newest search of `pipeline_name` that completed (the one a Resolver of the latest best finds), or None."""
    node = store.get_context_by_type_and_name(store_lib.NODE_CONTEXT, f"{pipeline_name}.{TUNER}")
    if node is None:
        return None
    searches = [e for e in store.get_executions_by_context(node.id) if e.last_known_state == _DONE[0]]
    if not searches:
        return None
    search = max(searches, key=lambda e: (e.create_time_since_epoch, e.id))
    examples = _input(store, search.id, "Examples")
    tuned = _output(store, search.id, HYPERPARAMETERS_TYPE)
    return Search(
        run_id=_run_id(store, search) or "?",
        span=store_lib.custom(examples, "span") if examples is not None else None,
        custom_config=json.loads(search.custom_properties[CUSTOM_CONFIG].string_value),
        best=best(tuned) if tuned is not None else {},
    )


def describe(values: dict[str, Any]) -> str:
    """Tuned values in one line: "batch_size=128, hidden_units=[64], learning_rate=0.0034"."""
    shown = {key: f"{value:.2g}" if isinstance(value, float) else list(value) if isinstance(value, tuple) else value
             for key, value in sorted(values.items())}  # fmt: skip
    return ", ".join(f"{key}={value}" for key, value in shown.items())


def _json(execution: metadata_store_pb2.Execution, name: str) -> dict[str, Any]:
    """An execution property holding a JSON object, {} when it is missing or not one."""
    if name not in execution.custom_properties:
        return {}
    try:
        value = json.loads(execution.custom_properties[name].string_value)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _node(store: metadata_store.MetadataStore, execution: metadata_store_pb2.Execution) -> str:
    """The node id ("Trainer"): what follows the last "." of "<pipeline>.<node>" (pipeline names hold none)."""
    return store_lib.node_id(store, execution, "").rsplit(".", 1)[-1]


def _events(store: metadata_store.MetadataStore, execution_id: int, kind: int, type_name: str):
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type == kind]
    artifacts = store.get_artifacts_by_id([e.artifact_id for e in events])
    type_ids = {t.id for t in store.get_artifact_types() if t.name == type_name}
    return [a for a in artifacts if a.type_id in type_ids]


def _input(store: metadata_store.MetadataStore, execution_id: int, type_name: str):
    found = _events(store, execution_id, metadata_store_pb2.Event.INPUT, type_name)
    return found[0] if found else None


def _output(store: metadata_store.MetadataStore, execution_id: int, type_name: str):
    found = _events(store, execution_id, metadata_store_pb2.Event.OUTPUT, type_name)
    return found[0] if found else None


def _producer(store: metadata_store.MetadataStore, artifact_id: int) -> metadata_store_pb2.Execution | None:
    """The execution that made the artifact (the first to output it; cached executions output it again)."""
    events = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type == metadata_store_pb2.Event.OUTPUT]
    if not events:
        return None
    executions = store.get_executions_by_id([e.execution_id for e in events])
    made = [e for e in executions if e.last_known_state == _DONE[0]] or executions
    return min(made, key=lambda e: (e.create_time_since_epoch, e.id))


def _run_id(store: metadata_store.MetadataStore, execution: metadata_store_pb2.Execution) -> str | None:
    run_types = {t.id for t in store.get_context_types() if t.name == store_lib.RUN_CONTEXT}
    runs = [c for c in store.get_contexts_by_execution(execution.id) if c.type_id in run_types]
    return runs[0].name if runs else None


def best(artifact: metadata_store_pb2.Artifact) -> dict[str, Any]:
    """The tuned values in a HyperParameters artifact's best_hyperparameters.txt (a KerasTuner config)."""
    path = os.path.join(artifact.uri, BEST_HYPERPARAMETERS_FILE)
    if "://" in artifact.uri:  # gs:// or s3:// on Kubeflow
        import tensorflow as tf

        text = tf.io.gfile.GFile(path).read()
    else:
        with open(path) as f:
            text = f.read()
    return tuned_values(json.loads(text))
