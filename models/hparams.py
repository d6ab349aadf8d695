"""Training hyperparameters, passed from the configuration file to the Trainer as a plain dict."""

import dataclasses
from typing import Any


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
