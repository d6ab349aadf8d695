"""The `tuning` section: off by default, a search space over `training`'s keys, and mistakes in one line naming the
key (the sweeps of test_config.py cover every key's type and range)."""

import pytest
from conftest import config_error

from pipeline import config as config_lib

SPACE = {
    "learning_rate": [0.0003, 0.01],
    "hidden_units": [[128, 64], [64]],
    "dropout": [0.0, 0.4],
    "embedding_dim": [4, 8],
    "batch_size": [128, 256],
}


def test_off_by_default_and_in_the_shipped_file(raw, taxi_config):
    assert taxi_config.tuning.enabled is False  # the default run does not search
    assert "tuning" not in raw  # the shipped file shows it only as a commented example
    assert config_lib.parse(raw, "cfg.yaml").tuning == taxi_config.tuning


def test_a_search_space_over_training_keys(raw):
    raw["tuning"] = {"enabled": True, "algorithm": "bayesian", "trials": 4, "max_seconds": 300, "space": SPACE}
    tuning = config_lib.parse(raw, "cfg.yaml").tuning
    assert tuning.space.dimensions() == ["learning_rate", "hidden_units", "dropout", "embedding_dim", "batch_size"]
    assert tuning.search() == {
        "algorithm": "bayesian", "trials": 4, "max_seconds": 300, "train_steps": 300,
        "space": {**SPACE, "hidden_units": ((128, 64), (64,)), "learning_rate": (0.0003, 0.01), "dropout": (0.0, 0.4),
                  "embedding_dim": (4, 8), "batch_size": (128, 256)},
    }  # fmt: skip
    raw["tuning"] = {"enabled": True, "space": {"dropout": [0.1, 0.3]}}
    assert config_lib.parse(raw, "cfg.yaml").tuning.search()["space"] == {"dropout": (0.1, 0.3)}


@pytest.mark.parametrize(
    "section, expected",
    [
        ({"enabled": True}, "tuning: enabled but space is empty; give at least one of learning_rate"),
        ({"algorithm": "bayes"}, "tuning.algorithm must be one of 'random', 'bayesian', 'hyperband', got 'bayes'; "
                                 "did you mean 'bayesian'?"),
        ({"trials": 0}, "tuning.trials must be >= 1, got 0"),
        ({"max_seconds": -5}, "tuning.max_seconds must be >= 1, got -5"),
        ({"retune_every_spans": -1}, "tuning.retune_every_spans must be >= 0, got -1"),
        ({"space": {"learning_rate": [0.01, 0.001]}}, "tuning.space: learning_rate [0.01, 0.001] must be [min, max] "
                                                      "with 0 < min < max"),
        ({"space": {"dropout": [0.2, 1.5]}}, "tuning.space: dropout [0.2, 1.5] must be [min, max] with 0 <= min < max"),
        ({"space": {"hidden_units": [[64], []]}}, "tuning.space: hidden_units: every choice needs at least one layer"),
        ({"space": {"batch_size": [128, 128]}}, "tuning.space: batch_size lists a choice twice"),
        ({"space": {"batch_size": []}}, "tuning.space.batch_size must not be empty"),
        ({"space": {"learning_rate": [0.001]}}, "tuning.space.learning_rate"),
        ({"space": {"embedding_dims": [4]}}, "unknown key 'tuning.space.embedding_dims'; did you mean "
                                             "'embedding_dim'?"),
        ({"budget": 60}, "unknown key 'tuning.budget'"),
    ],
)  # fmt: skip
def test_mistakes_name_the_key_and_the_fix(raw, section, expected):
    raw["tuning"] = section
    assert expected in config_error(raw)
