"""What a run did, read back from ML Metadata and the artifacts it recorded: the end-of-run summary.

`summarize` gathers the facts (spans, validation, drift, metrics, the blessing and why, the push); `format_summary`
prints them after `kfx run`, and the HTML report renders the same object.
"""

import dataclasses
import glob
import json
import math
import os
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from components.atomic_pusher import properties as pusher_properties
from components.champion_evaluator import properties as evaluator_properties
from components.drift_gate import policy as drift_policy
from components.window_example_gen import window as window_lib
from monitoring import comparison as comparison_lib
from monitoring.store import RunRecord, custom

# Why a metric can be undefined (NaN in TFMA's output), shown after "n/a".
_UNDEFINED = {
    "auc": "the eval split holds one label class only",
    "precision": "the model predicted no positives",
    "recall": "the eval split has no positive labels",
    "calibration": "the model predicted zero for every row",
}
# How many of the lowest-AUC slices to name per slicing feature (among slices of comparison.min_slice_size).
_WORST_SLICES = 3


def summary_path(log_path: str) -> str:
    """Where `kfx run` writes the summary of the run it logs to `<logs>/run-<time>.log`: beside it."""
    return log_path.removesuffix(".log") + ".summary.json"


def summary_files(logs_dir: str) -> list[str]:
    """The summaries `kfx run` wrote in `logs_dir`, oldest first (their names hold the time)."""
    return sorted(glob.glob(os.path.join(logs_dir, "run-*.summary.json")))


EXAMPLE_GEN, DRIFT_GATE, DRIFT_STOP = "WindowExampleGen", "DriftGate", "DriftStop"


@dataclasses.dataclass
class RunSummary:
    """The facts printed at the end of `kfx run` and written next to its log as JSON."""

    run_id: str
    states: dict[str, str]
    spans: list[int] = dataclasses.field(default_factory=list)
    previous_span: int | None = None
    examples: dict[str, int] = dataclasses.field(default_factory=dict)
    validation: str = "not run"
    drift: str = "not run"
    drift_measurements: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    drift_verdict: str | None = None  # on the newest span: passed, accepted, rejected, not checked
    drift_acceptance: dict[str, str] = dataclasses.field(default_factory=dict)  # by, at, note (accepted on request)
    metrics: dict[str, float | None] = dataclasses.field(default_factory=dict)  # None: undefined (NaN)
    slices: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    blessed: bool | None = None
    reasons: list[str] = dataclasses.field(default_factory=list)
    thresholds_met: bool | None = None
    comparison: dict[str, Any] | None = None  # the Evaluator's comparison.json: policy, AUC difference, CI, decision
    baseline_version: int | None = None
    pushed_version: str | None = None
    pushed_path: str | None = None
    model_fingerprint: str | None = None  # of the model the Pusher pushed, or refused as already served
    identical_to_version: int | None = None  # the version in the serving folder that already holds the same model
    tensorboard_logdir: str | None = None
    evaluation_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def summarize(run: RunRecord) -> RunSummary:
    """Builds the summary of `run` from its artifacts; parts of a run that did not happen stay empty.

    TensorFlow, TFMA and TFX are imported here, not with the module: `format_summary` answers a cached rerun
    (runners/local/rerun.py) without them.
    """
    from components.serving_baseline import executor as baseline_executor

    summary = RunSummary(run.run_id, run.states)
    examples = run.output(EXAMPLE_GEN, "examples")
    if examples is not None:
        window = custom(examples, window_lib.WINDOW_PROPERTY) or ""
        summary.spans = [int(s) for s in window.split(",") if s]
        previous = custom(examples, window_lib.PREVIOUS_PROPERTY)
        summary.previous_span = previous if previous is not None and previous >= 0 else None
    statistics = run.output("StatisticsGen", "statistics")
    if statistics is not None:
        summary.examples = _example_counts(statistics)
    if run.output("ExampleValidator", "anomalies") is not None:
        failed = run.states.get("DataGate") == "FAILED"
        summary.validation = "FAILED: anomalies found (listed above)" if failed else "passed: no anomalies"
    _add_drift(summary, run)
    model_run = run.output("Trainer", "model_run")
    if model_run is not None:
        summary.tensorboard_logdir = model_run.uri
    baseline = run.output("ServingBaseline", "baseline_model")
    if custom(baseline, baseline_executor.HAS_MODEL_PROPERTY):
        summary.baseline_version = custom(baseline, baseline_executor.SERVED_VERSION_PROPERTY)
    evaluation = run.output("Evaluator", "evaluation")
    blessing = run.output("Evaluator", "blessing")
    if evaluation is not None and blessing is not None:
        summary.evaluation_uri = evaluation.uri
        _add_evaluation(summary, evaluation.uri, blessing)
    pushed = run.output("Pusher", "pushed_model")
    summary.model_fingerprint = custom(pushed, pusher_properties.FINGERPRINT_PROPERTY)
    summary.identical_to_version = custom(pushed, pusher_properties.IDENTICAL_VERSION_PROPERTY)
    if custom(pushed, "pushed"):
        summary.pushed_version = custom(pushed, "pushed_version")
        summary.pushed_path = custom(pushed, "pushed_destination")
    return summary


