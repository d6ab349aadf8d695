"""What a run did, read back from ML Metadata and the artifacts it recorded: the end-of-run summary."""

import dataclasses
import json
import os
from typing import Any

import tensorflow_model_analysis as tfma
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_data_validation.utils import stats_util

from components.serving_baseline import executor as baseline_executor

_RUN_CONTEXT = "pipeline_run"
_NODE_CONTEXT = "node"
# How many of the lowest-AUC slices to name per slicing feature, among slices at least this large.
_WORST_SLICES = 3
_MIN_SLICE_EXAMPLES = 30


@dataclasses.dataclass
class RunRecord:
    """One pipeline run in MLMD: each node's execution and its output artifacts by key."""

    run_id: str
    states: dict[str, str]
    outputs: dict[str, dict[str, list[metadata_store_pb2.Artifact]]]

    def output(self, node_id: str, key: str) -> metadata_store_pb2.Artifact | None:
        artifacts = self.outputs.get(node_id, {}).get(key)
        return artifacts[0] if artifacts else None


def connect(metadata_path: str) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def latest_run(store: metadata_store.MetadataStore, pipeline_name: str, since_ms: int = 0) -> RunRecord | None:
    """The most recent run of `pipeline_name` started at or after `since_ms` (epoch milliseconds), or None."""
    runs = [
        context
        for context in store.get_contexts_by_type(_RUN_CONTEXT)
        if context.create_time_since_epoch >= since_ms
        and any(parent.name == pipeline_name for parent in store.get_parent_contexts_by_context(context.id))
    ]
    if not runs:
        return None
    run = max(runs, key=lambda c: c.create_time_since_epoch)
    executions = store.get_executions_by_context(run.id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    artifact_ids = sorted({e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT})
    artifacts = {a.id: a for a in store.get_artifacts_by_id(artifact_ids)}
    states, outputs = {}, {}
    node_ids = {}
    for execution in executions:
        node_ids[execution.id] = _node_id(store, execution, pipeline_name)
        states[node_ids[execution.id]] = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
    for event in events:
        if event.type == metadata_store_pb2.Event.OUTPUT:
            node_outputs = outputs.setdefault(node_ids[event.execution_id], {})
            node_outputs.setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
    return RunRecord(run.name, states, outputs)


def _node_id(store: metadata_store.MetadataStore, execution: Any, pipeline_name: str) -> str:
    node_types = {t.id for t in store.get_context_types() if t.name == _NODE_CONTEXT}
    for context in store.get_contexts_by_execution(execution.id):
        if context.type_id in node_types:
            return context.name.removeprefix(f"{pipeline_name}.")
    return execution.type.rsplit(".", 1)[-1]


def _custom(artifact: metadata_store_pb2.Artifact | None, name: str) -> Any:
    if artifact is None or name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return getattr(value, value.WhichOneof("value"))


@dataclasses.dataclass
class RunSummary:
    """The facts printed at the end of `kfx run` and written next to its log as JSON."""

    run_id: str
    states: dict[str, str]
    examples: dict[str, int] = dataclasses.field(default_factory=dict)
    validation: str = "not run"
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    slices: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    blessed: bool | None = None
    reasons: list[str] = dataclasses.field(default_factory=list)
    baseline_version: int | None = None
    pushed_version: str | None = None
    pushed_path: str | None = None
    tensorboard_logdir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def summarize(run: RunRecord) -> RunSummary:
    """Builds the summary of `run` from its artifacts; parts of a run that did not happen stay empty."""
    summary = RunSummary(run.run_id, run.states)
    statistics = run.output("StatisticsGen", "statistics")
    if statistics is not None:
        summary.examples = _example_counts(statistics.uri)
    anomalies = run.output("ExampleValidator", "anomalies")
    if anomalies is not None:
        failed = run.states.get("DataGate") == "FAILED"
        summary.validation = "FAILED: anomalies found (listed above)" if failed else "passed: no anomalies"
    model_run = run.output("Trainer", "model_run")
    if model_run is not None:
        summary.tensorboard_logdir = model_run.uri
    baseline = run.output("ServingBaseline", "baseline_model")
    if _custom(baseline, baseline_executor.HAS_MODEL_PROPERTY):
        summary.baseline_version = _custom(baseline, baseline_executor.SERVED_VERSION_PROPERTY)
    evaluation = run.output("Evaluator", "evaluation")
    blessing = run.output("Evaluator", "blessing")
    if evaluation is not None and blessing is not None:
        _add_evaluation(summary, evaluation.uri, bool(_custom(blessing, "blessed")))
    pushed = run.output("Pusher", "pushed_model")
    if _custom(pushed, "pushed"):
        summary.pushed_version = _custom(pushed, "pushed_version")
        summary.pushed_path = _custom(pushed, "pushed_destination")
    return summary


def _example_counts(statistics_uri: str) -> dict[str, int]:
    counts = {}
    for entry in sorted(os.listdir(statistics_uri)):
        path = os.path.join(statistics_uri, entry, "FeatureStats.pb")
        if entry.startswith("Split-") and os.path.exists(path):
            counts[entry.removeprefix("Split-")] = stats_util.load_stats_binary(path).datasets[0].num_examples
    return counts


def _add_evaluation(summary: RunSummary, evaluation_uri: str, blessed: bool) -> None:
    with open(os.path.join(evaluation_uri, "eval_config.json")) as f:
        model_specs = json.load(f)["evalConfig"]["modelSpecs"]
    candidate = next(s.get("name", "") for s in model_specs if not s.get("isBaseline"))
    result = tfma.load_eval_result(evaluation_uri, model_name=candidate or None)
    for slice_key, metrics in result.slicing_metrics:
        values = {name: value.get("doubleValue") for name, value in metrics[""][""].items()}
        if not slice_key:
            summary.metrics = {k: v for k, v in values.items() if v is not None}
            continue
        ((feature, feature_value),) = slice_key
        # AUC is undefined on a slice holding one class only (TFMA reports 0 there).
        one_class = values.get("mean_label") in (0.0, 1.0)
        summary.slices.setdefault(feature, []).append(
            {
                "value": feature_value,
                "auc": None if one_class else values.get("auc"),
                "examples": int(values.get("example_count") or 0),
            }
        )
    for rows in summary.slices.values():
        rows.sort(key=lambda row: (row["auc"] is None, row["auc"] if row["auc"] is not None else 0.0))
    summary.blessed = blessed
    validation = tfma.load_validation_result(evaluation_uri)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            summary.reasons.append(_describe_failure(failure))


def _describe_failure(failure: Any) -> str:
    name = failure.metric_key.name
    value = failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    if failure.metric_key.is_diff:
        return f"{name} changed by {value:+.4f} against the served model (no regression allowed)"
    bound = threshold.value_threshold.lower_bound.value
    return f"{name} {value:.4f} is below the minimum {bound:.4f}"


def format_summary(summary: RunSummary, slice_features: list[str]) -> str:
    """Renders the summary as the short text block printed after a run."""
    lines = [f"Run {summary.run_id}"]
    if summary.examples:
        splits = sorted(summary.examples, key=lambda split: (split != "train", split))
        counts = ", ".join(f"{split} {summary.examples[split]:,}" for split in splits)
        lines.append(f"  Examples:    {counts}")
    lines.append(f"  Validation:  {summary.validation}")
    if summary.metrics:
        shown = ("auc", "binary_accuracy", "precision", "recall", "calibration")
        lines.append(
            "  Evaluation:  "
            + ", ".join(f"{name} {summary.metrics[name]:.4f}" for name in shown if name in summary.metrics)
        )
        if "auc_diff" in summary.metrics:
            change = summary.metrics["auc_diff"]
            lines.append(f"               auc {change:+.4f} against served version {summary.baseline_version}")
        for feature in slice_features:
            all_rows = summary.slices.get(feature, [])
            rows = [r for r in all_rows if r["auc"] is not None and r["examples"] >= _MIN_SLICE_EXAMPLES]
            if rows:
                worst = ", ".join(f"{r['value']} {r['auc']:.3f} (n={r['examples']})" for r in rows[:_WORST_SLICES])
                lines.append(
                    f"  AUC by {feature}: {rows[0]['auc']:.3f}..{rows[-1]['auc']:.3f} over {len(rows)} of "
                    f"{len(all_rows)} slices (n>={_MIN_SLICE_EXAMPLES}, both classes); lowest: {worst}"
                )
    if summary.blessed is not None:
        if summary.blessed:
            against = (
                f"; no regression against served version {summary.baseline_version}"
                if summary.baseline_version
                else "; nothing served yet, so thresholds only"
            )
            lines.append(f"  Blessed:     yes (all thresholds met{against})")
        else:
            lines.append("  Blessed:     no: " + "; ".join(summary.reasons or ["thresholds not met"]))
    if summary.pushed_version:
        cached = " (reused from an earlier run: nothing changed)" if summary.states.get("Pusher") == "CACHED" else ""
        lines.append(f"  Pushed:      version {summary.pushed_version} -> {summary.pushed_path}{cached}")
    elif summary.blessed is not None:
        lines.append("  Pushed:      no (the served model is unchanged)")
    if summary.tensorboard_logdir:
        lines.append(f"  TensorBoard: tensorboard --logdir {summary.tensorboard_logdir}")
    return "\n".join(lines)
