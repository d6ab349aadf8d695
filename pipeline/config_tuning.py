"""The configuration file's `tuning` section: TFX's Tuner (KerasTuner) searches some of `training`'s hyperparameters
before the Trainer, which then trains with the best ones found (models/tuner.py; README "Tuning").

A dimension left out of `space` keeps its `training` value. A search runs in a run whose data or search differ from
the last search's; otherwise the last best hyperparameters are reused (runners/local/tuning.py decides and says why).
"""

import dataclasses
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt

from pipeline.config_types import Count, section

ALGORITHMS = ("random", "bayesian", "hyperband")


@section
class SearchSpace:
    """The hyperparameters searched, over values of `training`'s keys; a key left out keeps its `training` value."""

    learning_rate: tuple[StrictFloat, StrictFloat] | None = Field(
        None, description="[min, max] of Adam's learning rate, sampled on a log scale, e.g. [0.0003, 0.01]."
    )
    hidden_units: tuple[tuple[Count, ...], ...] | None = Field(
        None, min_length=1, description="Choices of hidden layer sizes, e.g. [[128, 64], [256, 128], [64]]."
    )
    dropout: tuple[StrictFloat, StrictFloat] | None = Field(
        None, description="[min, max] of the dropout share, sampled uniformly, e.g. [0.0, 0.4]."
    )
    embedding_dim: tuple[Count, ...] | None = Field(
        None, min_length=1, description="Choices of the categorical embedding size, e.g. [4, 8, 16]."
    )
    batch_size: tuple[Count, ...] | None = Field(
        None, min_length=1, description="Choices of rows per training step, e.g. [128, 256, 512]."
    )

    def __post_init__(self) -> None:
        if self.learning_rate is not None:
            low, high = self.learning_rate
            if not 0 < low < high:
                raise ValueError(f"learning_rate [{low}, {high}] must be [min, max] with 0 < min < max")
        if self.dropout is not None:
            low, high = self.dropout
            if not 0 <= low < high < 1:
                raise ValueError(f"dropout [{low}, {high}] must be [min, max] with 0 <= min < max < 1")
        if any(not units for units in self.hidden_units or ()):
            raise ValueError("hidden_units: every choice needs at least one layer size, e.g. [64]")
        for key in ("hidden_units", "embedding_dim", "batch_size"):
            choices = getattr(self, key) or ()
            if len(set(choices)) != len(choices):
                raise ValueError(f"{key} lists a choice twice; list each once")

    def dimensions(self) -> list[str]:
        """The keys searched, in declaration order."""
        return [field.name for field in dataclasses.fields(self) if getattr(self, field.name) is not None]


@section
class TuningConfig:
    """A hyperparameter search with TFX's Tuner before the Trainer (off by default: a run costs `trials` trainings)."""

    enabled: StrictBool = Field(False, description="Search hyperparameters before training.")
    algorithm: Literal[ALGORITHMS] = Field(
        "random",
        description="random: independent samples; bayesian: Gaussian-process guided; hyperband: short "
        "trainings of many samples, the best ones trained longer.",
    )
    trials: Count = Field(6, description="Most trials (trainings) of one search.")
    max_seconds: Count = Field(
        600, description="Time budget of one search: no trial starts after it (one running trial finishes)."
    )
    train_steps: Count = Field(300, description="Training steps of each trial (the Trainer then trains train_steps).")
    retune_every_spans: StrictInt = Field(
        0,
        ge=0,
        description="Search again once the newest span is this many spans past the last search's; 0: only when the "
        "search (space, algorithm, budget) or the model's features or training settings change.",
    )
    space: SearchSpace = SearchSpace()

    def __post_init__(self) -> None:
        if self.enabled and not self.space.dimensions():
            raise ValueError(
                "enabled but space is empty; give at least one of learning_rate, hidden_units, dropout, "
                "embedding_dim, batch_size"
            )

    def search(self) -> dict[str, Any]:
        """What the Tuner's `tuner_fn` needs: the algorithm, budget and space (JSON-friendly)."""
        return {
            "algorithm": self.algorithm,
            "trials": self.trials,
            "max_seconds": self.max_seconds,
            "train_steps": self.train_steps,
            "space": {key: value for key, value in dataclasses.asdict(self.space).items() if value is not None},
        }
