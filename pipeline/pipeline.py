"""The pipeline topology: validated data in, a blessed model pushed to the serving directory out."""

import json

from ml_metadata.proto import metadata_store_pb2
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.schema_gen.component import SchemaGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.trainer.component import Trainer
from tfx.components.transform.component import Transform
from tfx.components.tuner.component import Tuner
from tfx.dsl.components.common import resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, trainer_pb2, transform_pb2
from tfx.types import channel, standard_artifacts

from components.atomic_pusher.component import Pusher
from components.champion_evaluator.component import ChampionEvaluator
from components.data_gate.component import DataGate
from components.drift_gate import ledger
from components.drift_gate.component import DriftGate, DriftStop
from components.drift_gate.validator import DistributionValidator
from components.serving_baseline.component import ServingBaseline
from components.window_example_gen import executor as window_executor
from components.window_example_gen.component import WindowExampleGen
from models import features as features_lib
from pipeline import data, drift, evaluation
from pipeline.config import PipelineConfig

DRIFT_SPLITS = [window_executor.NEWEST_SPLIT, window_executor.PREVIOUS_SPLIT]

# User code reaches the components by dotted path: importable wherever the project is installed (locally or in
# the Kubeflow image), so nothing is packaged at compile time.
PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
RUN_FN = "models.trainer.run_fn"
TUNER_FN = "models.tuner.tuner_fn"
TUNER = "Tuner"
BEST_HYPERPARAMETERS = "best_hyperparameters"  # the Tuner's output key (TFX's standard_component_specs)
REUSED_HYPERPARAMETERS = "LatestBestHyperparameters"  # the Resolver's node id, when a run reuses the last search
# Nodes that read state outside the pipeline (the serving folder), so that no input of theirs says when it changed:
# the runners never take them from the cache (a local run's IR, the Kubeflow spec's caching options).
NEVER_CACHED = ("ServingBaseline",)