def _add_drift(summary: RunSummary, run: RunRecord) -> None:
    """The verdict on the newest span and every measurement behind it, from DriftGate's drift.json (DriftGate
    completes in every run that reaches it: DriftStop is what stops a blocked one)."""
    from components.drift_gate import executor as drift_executor

    drift = run.output(DRIFT_GATE, drift_executor.DRIFT_KEY)
    if drift is None:
        if run.states.get(DRIFT_GATE) == "FAILED":
            summary.drift = "FAILED: the drift check could not be made (the log says why)"
        return
    report = drift_executor.read_report(drift.uri)
    summary.drift_measurements = report["measurements"]
    summary.drift_verdict = report.get("verdict")  # None in a report written before verdicts were recorded
    if report.get("accepted_by"):
        summary.drift_acceptance = {
            "by": report["accepted_by"],
            "at": report["accepted_at"],
            "note": report["acceptance_note"],
        }
    newest, reference = report["newest_span"], report.get("reference_span", report.get("previous_span"))
    if not custom(drift, drift_executor.CHECKED_PROPERTY):
        summary.drift = "not checked: no earlier span"
        return
    against = f"span {newest} against span {reference}"
    over = [m for m in report["measurements"] if m["over"]]
    blocking = ", ".join(f"{m['feature']} {m['measure']}" for m in over if m["action"] == drift_policy.BLOCK)
    if summary.drift_verdict == drift_policy.REJECTED:
        summary.drift = (
            f"BLOCKED ({against}): {blocking}; span {newest} is recorded as rejected and left out of later windows "
            f"(to accept the change: {drift_executor.ACCEPT_HINT})"
        )
    elif summary.drift_verdict == drift_policy.ACCEPTED:
        accepted = summary.drift_acceptance
        summary.drift = f"accepted on request by {accepted['by']} at {accepted['at']} ({against}): {blocking}"
    elif over:
        names = ", ".join(sorted({m["feature"] for m in over}))
        summary.drift = f"passed with warnings ({against}): {names} past the warning threshold"
    else:
        summary.drift = f"passed ({against}): every measure under its threshold"


def _example_counts(record: metadata_store_pb2.Artifact) -> dict[str, int]:
    from monitoring import artifacts

    statistics = artifacts.statistics(record)
    return {
        split: artifacts.load_statistics(statistics, split).datasets[0].num_examples
        for split in sorted(statistics.splits)
    }


def _add_evaluation(summary: RunSummary, evaluation_uri: str, blessing: metadata_store_pb2.Artifact) -> None:
    import tensorflow as tf
    import tensorflow_model_analysis as tfma

    with tf.io.gfile.GFile(os.path.join(evaluation_uri, "eval_config.json")) as f:
        model_specs = json.load(f)["evalConfig"]["modelSpecs"]
    candidate = next(s.get("name", "") for s in model_specs if not s.get("isBaseline"))
    result = tfma.load_eval_result(evaluation_uri, model_name=candidate or None)
    for slice_key, metrics in result.slicing_metrics:
        values = {name: _metric_value(value) for name, value in metrics[""][""].items() if "doubleValue" in value}
        if not slice_key:
            summary.metrics = values
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
    summary.blessed = bool(custom(blessing, "blessed"))
    validation = tfma.load_validation_result(evaluation_uri)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            summary.reasons.append(_describe_failure(failure))
    _add_comparison(summary, blessing)


def _add_comparison(summary: RunSummary, blessing: metadata_store_pb2.Artifact) -> None:
    """The comparison with the served model and its decision; a refusal joins the reasons not to bless."""
    thresholds_met = custom(blessing, evaluator_properties.THRESHOLDS_PROPERTY)
    summary.thresholds_met = None if thresholds_met is None else bool(thresholds_met)
    summary.comparison = comparison_lib.load(blessing)
    if summary.comparison and not summary.comparison["passed"]:
        summary.reasons.append(summary.comparison["reason"])


