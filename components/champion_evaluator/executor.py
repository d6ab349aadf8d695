"""Executor of the Evaluator: TFX's (TFMA's metrics and value thresholds), then the push policy against the served
model with the confidence interval of the AUC difference, recorded with the blessing (`comparison.json`).

With more eval rows than `max_rows`, TFX's Evaluator is handed a copy of the examples holding only a deterministic
hash sample of them (sampling.py); every metric, threshold and interval is then of the sample, and says so.
"""

import json
import os
from typing import Any

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import io_utils, json_utils, path_utils

from components.atomic_pusher import fingerprint
from components.champion_evaluator import auc_comparison, policy, sampling
from components.champion_evaluator.properties import (
    COMPARISON_FILE,
    COMPARISON_KEY,
    DIFFERENCE_PROPERTY,
    EVAL_ROWS_PROPERTY,
    EVALUATED_ROWS_PROPERTY,
    FINGERPRINT_PROPERTY,
    LOWER_PROPERTY,
    MAX_ROWS_KEY,
    PASSED_PROPERTY,
    POLICY_PROPERTY,
    REASON_PROPERTY,
    SAMPLE_PROPERTY,
    THRESHOLDS_PROPERTY,
    UPPER_PROPERTY,
)
from components.serving_baseline import executor as baseline_executor


class Executor(evaluator_executor.Executor):
    """TFX's Evaluator, except that an empty baseline counts as none (nothing served yet: thresholds only), and
    that a candidate is blessed only if it also passes the push policy against the served model."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        key = standard_component_specs.BASELINE_MODEL_KEY
        served = input_dict.get(key) or []
        if not all(baseline_executor.has_model(a) for a in served):
            input_dict, served = {**input_dict, key: []}, []
        sample_dir = os.path.join(self._get_tmp_dir(), "sampled_examples")
        splits = json_utils.loads(exec_properties.get(standard_component_specs.EXAMPLE_SPLITS_KEY) or "null")
        try:
            examples, sample = sample_examples(
                input_dict[standard_component_specs.EXAMPLES_KEY],
                splits or ["eval"],  # TFX's Evaluator's default
                exec_properties.get(MAX_ROWS_KEY) or 0,
                sample_dir,
            )
            super().Do({**input_dict, standard_component_specs.EXAMPLES_KEY: examples}, output_dict, exec_properties)
        finally:
            if fileio.exists(sample_dir):  # fileio: the tmp dir may be remote (gs://) on Kubeflow
                fileio.rmtree(sample_dir)

        settings = policy.Settings(**json.loads(exec_properties[COMPARISON_KEY]))
        model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        candidate_fingerprint = fingerprint.fingerprint(path_utils.serving_model_path(model.uri))
        served_version, identical = None, False
        if served:
            served_version = served[0].get_int_custom_property(baseline_executor.SERVED_VERSION_PROPERTY)
            served_fingerprint = served[0].get_string_custom_property(baseline_executor.SERVED_FINGERPRINT_PROPERTY)
            identical = candidate_fingerprint == served_fingerprint
        evaluation_uri = artifact_utils.get_single_uri(output_dict[standard_component_specs.EVALUATION_KEY])
        overall, slices = read_differences(evaluation_uri) if served else (None, [])
        decision = policy.decide(settings, overall, slices, served_version, identical)

        blessing = artifact_utils.get_single_instance(output_dict[standard_component_specs.BLESSING_KEY])
        thresholds_met = blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 1
        record = comparison_record(settings, decision, overall, slices, served_version, identical)
        record["sample"] = {"evaluated_rows": sample.evaluated, "eval_rows": sample.total, "method": sample.method}
        io_utils.write_string_file(os.path.join(blessing.uri, COMPARISON_FILE), json.dumps(record, indent=2))
        blessing.set_int_custom_property(THRESHOLDS_PROPERTY, int(thresholds_met))
        blessing.set_int_custom_property(PASSED_PROPERTY, int(decision.passed))
        blessing.set_string_custom_property(REASON_PROPERTY, decision.reason)
        blessing.set_string_custom_property(POLICY_PROPERTY, settings.policy)
        blessing.set_string_custom_property(FINGERPRINT_PROPERTY, candidate_fingerprint)
        blessing.set_int_custom_property(EVALUATED_ROWS_PROPERTY, sample.evaluated)
        blessing.set_int_custom_property(EVAL_ROWS_PROPERTY, sample.total)
        blessing.set_string_custom_property(SAMPLE_PROPERTY, sample.method)
        interval = overall.interval(settings.confidence) if overall is not None else None
        if interval is not None:
            blessing.set_float_custom_property(DIFFERENCE_PROPERTY, overall.difference)
            blessing.set_float_custom_property(LOWER_PROPERTY, interval[0])
            blessing.set_float_custom_property(UPPER_PROPERTY, interval[1])
        if thresholds_met and not decision.passed:
            _refuse(blessing)


def sample_examples(
    examples: list[types.Artifact], splits: list[str], max_rows: int, sample_dir: str
) -> tuple[list[types.Artifact], sampling.Sample]:
    """`examples` itself when no split holds more than `max_rows` rows (0: no bound), else a copy in `sample_dir`
    whose splits hold each split's hash sample of at most `max_rows` rows; with the rows evaluated and in all."""
    original = artifact_utils.get_single_instance(examples)
    copy = standard_artifacts.Examples()
    copy.uri = sample_dir
    copy.split_names = artifact_utils.encode_split_names(splits)
    for name, value in original.mlmd_artifact.custom_properties.items():
        copy.mlmd_artifact.custom_properties[name].CopyFrom(value)
    found = {
        split: sampling.sample_split(
            artifact_utils.get_split_uri(examples, split), artifact_utils.get_split_uri([copy], split), max_rows
        )
        for split in splits
    }
    evaluated, total = sum(s.evaluated for s in found.values()), sum(s.total for s in found.values())
    if evaluated == total:
        return examples, sampling.Sample(evaluated, total)
    for split in (split for split, sample in found.items() if sample.evaluated == sample.total):
        sampling.copy_split(artifact_utils.get_split_uri(examples, split), artifact_utils.get_split_uri([copy], split))
    return [copy], sampling.Sample(evaluated, total)


