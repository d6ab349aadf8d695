"""Whether a local run searches hyperparameters (TFX's Tuner) or reuses the best of the last search (a Resolver), and
why, in the line the run header prints.

A run searches when there is no earlier search, when the search or what it searches changed (the Tuner's recorded
custom_config: features, configured hyperparameters, algorithm, budget, space), when its newest span is the last
search's (the Tuner then comes from the cache unless the data changed: a rerun costs nothing), or once the newest
span is `tuning.retune_every_spans` spans past the last search's. Otherwise a new span reuses the last best.
"""

import dataclasses
import json

from pipeline import config as config_lib


@dataclasses.dataclass(frozen=True)
class Decision:
    """`tune`: the run has a Tuner (else a Resolver of the last best); `reason`: the header's line."""

    tune: bool
    reason: str


def decide(config: config_lib.PipelineConfig, metadata: str, span: int | None) -> Decision | None:
    """What a run whose newest span is `span` does (None: tuning is off, the Trainer uses `training`'s values)."""
    tuning = config.tuning
    if not tuning.enabled:
        return None
    budget = (
        f"{tuning.trials} trials, {tuning.max_seconds} s budget ({tuning.algorithm}, {tuning.train_steps} steps each"
    )
    last = _last_search(metadata, config.pipeline_name)
    if last is None:
        return Decision(True, f"{budget}; no earlier search)")
    from pipeline import pipeline as pipeline_lib

    searched = f"run {last.run_id}" + (f" (span {last.span})" if last.span is not None else "")
    same = f"same span as the search of run {last.run_id}: taken from the cache unless the data changed"
    if last.custom_config != json.loads(json.dumps(pipeline_lib.tuner_config(config))):
        return Decision(True, f"{budget}; the search or the training settings changed since {searched})")
    if span is None or last.span is None or span == last.span:
        return Decision(True, f"{budget}; {same})")
    every = tuning.retune_every_spans
    if every and span - last.span >= every:
        return Decision(
            True, f"{budget}; span {span} is {span - last.span} past {searched}, retune_every_spans {every})"
        )
    from monitoring import hyperparameters

    return Decision(False, f"reusing best hyperparameters of {searched}: {hyperparameters.describe(last.best)}")


def _last_search(metadata: str, pipeline_name: str):
    """The newest search recorded in ML Metadata (a path, or a database URL), None before the first run."""
    from monitoring import connection, hyperparameters
    from monitoring import store as store_lib

    if not connection.parse(metadata).exists():
        return None
    return hyperparameters.last_search(store_lib.connect(metadata), pipeline_name)
