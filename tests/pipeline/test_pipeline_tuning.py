"""Where tuning sits in the topology: a Tuner between Transform and Trainer when a run searches, a Resolver of the last
best when it reuses one, neither when tuning is off (the Trainer then has no hyperparameters input)."""

import dataclasses
import json

import pytest

from pipeline import config as config_lib
from pipeline import pipeline as pipeline_lib

SPACE = {"learning_rate": [0.0003, 0.01], "hidden_units": [[64], [128, 64]]}


@pytest.fixture
def tuned_config(raw) -> config_lib.PipelineConfig:
    raw["tuning"] = {"enabled": True, "trials": 2, "train_steps": 20, "space": SPACE}
    return config_lib.parse(raw, "cfg.yaml")


# Where the pipeline would read and write; nothing is read or written when it is only built.
PATHS = {"pipeline_root": "/tmp/root", "data_path": "/tmp/data", "input_base": "/tmp/data"}


def _build(config: config_lib.PipelineConfig, **kwargs) -> dict:
    built = pipeline_lib.create_pipeline(
        config, **PATHS, input_pattern="span-*/*.csv", serving_model_dir="/tmp/serving/m", **kwargs
    )
    return {component.id: component for component in built.components}


def test_a_searching_run_has_a_tuner_whose_best_the_trainer_reads(tuned_config):
    components = _build(tuned_config)
    tuner, trainer = components[pipeline_lib.TUNER], components["Trainer"]
    assert pipeline_lib.REUSED_HYPERPARAMETERS not in components
    assert {node.id for node in tuner.upstream_nodes} == {"ImportSchemaGen", "Transform", "WindowExampleGen"}
    assert tuner in trainer.upstream_nodes
    assert trainer.inputs["hyperparameters"] is tuner.outputs[pipeline_lib.BEST_HYPERPARAMETERS]
    assert tuner.exec_properties["tuner_fn"] == "models.tuner.tuner_fn"
    assert json.loads(tuner.exec_properties["custom_config"]) == json.loads(
        json.dumps(pipeline_lib.tuner_config(tuned_config))
    )
    assert json.loads(tuner.exec_properties["train_args"]) == {"num_steps": 20}


def test_a_reusing_run_resolves_the_latest_best_instead(tuned_config):
    components = _build(tuned_config, tune=False)
    resolver, trainer = components[pipeline_lib.REUSED_HYPERPARAMETERS], components["Trainer"]
    assert pipeline_lib.TUNER not in components
    channel = resolver.raw_inputs["hyperparameters"]
    assert (channel.type_name, channel.producer_component_id, channel.output_key) == (
        "HyperParameters", pipeline_lib.TUNER, pipeline_lib.BEST_HYPERPARAMETERS)  # fmt: skip
    assert trainer.inputs["hyperparameters"] is resolver.outputs["hyperparameters"]


def test_without_tuning_the_trainer_trains_with_the_configured_values(taxi_config):
    for tune in (True, False):
        components = _build(taxi_config, tune=tune)
        assert not {pipeline_lib.TUNER, pipeline_lib.REUSED_HYPERPARAMETERS} & set(components)
        assert "hyperparameters" not in components["Trainer"].inputs


def test_the_search_follows_the_configuration(tuned_config):
    before = pipeline_lib.tuner_config(tuned_config)
    training = dataclasses.replace(tuned_config.training, dropout=0.3)
    assert pipeline_lib.tuner_config(dataclasses.replace(tuned_config, training=training)) != before
    tuning = dataclasses.replace(tuned_config.tuning, trials=3)
    assert pipeline_lib.tuner_config(dataclasses.replace(tuned_config, tuning=tuning)) != before