def _refuse(blessing: types.Artifact) -> None:
    """Turns TFX's BLESSED result into NOT_BLESSED: the file the Pusher's driver may look for, and the property."""
    blessed_file = os.path.join(blessing.uri, constants.BLESSED_FILE_NAME)
    if fileio.exists(blessed_file):
        fileio.remove(blessed_file)
    io_utils.write_string_file(os.path.join(blessing.uri, constants.NOT_BLESSED_FILE_NAME), "")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.NOT_BLESSED_VALUE)


def read_differences(evaluation_uri: str) -> tuple[policy.Difference | None, list[policy.SliceDifference]]:
    """The AUCComparison metric's values per slice, from TFMA's output: the overall one and each feature slice's."""
    overall, slices = None, []
    for metrics in tfma.load_metrics(evaluation_uri):
        values = {
            entry.key.name: entry.value.double_value.value
            for entry in metrics.metric_keys_and_values
            if entry.key.is_diff and entry.key.name in auc_comparison.OUTPUTS and entry.value.HasField("double_value")
        }
        if not values:
            continue
        found = _difference(values)
        slice_key = tfma.slicer.deserialize_slice_key(metrics.slice_key)
        if not slice_key:
            overall = found
        elif len(slice_key) == 1:
            ((feature, value),) = slice_key
            slices.append(policy.SliceDifference(str(feature), _text(value), found))
    return overall, sorted(slices, key=lambda s: (s.feature, s.value))


def _difference(values: dict[str, float]) -> policy.Difference:
    return policy.Difference(
        candidate=policy.finite(values.get(auc_comparison.CANDIDATE_AUC)),
        baseline=policy.finite(values.get(auc_comparison.BASELINE_AUC)),
        difference=policy.finite(values.get(auc_comparison.DIFFERENCE)),
        std_error=policy.finite(values.get(auc_comparison.STD_ERROR)),
        positives=int(values.get(auc_comparison.POSITIVES, 0)),
        negatives=int(values.get(auc_comparison.NEGATIVES, 0)),
    )


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def comparison_record(
    settings: policy.Settings,
    decision: policy.Decision,
    overall: policy.Difference | None,
    slices: list[policy.SliceDifference],
    served_version: int | None,
    identical: bool,
) -> dict[str, Any]:
    """What `comparison.json` holds: the settings, the decision and every difference with its interval."""

    def row(found: policy.Difference) -> dict[str, Any]:
        interval = found.interval(settings.confidence)
        return {
            "candidate": found.candidate,
            "baseline": found.baseline,
            "difference": found.difference,
            "lower": interval[0] if interval else None,
            "upper": interval[1] if interval else None,
            "std_error": found.std_error,
            "rows": found.rows,
            "positives": found.positives,
            "negatives": found.negatives,
        }

    return {
        "metric": "auc",
        "method": "DeLong",
        "policy": settings.policy,
        "margin": settings.margin,
        "confidence": settings.confidence,
        "min_slice_size": settings.min_slice_size,
        "served_version": served_version,
        "identical": identical,
        "passed": decision.passed,
        "reason": decision.reason,
        "overall": row(overall) if overall is not None else None,
        "slices": [
            {"feature": s.feature, "value": s.value, "judged": policy.judged(s, settings), **row(s.found)}
            for s in slices
        ],
    }