def _metric_value(value: dict[str, Any]) -> float | None:
    """A TFMA metric as a finite float, or None when undefined (TFMA's JSON writes NaN as the string "NaN")."""
    try:
        number = float(value["doubleValue"])
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _describe_failure(failure: Any) -> str:
    """A value threshold TFMA found unmet, e.g. "auc 0.8123 is below the minimum 0.9000"."""
    name = failure.metric_key.name
    value = failure.metric_value.double_value.value
    bound = failure.metric_threshold.value_threshold.lower_bound.value
    return f"{name} {_number(value, name=name)} is below the minimum {bound:.4f} (evaluation.thresholds)"


def _number(value: Any, name: str = "", digits: int = 4) -> str:
    """A metric for display; NaN, infinity or a missing value reads "n/a" and why, instead of failing a format."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.{digits}f}"
    return f"n/a ({undefined_reason(name)})"


def undefined_reason(metric: str) -> str:
    """Why `metric` can come out undefined (NaN), in a few words."""
    return _UNDEFINED.get(metric, "undefined on this data")


def format_summary(summary: RunSummary, slice_features: list[str]) -> str:
    """Renders the summary as the short text block printed after a run."""
    lines = [f"Run {summary.run_id}"]
    if summary.spans:
        spans = ", ".join(map(str, summary.spans))
        lines.append(f"  Spans:       {spans} (newest {summary.spans[-1]})")
    if summary.examples:
        shown = [s for s in ("train", "eval") if s in summary.examples]
        counts = ", ".join(f"{split} {summary.examples[split]:,}" for split in shown)
        lines.append(f"  Examples:    {counts}")
    lines.append(f"  Validation:  {summary.validation}")
    lines.append(f"  Drift:       {summary.drift}")
    if summary.metrics:
        shown = ("auc", "binary_accuracy", "precision", "recall", "calibration")
        sampled = comparison_lib.sample_text(summary.comparison)
        lines.append(
            "  Evaluation:  "
            + ", ".join(f"{n} {_number(summary.metrics[n], n)}" for n in shown if n in summary.metrics)
            + (f" {sampled}" if sampled else "")
        )
        lines += _comparison_lines(summary, slice_features)
    lines += _verdict_lines(summary)
    if summary.tensorboard_logdir:
        lines.append("  TensorBoard: kfx board   (training curves of this run)")
    return "\n".join(lines)


def _comparison_lines(summary: RunSummary, slice_features: list[str]) -> list[str]:
    """The AUC against the served model with its CI, then the candidate's AUC and its change per slice."""
    lines = []
    against = comparison_lib.headline(summary.comparison)
    if against:
        lines.append(f"  Compared:    {against}")
    size = comparison_lib.min_slice_size(summary.comparison)
    for feature in slice_features:
        all_rows = summary.slices.get(feature, [])
        rows = [r for r in all_rows if r["auc"] is not None and r["examples"] >= size]
        if rows:
            worst = ", ".join(f"{r['value']} {r['auc']:.3f} (n={r['examples']})" for r in rows[:_WORST_SLICES])
            lines.append(
                f"  AUC by {feature}: {rows[0]['auc']:.3f}..{rows[-1]['auc']:.3f} over {len(rows)} of "
                f"{len(all_rows)} slices (n>={size}, both classes); lowest: {worst}"
            )
        against_served = comparison_lib.slice_line(summary.comparison, feature)
        if against_served:
            lines.append(against_served)
    return lines


def _verdict_lines(summary: RunSummary) -> list[str]:
    """Blessed or not and why, then pushed or not and why."""
    lines = [f"  Blessed:     {blessing_text(summary)}"] if summary.blessed is not None else []
    if summary.pushed_version:
        lines.append(f"  Pushed:      version {summary.pushed_version} -> {summary.pushed_path}")
    elif summary.identical_to_version is not None:
        lines.append(
            f"  Pushed:      no: version {summary.identical_to_version} in the serving folder already holds this "
            f"model (same fingerprint {summary.model_fingerprint}); nothing new to serve"
        )
    elif summary.blessed is not None:
        lines.append("  Pushed:      no (the served model is unchanged)")
    return lines


def blessing_text(summary: RunSummary) -> str:
    """Blessed or not, and why, in one line (the summary's and the report's)."""
    if summary.blessed is None:
        return "no decision: the Evaluator did not run in this run"
    if summary.blessed:
        decided = summary.comparison["reason"] if summary.comparison else "the thresholds alone decided"
        return f"yes: every threshold met; {decided}"
    return "no: " + ("; ".join(summary.reasons) if summary.reasons else "a threshold was not met")
