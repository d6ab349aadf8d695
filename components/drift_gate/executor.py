"""Executors of DriftGate (measures, decides and records the verdict) and DriftStop (stops the run on a rejection).

The verdict must outlive a blocked run: an execution that fails publishes no output artifact, in TFX as on KFP. So
DriftGate always completes, recording every measurement in drift.json and its verdict on its DriftReport artifact
(what later runs read back, ledger.py), and DriftStop, which Transform waits for, fails when the verdict is
"rejected".
"""

import dataclasses
import json
import os
from typing import Any

import tensorflow as tf
from tensorflow_data_validation.utils import anomalies_util
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.drift_gate import ledger, policy, validator
from components.window_example_gen import window as window_lib

ANOMALIES_KEY, EXAMPLES_KEY, STATISTICS_KEY, DRIFT_KEY = "anomalies", "examples", "statistics", "drift"
SETTINGS_KEY, ACCEPTANCE_KEY = "settings", "acceptance"
NEWEST_SPLIT, PREVIOUS_SPLIT = window_lib.NEWEST_SPLIT, window_lib.PREVIOUS_SPLIT  # WindowExampleGen's drift splits
REPORT_FILE = "drift.json"
# Custom properties of the drift artifact, besides the verdict's (ledger.py).
CHECKED_PROPERTY, BLOCKING_PROPERTY, WARNING_PROPERTY = "checked", "blocking", "warnings"
ACCEPT_HINT = (
    "kfx run --accept-drift [NOTE] (on Kubeflow: kfx submit --param accept_drift=YOUR_NAME), which records who "
    "accepted it and when in ML Metadata"
)


class DriftError(RuntimeError):
    """The newest span drifted past a blocking threshold; the message names each feature and value, and the fix."""


def _label_counts(examples: types.Artifact, split: str) -> policy.LabelCounts | None:
    """What WindowExampleGen counted as it wrote the drift split; None on an artifact from before it counted."""
    labeled, positive = window_lib.LABEL_COUNT_PROPERTIES[split]
    if not examples.has_custom_property(labeled):
        return None
    return policy.LabelCounts(examples.get_int_custom_property(labeled), examples.get_int_custom_property(positive))


def _measure(
    anomalies: types.Artifact, statistics: types.Artifact, examples: types.Artifact, settings: dict[str, Any]
) -> list[policy.Measurement]:
    """Every measurement of the newest span against its reference: TFDV's, the medians', the label's."""
    path = validator.anomalies_path(anomalies.uri, NEWEST_SPLIT, PREVIOUS_SPLIT)
    found = policy.measurements(anomalies_util.load_anomalies_binary(path), settings)
    newest, reference = (
        stats_artifact_utils.load_statistics(statistics, s).proto() for s in (NEWEST_SPLIT, PREVIOUS_SPLIT)
    )
    found += policy.median_measurements(newest, reference, settings)
    label = policy.label_measurement(
        _label_counts(examples, NEWEST_SPLIT), _label_counts(examples, PREVIOUS_SPLIT), settings
    )
    return found + ([label] if label else [])


class Executor(base_executor.BaseExecutor):
    """Writes drift.json (every measurement, its threshold and action) and records the verdict; never stops."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        settings = json.loads(exec_properties[SETTINGS_KEY])
        acceptance = ledger.Acceptance.from_json(exec_properties.get(ACCEPTANCE_KEY) or "")
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        drift = artifact_utils.get_single_instance(output_dict[DRIFT_KEY])
        newest = examples.get_int_custom_property(window_lib.SPAN_PROPERTY)
        reference = examples.get_int_custom_property(window_lib.PREVIOUS_PROPERTY)
        fingerprint = examples.get_string_custom_property(window_lib.SPAN_FINGERPRINT_PROPERTY)
        excluded = examples.get_string_custom_property(window_lib.EXCLUDED_PROPERTY)
        found = []
        if reference >= 0:
            found = _measure(
                artifact_utils.get_single_instance(input_dict[ANOMALIES_KEY]),
                artifact_utils.get_single_instance(input_dict[STATISTICS_KEY]),
                examples,
                settings,
            )
        accepted = acceptance if acceptance is not None and acceptance.span == newest else None
        verdict = policy.verdict(found, reference >= 0, accepted is not None)
        spans = {"newest_span": newest, "reference_span": None if reference < 0 else reference}
        report = {
            "pipeline_name": settings.get("pipeline_name", ""),
            **spans,
            "excluded_spans": [int(s) for s in excluded.split(",") if s],
            "verdict": verdict,
            "span_fingerprint": fingerprint,
            "accepted_by": accepted.by if accepted else "",
            "accepted_at": accepted.at if accepted else "",
            "acceptance_note": accepted.note if accepted else "",
            "measurements": [{**dataclasses.asdict(m), "over": m.over, **spans} for m in found],
        }
        with tf.io.gfile.GFile(os.path.join(drift.uri, REPORT_FILE), "w") as f:
            json.dump(report, f, indent=2)
        drift.set_int_custom_property(CHECKED_PROPERTY, int(reference >= 0))
        drift.set_int_custom_property(BLOCKING_PROPERTY, len(policy.blocking(found)))
        drift.set_int_custom_property(WARNING_PROPERTY, len(policy.warnings(found)))
        drift.set_string_custom_property(ledger.PIPELINE_PROPERTY, report["pipeline_name"])
        drift.set_int_custom_property(ledger.SPAN_PROPERTY, newest)
        drift.set_int_custom_property(ledger.REFERENCE_PROPERTY, reference)
        drift.set_string_custom_property(ledger.VERDICT_PROPERTY, verdict)
        drift.set_string_custom_property(ledger.FINGERPRINT_PROPERTY, fingerprint)
        drift.set_string_custom_property(ledger.ACCEPTED_BY, report["accepted_by"])
        drift.set_string_custom_property(ledger.ACCEPTED_AT, report["accepted_at"])
        drift.set_string_custom_property(ledger.ACCEPTANCE_NOTE, report["acceptance_note"])


def read_report(drift_uri: str) -> dict[str, Any]:
    """DriftGate's drift.json in the DriftReport artifact at `drift_uri`."""
    with tf.io.gfile.GFile(os.path.join(drift_uri, REPORT_FILE)) as f:
        return json.load(f)


def rejection_message(report: dict[str, Any]) -> str:
    """What stopped the run, what happens to the span now, and how to accept the change; one line per measure."""
    newest, reference = report["newest_span"], report["reference_span"]
    blocking = [policy.Measurement(**{k: m[k] for k in _FIELDS}) for m in report["measurements"]]
    blocking = policy.blocking(blocking)
    return (
        f"span {newest} drifted from span {reference} (its reference: the last span that passed this check) past "
        f"{len(blocking)} blocking threshold(s); the served model is unchanged. Span {newest} is recorded as "
        f"rejected in ML Metadata: later runs leave it out of their window and compare the next span with span "
        f"{reference}, with no file to delete. If the change is real, accept it: {ACCEPT_HINT}; or set the feature "
        "to warn (or raise its threshold) under drift: in the configuration.\n  "
        + "\n  ".join(m.describe() for m in blocking)
    )


_FIELDS = [field.name for field in dataclasses.fields(policy.Measurement)]


class StopExecutor(base_executor.BaseExecutor):
    """Raises DriftError when DriftGate rejected the newest span."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        drift = artifact_utils.get_single_instance(input_dict[DRIFT_KEY])
        report = read_report(drift.uri)
        if report.get("verdict") == policy.REJECTED:
            raise DriftError(rejection_message(report))
