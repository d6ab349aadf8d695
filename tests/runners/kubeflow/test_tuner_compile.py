"""`kfx compile` with tuning on: a Tuner task between Transform and Trainer (trials in its own pod), the Trainer
reading its best hyperparameters. test_replay.py replays such a spec (the Tuner searches, the Trainer trains with its
best, a rerun takes both from the cache, a new span searches again)."""

import json

import pytest
import yaml
from kfp_replay import kfx_compile, load_spec
from test_replay import SCHEMA, _small_config

SPACE = {"hidden_units": [[32], [48, 24]], "learning_rate": [0.001, 0.01]}


def _tuned_config(tmp_path) -> str:
    path = _small_config(tmp_path)
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    raw["data"]["window"] = 1
    raw["tuning"] = {"enabled": True, "trials": 2, "max_seconds": 300, "train_steps": 20, "space": SPACE}
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(raw, f)
    return path


@pytest.fixture
def compiled(tmp_path) -> tuple[str, dict]:
    spec_path = str(tmp_path / "pipeline.yaml")
    argv = [
        f"--config={_tuned_config(tmp_path)}",
        "--image=localhost/kfx-pipeline:tuner-test",
        f"--pipeline-root={tmp_path / 'root'}",
        f"--data-root={tmp_path / 'data'}",
        f"--serving-dir={tmp_path / 'serving'}",
        f"--schema-path={SCHEMA}",
        "--allow-local-paths",
        f"--metadata-path={tmp_path / 'kfp-metadata.sqlite'}",
        f"--output={spec_path}",
    ]
    assert kfx_compile(argv) == 0
    return spec_path, load_spec(spec_path)


def test_the_spec_has_a_tuner_task_whose_best_the_trainer_reads(compiled):
    _, spec = compiled
    tasks = spec["root"]["dag"]["tasks"]
    assert sorted(tasks["Tuner"]["dependentTasks"]) == ["ImportSchemaGen", "Transform", "WindowExampleGen"]
    assert "Tuner" in tasks["Trainer"]["dependentTasks"]
    assert tasks["Trainer"]["inputs"]["artifacts"]["hyperparameters"] == {
        "taskOutputArtifact": {"producerTask": "Tuner", "outputArtifactKey": "best_hyperparameters"}
    }
    assert tasks["Tuner"]["cachingOptions"] == {"enableCache": True}
    parameters = tasks["Tuner"]["inputs"]["parameters"]
    assert parameters["tuner_fn"]["runtimeValue"]["constant"] == "models.tuner.tuner_fn"
    search = json.loads(parameters["custom_config"]["runtimeValue"]["constant"])["search"]
    assert search["trials"] == 2 and search["space"]["hidden_units"] == [[32], [48, 24]]
    assert not any("resolver" in executor for executor in spec["deploymentSpec"]["executors"].values())
