"""Training hyperparameters, passed from the configuration file to the Trainer as a plain dict, and the tuned
ones that the Tuner's best_hyperparameters artifact overlays on them."""

import dataclasses
from typing import Any

# The hyperparameters a search may set (pipeline/config_tuning.py's `space`), by their HParams names.
TUNABLE = ("learning_rate", "hidden_units", "dropout", "embedding_dim", "batch_size")


@dataclasses.dataclass(frozen=True)
class HParams:
    """Everything `run_fn` needs besides data; the number of training steps comes from TFX's TrainArgs."""

    seed: int = 42
    batch_size: int = 256
    steps_per_evaluation: int = 100
    validation_rows: int = 50_000
    early_stopping_patience: int = 3
    learning_rate: float = 0.001
    hidden_units: tuple[int, ...] = (128, 64)
    dropout: float = 0.2
    embedding_dim: int = 8
    bucket_embedding_dim: int = 6

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HParams":
        values = dict(data)
        if "hidden_units" in values:
            values["hidden_units"] = tuple(values["hidden_units"])
        return cls(**values)

    def overlay(self, tuned: dict[str, Any]) -> "HParams":
        """These hyperparameters with the tunable ones `tuned` names replaced (its other keys, such as KerasTuner's
        own `tuner/epochs`, are ignored); `tuned` as `tuned_values` returns it."""
        values = {key: value for key, value in tuned.items() if key in TUNABLE}
        if "hidden_units" in values:
            values["hidden_units"] = decode_units(values["hidden_units"])
        return dataclasses.replace(self, **values)


def encode_units(units: tuple[int, ...] | list[int]) -> str:
    """Hidden layer sizes as one KerasTuner choice value (which must be a number or text): (128, 64) -> "128-64"."""
    return "-".join(str(size) for size in units)


def decode_units(value: str | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """The inverse of `encode_units`."""
    if isinstance(value, str):
        return tuple(int(size) for size in value.split("-"))
    return tuple(value)


def tuned_values(best_hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The tunable values of a KerasTuner HyperParameters config (the JSON of TFX's best_hyperparameters artifact,
    as the Trainer's `fn_args.hyperparameters` holds it), hidden_units decoded."""
    values = {key: value for key, value in best_hyperparameters.get("values", {}).items() if key in TUNABLE}
    if "hidden_units" in values:
        values["hidden_units"] = decode_units(values["hidden_units"])
    return values