def create_pipeline(
    config: PipelineConfig,
    *,
    pipeline_root: str,
    data_path: str,
    input_base: str,
    input_pattern: str,
    serving_model_dir: str,
    span: int | None = None,
    drift_plan: ledger.Plan | None = None,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: list[str] | None = None,
    enable_cache: bool = True,
    tune: bool = True,
) -> tfx_pipeline.Pipeline:
    """Builds the TFX pipeline.

    Args:
      config: the validated configuration file (features, label, split, training, thresholds).
      pipeline_root: where every component writes its artifacts.
      data_path: folder of `span-<N>/` folders (or of CSV files, or one CSV file), read when ExampleGen runs.
      input_base, input_pattern: the files TFX's local driver fingerprints for caching, e.g. `span-*/*.csv`.
      serving_model_dir: `<base>/<model name>`; Pusher writes versions `<serving_model_dir>/<unix time>/`.
      span: run as if this were the newest span (default: the highest one present when ExampleGen runs).
      drift_plan: from the drift verdicts in ML Metadata (components/drift_gate/ledger.py): earlier spans rejected
        (left out), the reference span and an acceptance; None: none (on Kubeflow, the window resolver's task
        reads them when the run starts).
      metadata_connection_config: ML Metadata store (SQLite locally; None on Kubeflow, whose launcher records it).
      beam_pipeline_args: arguments of every Beam-based component (runner, workers).
      enable_cache: reuse a component's earlier outputs when its inputs and properties are unchanged.
      tune: with `tuning.enabled`, search hyperparameters in this run (the Tuner); False: the Trainer reuses the
        newest best hyperparameters in ML Metadata (a Resolver; local runs only, OSS Kubeflow runs no Resolver).
        Without `tuning.enabled`, ignored: the Trainer trains with `training`'s values.
    """
    # Transform sees only the feature description, so changing a training parameter keeps its cache valid.
    transform_config = {features_lib.FEATURES_KEY: config.features.to_dict()}
    trainer_config = {**transform_config, features_lib.HPARAMS_KEY: config.training.hparams.to_dict()}
    drift_plan = drift_plan or ledger.Plan()

    # Reads the latest `data.window` spans and splits their rows by hash into train and eval (evaluation on held-out
    # rows of the same spans, so the candidate and the served model are compared on the same recent data); given an
    # earlier span, adds the newest span and its reference as splits of their own for the drift check (none with a
    # single span: nothing to compare), and leaves out spans the drift check rejected. Missing-value tokens are read
    # as missing, rows without a label left out, and a label too thin to train and evaluate stops the run.
    example_gen = WindowExampleGen(
        input_base=input_base,
        input_pattern=input_pattern,
        data_path=data_path,
        window=config.data.window,
        rules=data.rules_of(config),
        span=span,
        excluded=drift_plan.excluded,
        reference=drift_plan.reference,
        output_config=example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[
                    example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=config.data.split.train),
                    example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=config.data.split.eval),
                ]
            )
        ),
    )

    components = [example_gen]
    curated_schema = None
    if config.data.schema:
        # Imports the curated schema (types, domains, presence, ranges) that the data must satisfy.
        schema_importer = ImportSchemaGen(schema_file=config.data.schema)
        curated_schema = schema_importer.outputs["schema"]
        components.append(schema_importer)

    # Computes statistics over the data for validation and for the drift check between spans; with the curated
    # schema, the value shares of its categorical integers too (drift and skew compare them).
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"], schema=curated_schema)

    # Records the schema inferred from the training data, for comparison with the curated one.
    schema_gen = SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True, exclude_splits=DRIFT_SPLITS
    )
    # Measures how far the newest span drifted from its reference (TFDV's comparators); it only records.
    distribution_validator = DistributionValidator(
        statistics=statistics_gen.outputs["statistics"],
        config=drift.validator_config(config),
        include_split_pairs=[tuple(DRIFT_SPLITS)],
    )
    # Adds the changes of the medians and of the label's rate, decides per feature and records the verdict on the
    # newest span in ML Metadata, where later runs find the spans it rejected.
    drift_gate = DriftGate(
        anomalies=distribution_validator.outputs["anomalies"],
        examples=example_gen.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        settings=drift.gate_settings(config),
        acceptance=ledger.acceptance_parameter(drift_plan.acceptance),
    )
    # Stops the run when the newest span was rejected; the served model is left alone.
    drift_stop = DriftStop(drift=drift_gate.outputs["drift"])
    components += [statistics_gen, schema_gen, distribution_validator, drift_gate, drift_stop]
    schema = curated_schema or schema_gen.outputs["schema"]

    # Compares the statistics with the schema and records every anomaly (the reference span passed in its own run).
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema,
        exclude_splits=[window_executor.PREVIOUS_SPLIT],
    )

    # Stops the run when there is any anomaly, so bad data never reaches training or serving. Against a schema
    # inferred from the data itself, only the columns the model reads count: a nearly empty column it never reads
    # (present in one split only) would stop every run.
    model_columns = None if curated_schema else json.dumps(sorted(config.features.required_columns))
    data_gate = DataGate(anomalies=example_validator.outputs["anomalies"], model_columns=model_columns)

    # Builds the feature engineering graph, used unchanged at training and serving time. It writes no transformed
    # copy of the data: the Trainer applies the graph as it reads (a fixed number of steps), which costs less than
    # transforming and writing every row once the data is large.
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema,
        preprocessing_fn=PREPROCESSING_FN,
        custom_config=transform_config,
        disable_statistics=True,
        splits_config=transform_pb2.SplitsConfig(analyze=["train"]),
        materialize=False,
    )
    transform.add_upstream_node(data_gate)
    transform.add_upstream_node(drift_stop)

    # The Tuner's trials read what the Trainer reads.
    training_inputs = {
        "examples": example_gen.outputs["examples"],
        "transform_graph": transform.outputs["transform_graph"],
        "schema": schema,
    }
    hyperparameters, tuning_nodes = None, []
    if config.tuning.enabled and tune:
        # Searches the configured hyperparameters (KerasTuner trials of the same model on the same data, shorter).
        tuner = Tuner(
            tuner_fn=TUNER_FN,
            **training_inputs,
            train_args=trainer_pb2.TrainArgs(num_steps=config.tuning.train_steps),
            custom_config=tuner_config(config),
        ).with_id(TUNER)
        hyperparameters, tuning_nodes = tuner.outputs[BEST_HYPERPARAMETERS], [tuner]
    elif config.tuning.enabled:
        # Reuses the best hyperparameters of the newest search (this pipeline's, in ML Metadata) without searching.
        latest = resolver.Resolver(
            strategy_class=LatestArtifactStrategy,
            hyperparameters=channel.Channel(
                type=standard_artifacts.HyperParameters, producer_component_id=TUNER, output_key=BEST_HYPERPARAMETERS
            ),
        ).with_id(REUSED_HYPERPARAMETERS)
        hyperparameters, tuning_nodes = latest.outputs["hyperparameters"], [latest]

    # Trains the Keras model (with the tuned hyperparameters, if any) and exports it with its serving signatures.
    trainer = Trainer(
        run_fn=RUN_FN,
        **training_inputs,
        train_args=trainer_pb2.TrainArgs(num_steps=config.training.train_steps),
        custom_config=trainer_config,
        hyperparameters=hyperparameters,
    )

    # Finds the model being served now, in every run (never from the cache): the one the candidate is compared with.
    serving_baseline = ServingBaseline(model=trainer.outputs["model"], serving_model_dir=serving_model_dir)

    # Evaluates the candidate (and the served model) overall and per slice on the same eval rows, and blesses it only
    # if it passes every threshold and the push policy against the served model (AUC difference and its interval).
    evaluator = ChampionEvaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=serving_baseline.outputs["baseline_model"],
        eval_config=evaluation.eval_config(config.evaluation, config.features.label.name),
        comparison=evaluation.comparison_settings(config.evaluation),
        example_splits=["eval"],
        max_rows=config.evaluation.max_rows or 0,
    ).with_id("Evaluator")  # TFX's node name, which ML Metadata records, summaries and lineage use

    # Copies a blessed model to <serving_model_dir>/<version>/, the layout TF Serving watches; a version appears
    # complete or not at all, even when the run is killed mid-copy, and a model already there is never copied again.
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    )

    components += [example_validator, data_gate, transform, *tuning_nodes, trainer, serving_baseline, evaluator, pusher]
    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args,
    )


def tuner_config(config: PipelineConfig) -> dict:
    """The Tuner's custom_config: the features, the configured hyperparameters and the search; a search whose
    recorded custom_config differs from this one searched something else (runners/local/tuning.py)."""
    return {
        features_lib.FEATURES_KEY: config.features.to_dict(),
        features_lib.HPARAMS_KEY: config.training.hparams.to_dict(),
        features_lib.SEARCH_KEY: config.tuning.search(),
    }
